"""Progress output that suits where it goes: a live bar on a terminal, one plain line per step elsewhere.

A terminal gets tqdm's bar, redrawn in place with carriage returns. A file, a pipe or a CI log gets one whole
line per step (no carriage return, no cursor codes), so a log reads top to bottom. Inside a Jupyter kernel (a
notebook run by papermill, whose output becomes a report) nothing is written at all.
"""

from __future__ import annotations

import sys
from typing import Any, Protocol, TextIO


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
