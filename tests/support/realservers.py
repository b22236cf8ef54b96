"""Real package index servers, installed as development dependencies and started by the tests on 127.0.0.1.

* :class:`PypiServer`: ``pypi-server run`` over a folder of distributions (PEP 503 HTML), with its fallback
  either disabled or pointed at another local server;
* :class:`StaticIndex`: a tree written by ``dumb-pypi`` (rebuilt incrementally, as its users do) and served by
  ``python -m http.server``, which answers ``If-Modified-Since`` with ``304``;
* :class:`DevpiServer`: ``devpi-server --offline-mode`` with one user index filled by ``devpi upload``.

Every server gets a free port, is waited for until it answers, logs requests to a file the tests read
(:meth:`RealServer.requested_paths`) and is always stopped (terminate, then kill) by its context manager.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

from tests.support.app import REPO_ROOT, job_environment
from tests.support.distributions import Distribution, sha256_of

HOST = "127.0.0.1"
BIN = Path(sys.executable).parent
# devpi's own venv (`make devpi`): devpi-common 4 needs a newer packaging than the job's venv pins.
DEVPI_TOOL_BIN = REPO_ROOT / ".tools" / "devpi" / "bin"
START_TIMEOUT = 60.0
JOB_ACCEPT = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.1"


class ServerUnavailable(RuntimeError):
    """A server could not be started here; the message names it and says why."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class Probe:
    """What a server answered to one GET sent with the job's ``Accept`` header."""

    url: str
    status: int
    content_type: str
    location: str | None

    @property
    def media_type(self) -> str:
        """The content type without its parameters, lower-cased."""
        return self.content_type.split(";", 1)[0].strip().lower()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def probe(url: str, accept: str = JOB_ACCEPT) -> Probe:
    """GET ``url`` without following redirects and return the status and content type it answered with."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())
    request = urllib.request.Request(url, headers={"Accept": accept})
    try:
        with opener.open(request, timeout=10) as response:
            response.read()
            return Probe(url, response.status, response.headers.get("Content-Type", ""), None)
    except urllib.error.HTTPError as error:
        return Probe(url, error.code, error.headers.get("Content-Type", ""), error.headers.get("Location"))


def page_text(url: str) -> str:
    """The body of a page answered with 200 (no proxy, no redirect followed)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())
    with opener.open(url, timeout=10) as response:
        body: bytes = response.read()
        return body.decode("utf-8", errors="replace")


