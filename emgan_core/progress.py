"""Progress of long work, shown the same way by every command: data builds, curation, training,
inference, benchmarks.

On a terminal, a tqdm bar on stderr; elsewhere (a log file, a batch job, a pipe) one line per tenth
of the work and at least one a minute, e.g. ``emgan: curating pairs: 3/12 (25 %), 41 s, about 2 min
left``. ``EMGAN_PROGRESS=0`` silences both (tests, scripted use); ``EMGAN_PROGRESS=lines`` prints
lines on a terminal too.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")


def _style() -> str:
    wanted = os.environ.get("EMGAN_PROGRESS", "").strip().lower()
    if wanted in ("0", "off", "no", "false"):
        return "off"
    if wanted == "lines":
        return "lines"
    return "bar" if sys.stderr.isatty() else "lines"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class Progress:
    """Counts finished units of one piece of work and reports them (see the module docstring).

    ``what``: the work, in words (``"building triplets"``); ``total``: how many units, if known;
    ``initial``: units already done (a resumed run); ``unit``: what one is (``"step"``, ``"map"``).
    """

    def __init__(self, what: str, total: int | None = None, initial: int = 0, unit: str = "item",
                 every_s: float = 60.0):
        self.what, self.total, self.done, self.unit = what, total, initial, unit
        self.start, self.every_s, self.initial = time.monotonic(), every_s, initial
        self.style = _style()
        self._bar = None
        self._last_line, self._last_tenth = self.start, -1
        if self.style == "bar":
            from tqdm import tqdm

            self._bar = tqdm(total=total, initial=initial, desc=what, unit=unit, dynamic_ncols=True,
                             file=sys.stderr, leave=False)

    def line(self) -> str:
        """The report of the work so far, one line."""
        elapsed = time.monotonic() - self.start
        text = f"emgan: {self.what}: {self.done}"
        if self.total:
            text += f"/{self.total} ({100 * self.done / self.total:.0f} %)"
        else:
            text += f" {self.unit}{'s' if self.done != 1 else ''}"
        text += f", {_duration(elapsed)}"
        new = self.done - self.initial
        if self.total and 0 < new and self.done < self.total:
            text += f", about {_duration(elapsed / new * (self.total - self.done))} left"
        return text

    def update(self, n: int = 1) -> None:
        self.done += n
        if self._bar is not None:
            self._bar.update(n)
        elif self.style == "lines":
            now = time.monotonic()
            tenth = int(10 * self.done / self.total) if self.total else -1
            if tenth > self._last_tenth or now - self._last_line >= self.every_s:
                self._last_tenth, self._last_line = max(tenth, self._last_tenth), now
                if not self.total or self.done < self.total:
                    print(self.line(), file=sys.stderr, flush=True)

    def write(self, message: str) -> None:
        """A message printed above the bar (or as a line of its own)."""
        if self._bar is not None:
            self._bar.write(message, file=sys.stderr)
        else:
            print(message, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        if self.style != "off":
            print(self.line().replace(f": {self.done}/{self.total} (100 %)", f": {self.done} done")
                  if self.total and self.done >= self.total else self.line(), file=sys.stderr, flush=True)

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def progress(items: Iterable[T], what: str, total: int | None = None, unit: str = "item",
             initial: int = 0) -> Iterator[T]:
    """Yield ``items``, reporting each one finished (see :class:`Progress`); ``total`` defaults to
    ``len(items)`` where it has one."""
    if total is None and hasattr(items, "__len__"):
        total = initial + len(items)  # type: ignore[arg-type]
    with Progress(what, total, initial, unit) as bar:
        for item in items:
            yield item
            bar.update()
