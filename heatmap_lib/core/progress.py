"""Progress output that suits where it goes: a live bar on a terminal, plain whole lines elsewhere.

Two kinds of report. `progress` counts the steps of a job (a batch's segments): a terminal gets tqdm's bar,
redrawn in place with carriage returns; a file, a pipe or a CI log gets one whole line per step (no carriage
return, no cursor codes), so a log reads top to bottom; a Jupyter kernel gets nothing. `bar` is for one step a user
waits on (loading and validating, preparing, X-Ray pages) and shows itself only when that step is still running
after `DELAY` seconds: a bar on a terminal or in a notebook (gone when done), one line when done in a log, and
nothing in a `heatmap run` kernel (whose notebooks become reports) or when $HEATMAP_PROGRESS is 0.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, Protocol, TextIO

DELAY = 1.5  # seconds a step of `bar` runs before it shows

PREPARED_ENV = "HEATMAP_PREPARED_DATA"  # set by `heatmap run` in each kernel: the run's validated copy of the data


class Progress(Protocol):
    """What a long job calls: one `step` per unit of work done, then `close`."""

    def step(self, note: str = "") -> None: ...

    def close(self) -> None: ...


def is_terminal(stream: Any) -> bool:
    """Whether `stream` is an interactive terminal (a live bar can redraw in place there)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def in_kernel(stream: Any) -> bool:
    """Whether `stream` is a Jupyter kernel's output stream (what it gets ends up in a notebook or report)."""
    return type(stream).__module__.startswith("ipykernel")


def progress(
    total: int, desc: str, *, unit: str = "step", stream: TextIO | None = None, enabled: bool = True
) -> Progress:
    """The progress reporter for `stream` (default stderr): a bar on a terminal, lines in a log, none in a kernel."""
    out = stream if stream is not None else sys.stderr
    if not enabled or in_kernel(out):
        return _Silent()
    if is_terminal(out):
        return _Bar(total, desc, unit, out)
    return _Lines(total, desc, unit, out)


class _Silent:
    def step(self, note: str = "") -> None:
        pass

    def close(self) -> None:
        pass


class _Bar:
    def __init__(self, total: int, desc: str, unit: str, stream: TextIO) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=total, desc=desc, unit=unit, file=stream)

    def step(self, note: str = "") -> None:
        if note:
            self.bar.set_postfix_str(note, refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


class _Lines:
    def __init__(self, total: int, desc: str, unit: str, stream: TextIO) -> None:
        self.total, self.desc, self.unit, self.stream, self.done = total, desc, unit, stream, 0

    def step(self, note: str = "") -> None:
        self.done += 1
        units = self.unit if self.total == 1 else self.unit + "s"
        line = f"{self.desc}: {self.done} of {self.total} {units} done" + (f" ({note})" if note else "")
        line = "".join(ch if ch.isprintable() else "?" for ch in line)  # a value's control characters stay inert
        print(line, file=self.stream, flush=True)

    def close(self) -> None:
        pass


def enabled() -> bool:
    """Whether `bar` may show (not in a `heatmap run` kernel, not turned off by $HEATMAP_PROGRESS=0)."""
    return not os.environ.get(PREPARED_ENV) and os.environ.get("HEATMAP_PROGRESS", "1") != "0"


def bar(total: int, desc: str, unit: str = "step") -> Any:
    """A progress bar on stderr for one step a user waits on, shown only once it has run `DELAY` seconds.

    Call `update()` per unit done and `close()` at the end. A terminal or a notebook gets tqdm's bar (removed when
    done); a log gets one plain line when the step ends; a disabled one (`enabled`) is silent.
    """
    err = sys.stderr
    if not enabled():
        return _Quiet()
    if is_terminal(err) or in_kernel(err):
        from tqdm import tqdm

        return tqdm(total=total, desc=desc, unit=unit, file=err, delay=DELAY, leave=False)
    return _LogBar(total, desc, unit, err)


class _Quiet:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


class _LogBar:
    """`bar` in a log: one whole line when the step ends, if it took `DELAY` seconds or more."""

    def __init__(self, total: int, desc: str, unit: str, stream: TextIO) -> None:
        self.total, self.desc, self.unit, self.stream = total, desc, unit, stream
        self.done, self.start, self.closed = 0, time.monotonic(), False

    def update(self, n: int = 1) -> None:
        self.done += n

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        took = time.monotonic() - self.start
        if took >= DELAY:
            units = self.unit if self.total == 1 else self.unit + "s"
            line = f"{self.desc}: {self.done}/{self.total} {units} in {took:.1f} s"
            print("".join(ch if ch.isprintable() else "?" for ch in line), file=self.stream, flush=True)
