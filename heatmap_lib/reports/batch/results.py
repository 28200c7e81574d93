"""What a batch run produced: `SegmentResult` (one segment's outcome, its manifest entry and back) and `RunResult`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from heatmap_lib.reports.batch._common import _round


@dataclass
class SegmentResult:
    """One segment's outcome: status (pending, running, ok, failed, interrupted, cancelled), files, figures."""

    value: str
    slug: str
    status: str = "pending"
    started_at: str | None = None
    seconds: float | None = None
    execute_seconds: float | None = None
    convert_seconds: float | None = None
    html: str | None = None  # relative to the run folder
    notebook: str | None = None
    log: str | None = None  # the kernel process's own output, when it wrote any
    xray: str | None = None  # the folder of the segment's X-Ray pages, relative to the run folder
    xray_pages: int = 0
    headline: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    html_sha256: str | None = None  # of the report as written (a resume re-runs a segment whose report differs)
    attempts: int = 0  # executions of this segment, over the run and its resumes
    previous: list[dict[str, Any]] = field(default_factory=list)  # earlier attempts: status, error, why re-run

    def as_dict(self) -> dict[str, Any]:
        """The segment's manifest entry."""
        return {
            "segment": self.value,
            "slug": self.slug,
            "status": self.status,
            "started_at": self.started_at,
            "seconds": _round(self.seconds),
            "execute_seconds": _round(self.execute_seconds),
            "convert_seconds": _round(self.convert_seconds),
            "files": {
                k: v
                for k, v in (("html", self.html), ("notebook", self.notebook), ("log", self.log), ("xray", self.xray))
                if v
            },
            "checksums": {"html": self.html_sha256} if self.html_sha256 else {},
            "xray_pages": self.xray_pages,
            "headline": self.headline,
            "error": self.error,
            "attempts": self.attempts,
            "previous_attempts": self.previous,
        }

    @classmethod
    def from_dict(cls, entry: Mapping[str, Any]) -> SegmentResult:
        """A segment as its manifest entry recorded it (a resume starts from these)."""
        files = entry.get("files") or {}
        return cls(
            value=str(entry["segment"]),
            slug=str(entry["slug"]),
            status=str(entry.get("status", "pending")),
            started_at=entry.get("started_at"),
            seconds=entry.get("seconds"),
            execute_seconds=entry.get("execute_seconds"),
            convert_seconds=entry.get("convert_seconds"),
            html=files.get("html"),
            notebook=files.get("notebook"),
            log=files.get("log"),
            xray=files.get("xray"),
            xray_pages=int(entry.get("xray_pages") or 0),
            headline=entry.get("headline"),
            error=entry.get("error"),
            html_sha256=(entry.get("checksums") or {}).get("html"),
            attempts=int(entry.get("attempts") or (0 if entry.get("status") in ("pending", "cancelled") else 1)),
            previous=list(entry.get("previous_attempts") or []),
        )


@dataclass
class RunResult:
    """What a run produced: its folder, status (complete or interrupted), segment results and exit status."""

    run_id: str
    folder: Path
    status: str
    segments: list[SegmentResult]
    seconds: float
    resumed: list[str] = field(default_factory=list)  # the segments a resume ran again (empty for a new run)

    @property
    def index(self) -> Path:
        """The run's index page (written only when the run completed)."""
        return self.folder / "index.html"

    @property
    def manifest(self) -> Path:
        """The run's manifest."""
        return self.folder / "manifest.json"

    @property
    def failed(self) -> list[SegmentResult]:
        """The segments that did not produce a report."""
        return [s for s in self.segments if s.status != "ok"]

    @property
    def exit_status(self) -> int:
        """0 when every segment succeeded, 1 when any failed, 130 when the run was interrupted."""
        if self.status == "interrupted":
            return 130
        return 1 if self.failed else 0
