"""Real-format distributions written by the tests themselves (standard library only, nothing downloaded).

An sdist is a ``.tar.gz`` whose single top folder holds ``PKG-INFO``; a wheel is a zip holding
``<name>-<version>.dist-info/`` with ``METADATA``, ``WHEEL`` and ``RECORD`` (every file's sha256, RECORD's own
line empty), plus one module. Index servers read names and versions from these files (pypiserver and dumb-pypi
from the file name, devpi-client from the metadata), so both must agree, as they do in real uploads.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Kind = Literal["sdist", "wheel"]
_FIXED_TIME = (2024, 1, 2, 3, 4, 5)  # reproducible archives: the same file has the same hash every time
_FIXED_MTIME = 1704164645


def wheel_escape(name: str) -> str:
    """The name as a wheel file name spells it: every run of ``-``, ``_`` or ``.`` becomes one ``_``."""
    return re.sub(r"[-_.]+", "_", name)


def normalized(name: str) -> str:
    """The PEP 503 normalized project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Distribution:
    """One file of a release: the project name as its author spelled it, the raw version and the format."""

    name: str
    version: str
    kind: Kind = "sdist"

    @property
    def filename(self) -> str:
        """The file name an upload tool would give it (sdists keep the author's spelling, as older tools did)."""
        if self.kind == "wheel":
            return f"{wheel_escape(self.name)}-{self.version}-py3-none-any.whl"
        return f"{self.name}-{self.version}.tar.gz"

    def metadata(self) -> str:
        """The core metadata (PKG-INFO / METADATA) of this release."""
        return (
            "Metadata-Version: 2.1\n"
            f"Name: {self.name}\n"
            f"Version: {self.version}\n"
            "Summary: A distribution written by thoth package-releases-job's conformance tests\n"
            "License: Apache-2.0\n"
            "Requires-Python: >=3.8\n"
        )

    def write(self, folder: Path) -> Path:
        """Write the file into ``folder`` and return its path."""
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / self.filename
        path.write_bytes(self._wheel() if self.kind == "wheel" else self._sdist())
        return path

    def _sdist(self) -> bytes:
        top = f"{self.name}-{self.version}"
        module = f"{wheel_escape(self.name).lower()}.py"
        members = {
            f"{top}/PKG-INFO": self.metadata().encode(),
            f"{top}/{module}": b'"""Nothing but a version."""\n',
            f"{top}/setup.cfg": f"[metadata]\nname = {self.name}\nversion = {self.version}\n".encode(),
        }
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as archive:
            for member, content in members.items():
                info = tarfile.TarInfo(member)
                info.size, info.mtime, info.mode = len(content), _FIXED_MTIME, 0o644
                archive.addfile(info, io.BytesIO(content))
        return buffer.getvalue()

    def _wheel(self) -> bytes:
        dist_info = f"{wheel_escape(self.name)}-{self.version}.dist-info"
        files = {
            f"{wheel_escape(self.name).lower()}.py": b'"""Nothing but a version."""\n',
            f"{dist_info}/METADATA": self.metadata().encode(),
            f"{dist_info}/WHEEL": (
                b"Wheel-Version: 1.0\nGenerator: thoth-conformance-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
            ),
        }
        record = "".join(f"{path},sha256={_record_hash(content)},{len(content)}\n" for path, content in files.items())
        files[f"{dist_info}/RECORD"] = (record + f"{dist_info}/RECORD,,\n").encode()
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for path, content in files.items():
                archive.writestr(zipfile.ZipInfo(path, date_time=_FIXED_TIME), content)
        return buffer.getvalue()


def _record_hash(content: bytes) -> str:
    """The hash as RECORD writes it: urlsafe base64 of the sha256, without padding."""
    return base64.urlsafe_b64encode(hashlib.sha256(content).digest()).rstrip(b"=").decode()


def sha256_of(path: Path) -> str:
    """The hex sha256 of a file, as indexes publish it in ``#sha256=`` fragments."""
    return hashlib.sha256(path.read_bytes()).hexdigest()
