"""``app.py`` as a real process, the way an operator runs it: shared by the e2e and the fault tests.

Every process gets an environment stripped of anything that could point it elsewhere (:func:`job_environment`),
writes its standard output and error to files (a pipe could fill while it is blocked) and, when asked, a
``--report`` under the test's folder. :class:`Launcher` starts processes and kills whatever a test leaves
running; :class:`Running` signals one, kills it or waits for it and returns what it did (:class:`AppOutput`,
or the suite's own subclass of it).
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Generic, TypeVar

REPO_ROOT = Path(__file__).resolve().parents[2]
APP = REPO_ROOT / "app.py"
APP_TIMEOUT = 90.0

# Variables the job reads that would make a run use another database, send metrics/errors elsewhere, pick
# another shard or go through a proxy; none of them may leak from the developer's or CI's environment.
_STRIPPED_PREFIXES = ("KNOWLEDGE_GRAPH_", "THOTH_PACKAGE_RELEASES_", "PROMETHEUS_PUSHGATEWAY_")
_STRIPPED_NAMES = frozenset(
    {"SENTRY_DSN", "THOTH_DEPLOYMENT_NAME", "JOB_COMPLETION_INDEX", "COLUMNS", "LINES", "NETRC"}
    | {"GRAPH_SERVICE_HOST", "GRAPH_TLS_PATH"}  # the 2019 job's: they stop a run that has no KNOWLEDGE_GRAPH_*
    | {"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"}
)


def job_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return the environment of a job process: ours minus the stripped variables, plus ``extra``."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.upper().startswith(_STRIPPED_PREFIXES) and name.upper() not in _STRIPPED_NAMES
    }
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env.update(extra or {})
    return env


@dataclass(frozen=True)
class AppOutput:
    """What one process of ``app.py`` did."""

    args: tuple[str, ...]
    code: int
    stdout: str
    stderr: str
    report_text: str | None  # None: no report was asked for or written
    seconds: float

    def __str__(self) -> str:
        return (
            f"app.py {' '.join(self.args)}\n-> exit {self.code} after {self.seconds:.1f} s\n"
            f"--- stdout\n{self.stdout}--- stderr\n{self.stderr}--- report\n{self.report_text}"
        )

    @cached_property
    def report(self) -> dict[str, Any]:
        """The parsed ``--report``; a run that wrote none fails the test."""
        assert self.report_text is not None, f"no report was written\n{self}"
        parsed: dict[str, Any] = json.loads(self.report_text)
        return parsed

    @property
    def everything(self) -> str:
        """Standard output, standard error and the report: where a secret must never show up."""
        return self.stdout + self.stderr + (self.report_text or "")

    @property
    def error_lines(self) -> list[str]:
        """The ``error: ...`` lines the CLI printed on stderr."""
        return [line for line in self.stderr.splitlines() if line.startswith("error:")]

    def lines_with(self, text: str) -> list[str]:
        """The lines of stderr that contain ``text``."""
        return [line for line in self.stderr.splitlines() if text in line]

    def index(self, url: str) -> dict[str, Any]:
        """The report's counts for one index."""
        matches: list[dict[str, Any]] = [index for index in self.report["indexes"] if index["url"] == url]
        assert len(matches) == 1, f"expected index {url} once in the report\n{self}"
        return matches[0]


Output = TypeVar("Output", bound=AppOutput)


class Running(Generic[Output]):
    """A job process started in the background."""

    def __init__(
        self,
        args: Sequence[str],
        process: subprocess.Popen[bytes],
        out: Path,
        err: Path,
        report: Path | None,
        output_type: type[Output],
    ) -> None:
        self.args = tuple(args)
        self.process = process
        self._out, self._err, self._report = out, err, report
        self._output_type = output_type
        self.started = time.monotonic()

    def running(self) -> bool:
        return self.process.poll() is None

    def signal(self, signum: int) -> float:
        """Send a signal; return the monotonic time it was sent."""
        self.process.send_signal(signum)
        return time.monotonic()

    def stderr_so_far(self) -> str:
        return self._err.read_text(encoding="utf-8", errors="replace")

    def wait(self, timeout: float = APP_TIMEOUT) -> Output:
        """Wait for the process to end (killing it and failing the test after ``timeout``); what it did."""
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"app.py did not end within {timeout} s\n{self.stderr_so_far()}") from None
        report = self._report.read_text(encoding="utf-8") if self._report and self._report.exists() else None
        return self._output_type(
            self.args,
            self.process.returncode,
            self._out.read_text(encoding="utf-8", errors="replace"),
            self.stderr_so_far(),
            report,
            time.monotonic() - self.started,
        )

    def kill(self) -> None:
        if self.running():
            self.process.kill()
            self.process.wait()


class Launcher(Generic[Output]):
    """Starts ``app.py`` processes for one test, their files under ``folder``; ``cleanup`` kills what is left."""

    def __init__(self, folder: Path, output_type: type[Output]) -> None:
        self.folder = folder
        self._output_type = output_type
        self._counter = itertools.count()
        self._started: list[Running[Output]] = []

    def launch(
        self,
        argv: Sequence[str],
        *,
        report: bool,
        env: Mapping[str, str] | None,
        cwd: Path = REPO_ROOT,
        program: Sequence[str] = (),
    ) -> Running[Output]:
        """Start ``python app.py ARGV`` (plus ``--report <file>`` when asked for) in the stripped environment.

        ``program`` replaces ``python app.py`` (a container's command, mapped to this machine).
        """
        number = next(self._counter)
        report_path = self.folder / f"report-{number}.json" if report else None
        argv = [*argv, "--report", str(report_path)] if report_path else list(argv)
        out, err = self.folder / f"stdout-{number}.txt", self.folder / f"stderr-{number}.txt"
        with out.open("wb") as stdout, err.open("wb") as stderr:
            process = subprocess.Popen(
                [*(program or (sys.executable, str(APP))), *argv],
                cwd=cwd,
                env=job_environment(env),
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
            )
        running = Running(argv, process, out, err, report_path, self._output_type)
        self._started.append(running)
        return running

    def cleanup(self) -> None:
        """Kill every process still running: a failed test must not leave a job behind."""
        for running in self._started:
            running.kill()