class RealServer:
    """A server process: started with :meth:`start`, stopped by :meth:`stop` or by leaving its ``with`` block."""

    name = "server"

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.base = f"http://{HOST}:{self.port}"
        self.log_path = folder / f"{self.name}.log"
        self.started_in: float | None = None  # seconds from spawning the process to its first answer
        self._process: subprocess.Popen[bytes] | None = None

    # -- to be provided by each server ---------------------------------------------------------------------

    def command(self) -> list[str]:
        raise NotImplementedError

    @property
    def ready_url(self) -> str:
        return self.base + "/"

    def request_lines(self) -> list[tuple[str, str]]:
        """(method, path) of every request the server logged, in order."""
        raise NotImplementedError

    # -- lifecycle -----------------------------------------------------------------------------------------

    def start(self) -> Self:
        """Spawn the server and wait until it answers HTTP; ServerUnavailable when it dies or is too slow."""
        began = time.monotonic()
        with (self.folder / f"{self.name}.out").open("wb") as output:
            self._process = subprocess.Popen(
                self.command(),
                cwd=self.folder,
                env=job_environment({"PYTHONWARNINGS": "ignore"}),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        while time.monotonic() - began < START_TIMEOUT:
            if self._process.poll() is not None:
                raise ServerUnavailable(f"{self.name} exited with {self._process.returncode}: {self._last_output()}")
            try:
                probe(self.ready_url)
            except OSError:
                time.sleep(0.05)
                continue
            self.started_in = time.monotonic() - began
            return self
        self.stop()
        raise ServerUnavailable(f"{self.name} did not answer within {START_TIMEOUT:.0f} s: {self._last_output()}")

    def stop(self) -> None:
        """Terminate the server (kill it after 10 s)."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def _last_output(self) -> str:
        path = self.folder / f"{self.name}.out"
        text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
        lines = [line for line in text.splitlines() if line.strip()]
        return lines[-1] if lines else "(no output)"

    def requested_paths(self) -> list[str]:
        """The path of every request the server logged so far."""
        return [path for _, path in self.request_lines()]


class PypiServer(RealServer):
    """``pypi-server run`` over ``folder/packages``; ``fallback_url`` None disables its redirect to PyPI."""

    name = "pypiserver"

    def __init__(self, folder: Path, *, fallback_url: str | None = None) -> None:
        super().__init__(folder)
        self.packages = folder / "packages"
        self.packages.mkdir(exist_ok=True)
        self.fallback_url = fallback_url

    @property
    def url(self) -> str:
        """The simple API root, as an operator registers it."""
        return f"{self.base}/simple"

    def command(self) -> list[str]:
        fallback = ["--fallback-url", self.fallback_url] if self.fallback_url else ["--disable-fallback"]
        return [
            str(BIN / "pypi-server"),
            "run",
            "-v",
            "--log-file",
            str(self.log_path),
            "-p",
            str(self.port),
            "-i",
            HOST,
            *fallback,
            str(self.packages),
        ]

    def add(self, *distributions: Distribution) -> None:
        """Publish files (pypiserver lists its folder on every request, so they show at once)."""
        for distribution in distributions:
            distribution.write(self.packages)

    def request_lines(self) -> list[tuple[str, str]]:
        text = self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""
        return [
            (method, re.sub(r"^https?://[^/]+", "", url))
            for method, url in re.findall(r"<LocalRequest: (\w+) (\S+)>", text)
        ]


class StaticIndex(RealServer):
    """A dumb-pypi tree under ``folder/site`` (files in ``site/pool``) served by ``python -m http.server``."""

    name = "static"

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.site = folder / "site"
        self.pool = self.site / "pool"
        self.pool.mkdir(parents=True, exist_ok=True)
        self._entries: dict[str, dict[str, str]] = {}
        self._lists = 0

    @property
    def url(self) -> str:
        return f"{self.base}/simple"

    def command(self) -> list[str]:
        server = [sys.executable, "-u", "-m", "http.server", "--bind", HOST]
        return [*server, "--directory", str(self.site), str(self.port)]

    def publish(self, *distributions: Distribution, yanked: Mapping[str, str] | None = None) -> None:
        """Add files and rebuild the tree: incrementally (only the changed projects' pages) after the first build.

        ``yanked`` maps a file name to its yank reason (dumb-pypi writes it as ``data-yanked``).
        """
        for distribution in distributions:
            path = distribution.write(self.pool)
            entry = {"filename": path.name, "hash": f"sha256={sha256_of(path)}"}
            if yanked and path.name in yanked:
                entry["yanked_reason"] = yanked[path.name]
            self._entries[path.name] = entry
        previous = self.folder / f"packages-{self._lists}.json" if self._lists else None
        self._lists += 1
        current = self.folder / f"packages-{self._lists}.json"
        current.write_text("".join(json.dumps(entry) + "\n" for entry in self._entries.values()), encoding="utf-8")
        command = [str(BIN / "dumb-pypi"), "--package-list-json", str(current), "--output-dir", str(self.site)]
        if previous is not None:
            command += ["--previous-package-list-json", str(previous)]
        command += ["--packages-url", "../../pool/", "--no-generate-timestamp"]
        subprocess.run(command, check=True, capture_output=True, env=job_environment(), timeout=60)

    def age(self, seconds: float = 3600.0) -> None:
        """Move every file's modification time back: the tree was built a while ago (http.server's dates have
        a one-second resolution, so a rebuild within the same second would otherwise look unchanged)."""
        then = time.time() - seconds
        for path in self.site.rglob("*"):
            os.utime(path, (then, then))

    def request_lines(self) -> list[tuple[str, str]]:
        text = (self.folder / f"{self.name}.out").read_text(encoding="utf-8", errors="replace")
        return re.findall(r'"(\w+) (\S+) HTTP/[\d.]+"', text)

    def answers(self, path: str) -> list[int]:
        """The status of every logged request for ``path``, in order."""
        text = (self.folder / f"{self.name}.out").read_text(encoding="utf-8", errors="replace")
        return [int(code) for code in re.findall(rf'"GET {re.escape(path)} HTTP/[\d.]+" (\d+)', text)]


class DevpiServer(RealServer):
    """``devpi-server --offline-mode`` with the user ``test``; :meth:`new_index` creates an empty index of it.

    The devpi programs are taken from ``THOTH_TEST_DEVPI_BIN`` when set (a folder), else from the tool venv
    ``make devpi`` builds (``.tools/devpi``) when there is one, else from this venv.
    Starting devpi takes seconds, so one server is shared and each test gets an index of its own.
    """

    name = "devpi"
    user, password = "test", "conformance"

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.bin = Path(os.environ.get("THOTH_TEST_DEVPI_BIN") or (DEVPI_TOOL_BIN if DEVPI_TOOL_BIN.is_dir() else BIN))
        self.serverdir = folder / "serverdir"
        self.clientdir = folder / "clientdir"
        self.init_seconds: float | None = None
        self._indexes = 0

    def command(self) -> list[str]:
        return [
            str(self.bin / "devpi-server"),
            "--serverdir",
            str(self.serverdir),
            "--host",
            HOST,
            "--port",
            str(self.port),
            "--offline-mode",
        ]

    def start(self) -> Self:
        """Initialise the server folder, start the server and log the user in."""
        began = time.monotonic()
        self.run("devpi-init", "--serverdir", str(self.serverdir), "--root-passwd", "root-conformance")
        self.init_seconds = time.monotonic() - began
        super().start()
        self.client("use", self.base)
        self.client("user", "-c", self.user, f"password={self.password}")
        self.client("login", self.user, "--password", self.password)
        return self

    def new_index(self) -> DevpiIndex:
        """Create an empty index (no bases: nothing is mirrored) and return it."""
        self._indexes += 1
        index = DevpiIndex(self, f"dev{self._indexes}")
        self.client("index", "-c", index.name, "bases=", "volatile=True")
        return index

    def client(self, *args: str) -> None:
        """Run ``devpi`` with this server's client folder."""
        self.run("devpi", "--clientdir", str(self.clientdir), *args)

    def run(self, program: str, *args: str) -> None:
        """Run a devpi program to completion; ServerUnavailable when it is missing or fails."""
        try:
            subprocess.run(
                [str(self.bin / program), *args],
                check=True,
                capture_output=True,
                cwd=self.folder,
                env=job_environment({"PYTHONWARNINGS": "ignore"}),
                timeout=START_TIMEOUT,
            )
        except FileNotFoundError:
            raise ServerUnavailable(f"{program} is not installed in {self.bin}") from None
        except subprocess.CalledProcessError as error:
            output = (error.stderr or error.stdout or b"").decode(errors="replace").strip().splitlines()
            raise ServerUnavailable(f"{program} {args[0]} exited with {error.returncode}: {output[-1:]}") from None

    def request_lines(self) -> list[tuple[str, str]]:
        text = (self.folder / f"{self.name}.out").read_text(encoding="utf-8", errors="replace")
        return re.findall(r"\[req\d+\] (\w+) (\S+)", text)


class DevpiIndex:
    """One index of a :class:`DevpiServer`, filled with ``devpi upload``."""

    def __init__(self, server: DevpiServer, name: str) -> None:
        self.server = server
        self.name = name
        self.uploads = server.folder / f"uploads-{name}"

    @property
    def url(self) -> str:
        """The simple API of the index (devpi serves it under ``+simple``)."""
        return f"{self.server.base}/{self.server.user}/{self.name}/+simple"

    @property
    def page_url(self) -> str:
        """The index's own URL, without ``+simple``: what a new user registers by mistake."""
        return f"{self.server.base}/{self.server.user}/{self.name}"

    def add(self, *distributions: Distribution) -> None:
        """Upload files (devpi reads name and version from their metadata)."""
        shutil.rmtree(self.uploads, ignore_errors=True)
        for distribution in distributions:
            distribution.write(self.uploads)
        self.server.client("use", f"{self.server.user}/{self.name}")
        self.server.client("upload", "--from-dir", str(self.uploads))

    def requested_paths(self) -> list[str]:
        """The paths of this index the server logged requests for."""
        prefix = f"/{self.server.user}/{self.name}"
        return [path for path in self.server.requested_paths() if path.startswith(prefix)]
