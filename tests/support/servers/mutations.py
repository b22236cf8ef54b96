"""Changes of the synthetic index's releases beyond publishing (issue 13): yanks, files, removals, hashes.

:class:`ReleaseMutations` is mixed into :class:`~tests.support.servers.index.IndexServer`. Each mutation is one
change, as on a real index: it bumps the global serial, sets the project's serial and Last-Modified and drops the
cached pages, so the next request sees a new ETag (a client's ``If-None-Match`` no longer matches). The listing
changes only when the set of projects does (a project removed or restored). The same mutations are served as
``POST /_control/<name>`` endpoints (:data:`CONTROL_MUTATIONS`) when the server's control endpoints are on.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from tests.support.servers.handler import Handler
from tests.support.servers.pages import Project, ReleaseChanges, Yanked, normalize, release_files, wheel_filename

DEFAULT_WHEEL_TAG = "cp311-cp311-manylinux_2_17_x86_64"
"""The platform tag of a wheel added without a file name (a release gaining a platform, as TensorFlow's do)."""


class ReleaseMutations:
    """Yank/unyank, add a file, remove/restore a version or a project, change a file's sha256."""

    if TYPE_CHECKING:  # provided by IndexServer
        _lock: threading.RLock
        _projects: dict[str, Project]
        _removed_projects: dict[str, Project]
        _serial: int
        _modified: float

        def _bump(self) -> int: ...

        def _invalidate(self, key: str) -> None: ...

        def remove_project(self, name: str) -> int: ...

    # -- model ------------------------------------------------------------------------------------

    def release_files(self, name: str, version: str) -> list[tuple[str, str, Yanked]]:
        """(filename, sha256, yanked) of every file of a release as its page lists it now."""
        with self._lock:
            project = self._projects[normalize(name)]
            if version not in project.versions:
                raise KeyError(f"{name} {version}")
            return [(filename, digest, yanked) for filename, digest, _, yanked in release_files(project, version)]

    def yank(self, name: str, version: str, reason: str | None = None) -> int:
        """Yank every file of a release (PEP 592), with a reason or none; return the new serial."""
        with self._lock:
            project, changes = self._release(name, version)
            changes.yanked[version] = reason
            return self._changed(project)

    def unyank(self, name: str, version: str) -> int:
        """Make a yanked release's files installable again; return the new serial."""
        with self._lock:
            project, changes = self._release(name, version)
            if version not in changes.yanked:
                raise ValueError(f"{name} {version} is not yanked")
            del changes.yanked[version]
            return self._changed(project)

    def add_file(self, name: str, version: str, filename: str | None = None, sha256: str | None = None) -> int:
        """Add a file to a release (default: a ``cp311`` manylinux wheel; its digest that of its name).

        Return the new serial; :meth:`release_files` tells the file's name and digest.
        """
        with self._lock:
            project, changes = self._release(name, version)
            filename = filename or wheel_filename(project.name, version, DEFAULT_WHEEL_TAG)
            if any(entry[0] == filename for entry in release_files(project, version)):
                raise ValueError(f"{name} {version} already has {filename}")
            changes.added.setdefault(version, []).append(filename)
            if sha256 is not None:
                changes.sha256[filename] = sha256
            return self._changed(project)

    def change_sha256(self, name: str, filename: str, sha256: str | None = None) -> int:
        """Replace a file's sha256 (default: a new digest, different at every change); return the new serial."""
        with self._lock:
            project = self._project(name)
            known = [v for v in project.versions if any(e[0] == filename for e in release_files(project, v))]
            if not known:
                raise KeyError(f"{name} has no file {filename}")
            changes = self._changes(project)
            changes.sha256[filename] = sha256 or hashlib.sha256(f"{filename}#{self._serial}".encode()).hexdigest()
            return self._changed(project)

    def remove_version(self, name: str, version: str) -> int:
        """Remove a release from its project's page (its files with it); return the new serial."""
        with self._lock:
            project, changes = self._release(name, version)
            changes.removed[version] = (project.versions[version], list(project.versions).index(version))
            del project.versions[version]
            return self._changed(project)

    def restore_version(self, name: str, version: str) -> int:
        """Put a removed release back, in its place of publication order; return the new serial."""
        with self._lock:
            project = self._project(name)
            changes = self._changes(project)
            if version not in changes.removed:
                raise KeyError(f"{name} {version} was not removed")
            serial, position = changes.removed.pop(version)
            ordered = list(project.versions.items())
            ordered.insert(position, (version, serial))
            project.versions = dict(ordered)
            return self._changed(project)

    def restore_project(self, name: str) -> int:
        """Bring back a project removed by ``remove_project``, as it was; return the new serial."""
        key = normalize(name)
        with self._lock:
            if key not in self._removed_projects:
                raise KeyError(f"{name} was not removed")
            if key in self._projects:
                raise ValueError(f"project {name!r} already exists")
            project = self._projects[key] = self._removed_projects.pop(key)
            return self._changed(project)

    # -- helpers ----------------------------------------------------------------------------------

    def _project(self, name: str) -> Project:
        project = self._projects.get(normalize(name))
        if project is None:
            raise KeyError(name)
        return project

    @staticmethod
    def _changes(project: Project) -> ReleaseChanges:
        if project.changes is None:
            project.changes = ReleaseChanges()
        return project.changes

    def _release(self, name: str, version: str) -> tuple[Project, ReleaseChanges]:
        project = self._project(name)
        if version not in project.versions:
            raise KeyError(f"{name} {version}")
        return project, self._changes(project)

    def _changed(self, project: Project) -> int:
        serial = self._bump()
        project.serial = serial
        project.modified = self._modified
        self._invalidate(normalize(project.name))
        return serial

    # -- control endpoints ------------------------------------------------------------------------

    def _control_mutation(self, handler: Handler, name: str) -> None:
        """Answer ``POST /_control/<name>``: run the mutation with the JSON body's arguments; reply the serial."""
        try:
            body = handler.record.json()
            if not isinstance(body, Mapping):
                raise TypeError("the body must be a JSON object")
            serial = CONTROL_MUTATIONS[name](self, body)
        except KeyError as error:
            handler.reply_json(404, {"error": f"not found: {error}"})
            return
        except (ValueError, TypeError) as error:
            handler.reply_json(400, {"error": str(error)})
            return
        handler.reply_json(200, {"serial": serial})


def _text(body: Mapping[str, Any], key: str, *, required: bool = True) -> Any:
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{key!r} must be a string")
    return value


CONTROL_MUTATIONS: dict[str, Callable[[ReleaseMutations, Mapping[str, Any]], int]] = {
    "yank": lambda s, b: s.yank(_text(b, "project"), _text(b, "version"), _text(b, "reason", required=False)),
    "unyank": lambda s, b: s.unyank(_text(b, "project"), _text(b, "version")),
    "add-file": lambda s, b: s.add_file(
        _text(b, "project"),
        _text(b, "version"),
        _text(b, "filename", required=False),
        _text(b, "sha256", required=False),
    ),
    "change-sha256": lambda s, b: s.change_sha256(
        _text(b, "project"), _text(b, "filename"), _text(b, "sha256", required=False)
    ),
    "remove-version": lambda s, b: s.remove_version(_text(b, "project"), _text(b, "version")),
    "restore-version": lambda s, b: s.restore_version(_text(b, "project"), _text(b, "version")),
    "remove-project": lambda s, b: s.remove_project(_text(b, "project")),
    "restore-project": lambda s, b: s.restore_project(_text(b, "project")),
}
"""``POST /_control/<name>`` -> the mutation it runs, with the JSON body's ``project``, ``version``, ... ."""
