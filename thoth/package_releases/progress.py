"""Progress of an index scan for people: a live line on a terminal, a periodic log line in a pod."""

from __future__ import annotations

import logging
import sys
import time
from typing import TextIO

_LOGGER = logging.getLogger(__name__)

# On a terminal the line is redrawn at most this often; in a pod a log line is written every
# LOG_EVERY_PACKAGES packages or LOG_EVERY_SECONDS seconds, whichever comes first.
REDRAW_SECONDS = 0.2
LOG_EVERY_PACKAGES = 5000
LOG_EVERY_SECONDS = 30.0


class Progress:
    """Tracks packages done out of a total for one index and shows it in the way that suits the output."""

    def __init__(self, label: str, total: int, *, quiet: bool = False, stream: TextIO | None = None) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self.new_releases = 0
        self._quiet = quiet
        self._stream = stream if stream is not None else sys.stderr
        self._tty = bool(getattr(self._stream, "isatty", lambda: False)())
        self._last_shown = time.monotonic()
        self._last_logged_done = 0

    def advance(self, packages: int = 1, new_releases: int = 0) -> None:
        """Count packages done (and new releases found) and show progress when it is time to."""
        self.done += packages
        self.new_releases += new_releases
        if self._quiet:
            return
        now = time.monotonic()
        if self._tty:
            if now - self._last_shown >= REDRAW_SECONDS or self.done >= self.total:
                self._draw()
                self._last_shown = now
        elif (
            self.done - self._last_logged_done >= LOG_EVERY_PACKAGES or now - self._last_shown >= LOG_EVERY_SECONDS
        ) and self.done < self.total:
            _LOGGER.info("%s: %s", self.label, self.describe())
            self._last_shown = now
            self._last_logged_done = self.done

    def describe(self) -> str:
        """Return 'done/total packages (percent), N new'."""
        percent = 100.0 * self.done / self.total if self.total else 100.0
        return f"{self.done}/{self.total} packages ({percent:.0f}%), {self.new_releases} new release(s)"

    def close(self) -> None:
        """End the live line (on a terminal)."""
        if self._tty and not self._quiet:
            self._draw()
            self._stream.write("\n")
            self._stream.flush()

    def _draw(self) -> None:
        width = 30
        filled = int(width * self.done / self.total) if self.total else width
        bar = "#" * filled + "-" * (width - filled)
        self._stream.write(f"\r{self.label} [{bar}] {self.describe()}")
        self._stream.flush()
