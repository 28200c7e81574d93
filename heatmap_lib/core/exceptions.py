"""The exceptions heatmap raises: one small hierarchy under `HeatmapError`."""

from __future__ import annotations


class HeatmapError(Exception):
    """Base of every error heatmap raises on purpose; the CLI prints its message as a one-line reason."""


class DataError(HeatmapError):
    """A dataset cannot be read at all: a missing path, an unreadable file, a table stored twice."""


class ValidationError(HeatmapError):
    """A dataset breaks the data contract; `problems` lists every problem found in one pass."""

    def __init__(self, message: str, problems: list | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class FilterError(HeatmapError):
    """A filter set is malformed: an unknown key, waves and dates together, a bad date."""


class SpecError(HeatmapError):
    """A batch spec is malformed or names a parameter its notebook does not declare."""


class FilterWarning(UserWarning):
    """A filter value matched nothing in the data (the filter still applies, and may empty the scope)."""
