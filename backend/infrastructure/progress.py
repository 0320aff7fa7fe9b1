"""Progress of a long command: a bar on a terminal, a plain line every few seconds in a log.

The seed, `make bench`, `make chaos` and `memberdesk housekeep` run for minutes. On a terminal they redraw one
line (bar, count, rate, time left); when the output is a file or a pipe (CI, `make bench`'s own capture of the
seed, cron) a redrawn line would be a mess, so they print a plain line every `every` seconds and one at the end.
No dependency on purpose: rich and tqdm are not in a production install, where `memberdesk housekeep` runs.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import Final, Self, TextIO

_REDRAW_SECONDS: Final = 0.1
_BAR_WIDTH_MAX: Final = 30


def duration(seconds: float) -> str:
    """`42 s`, `3:05`, `1:02:03`: how long, for a person."""
    whole = max(0, round(seconds))
    if whole < 60:
        return f"{whole} s"
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Progress:
    """Counts work done towards `total` (None: unknown) and shows it; use as a context manager or call close().

    `bar=None` draws a bar when `stream` is a terminal and prints plain lines otherwise.
    """

    def __init__(
        self,
        label: str,
        total: int | None = None,
        *,
        unit: str = "",
        stream: TextIO | None = None,
        every: float = 10.0,
        bar: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self.total = total
        self.unit = unit
        self.done = 0
        self._stream = stream if stream is not None else sys.stderr
        self._every = every
        self._bar = self._stream.isatty() if bar is None else bar
        self._clock = clock
        self._started = clock()
        self._shown_at = self._started
        self._closed = False
        if self._bar:
            self._draw()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close(failed=error is not None)

    @property
    def elapsed(self) -> float:
        return self._clock() - self._started

    def advance(self, amount: int = 1) -> None:
        """`amount` more units done."""
        self.update(self.done + amount)

    def update(self, done: int) -> None:
        """`done` units done so far."""
        self.done = done
        now = self._clock()
        if self._bar and now - self._shown_at >= _REDRAW_SECONDS:
            self._shown_at = now
            self._draw()
        elif not self._bar and now - self._shown_at >= self._every:
            self._shown_at = now
            self._line(self._status())

    def stage(self, label: str, total: int | None = None, *, unit: str = "") -> Progress:
        """The progress of one phase of the work, on the same stream and shown the same way."""
        return Progress(
            label, total, unit=unit, stream=self._stream, every=self._every, bar=self._bar, clock=self._clock
        )

    def note(self, text: str) -> None:
        """A line of its own under the label (a phase begins, say), above the bar on a terminal."""
        self.echo(f"{self.label}: {text}")

    def echo(self, text: str) -> None:
        """A line of the command's own output, printed above the bar on a terminal instead of across it."""
        if self._bar:
            self._stream.write("\r\x1b[2K")
        self._line(text)
        if self._bar and not self._closed:
            self._draw()

    def close(self, *, failed: bool = False) -> None:
        """The last line: how much, in how long, at what rate (or where it stopped)."""
        if self._closed:
            return
        self._closed = True
        elapsed = self.elapsed
        if self._bar:
            self._stream.write("\r\x1b[2K")
        if failed:
            self._line(f"{self.label}: stopped at {self._count()} after {duration(elapsed)}")
        else:
            self._line(f"{self.label}: {self._count()} in {duration(elapsed)}{self._rate(elapsed)}")

    # -- rendering ---------------------------------------------------------------------------------------------

    def _count(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        if self.total is None:
            return f"{self.done:,}{unit}"
        return f"{self.done:,}/{self.total:,}{unit}"

    def _rate(self, elapsed: float) -> str:
        if elapsed <= 0 or self.done <= 0:
            return ""
        rate = self.done / elapsed
        unit = f" {self.unit}" if self.unit else ""
        return f", {rate:,.0f}{unit}/s" if rate >= 10 else f", {rate:.1f}{unit}/s"

    def _left(self, elapsed: float) -> str:
        if self.total is None or self.done <= 0 or elapsed <= 0:
            return ""
        return f", {duration((self.total - self.done) * elapsed / self.done)} left"

    def _status(self) -> str:
        elapsed = self.elapsed
        share = f" ({min(self.done / self.total, 1.0):.0%})" if self.total else ""
        return f"{self.label}: {self._count()}{share}{self._rate(elapsed)}{self._left(elapsed)}"

    def _draw(self) -> None:
        columns = shutil.get_terminal_size((100, 24)).columns
        status = self._status()
        if self.total:
            width = max(0, min(_BAR_WIDTH_MAX, columns - len(status) - 4))
            filled = round(width * min(self.done / self.total, 1.0))
            status = f"[{'#' * filled}{'.' * (width - filled)}] {status}" if width >= 10 else status
        self._stream.write("\r\x1b[2K" + status[: columns - 1])
        self._stream.flush()

    def _line(self, text: str) -> None:
        self._stream.write(text + "\n")
        self._stream.flush()
