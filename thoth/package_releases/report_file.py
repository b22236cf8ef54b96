"""The ``--report`` file: checked before the run does any work, written atomically after it."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from thoth.package_releases.report import RunReport

# The report holds no secret; it is readable like any file the job writes.
_MODE = 0o644


def report_path_problem(path: Path) -> str | None:
    """Return why the report cannot be written at path (one line), or None when it can.

    The folder must exist and let the job create a file in it (the report is written next to its final
    name, then renamed); path must not be a folder.
    """
    if path.is_dir():
        return "it is a folder"
    folder = path.parent
    if not folder.is_dir():
        return f"the folder {str(folder)!r} does not exist"
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=f".{path.name}.", suffix=".check"):
            pass
    except OSError as error:
        return f"cannot create a file in {str(folder)!r}: {error.strerror or error}"
    return None


def write_report(report: RunReport, path: Path) -> None:
    """Write the report's JSON to path atomically: a temporary file in the same folder, then a rename.

    A reader never sees a half-written report, and when path is a symbolic link the link itself is
    replaced: the file it points to is left untouched. Raises OSError.
    """
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
            report.write_json(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, _MODE)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
