"""Resuming a batch run: finding the run, its lock, what differs from its spec and data, which segments run again.

A run folder is locked (`RunLock`) while a process runs or resumes it. `previous_run` reads an earlier run's
manifest, refuses another spec or notebook (`spec_differences`) and says why each segment that is not whole runs
again; `check_same_data` refuses other data; `prepare_retry` records a segment's last attempt and removes its files.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from heatmap_lib.core.exceptions import HeatmapError
from heatmap_lib.reports.batch._common import _file_sha256
from heatmap_lib.reports.batch.results import SegmentResult
from heatmap_lib.reports.batch.spec import Spec


class ResumeError(HeatmapError):
    """A run cannot be resumed: not found, in use, or made from another spec, notebook or data."""


# spec keys a resume may change: how the run goes, not what it reports
RESUME_MAY_CHANGE: tuple[str, ...] = ("file", "workers", "timeout", "output")
LOCK_NAME = ".heatmap-run.lock"
_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


class RunLock:
    """An exclusive lock on a run folder (`flock` on a file in it): one process at a time runs or resumes a run.

    The system drops the lock when its process dies, so a run killed outright can still be resumed; the file is
    removed when the run ends. Where `fcntl` does not exist there is no lock.
    """

    def __init__(self, folder: Path) -> None:
        self.path = folder / LOCK_NAME
        self.fd: int | None = None

    def acquire(self) -> RunLock:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            return self
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise ResumeError(f"run {self.path.parent.name} is being run by another heatmap process now") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is not None:
            self.path.unlink(missing_ok=True)
            os.close(self.fd)
            self.fd = None


@dataclass
class Previous:
    """An earlier run being resumed: its manifest, its segments, and why each one that runs again does."""

    run_id: str
    folder: Path
    manifest: dict[str, Any]
    segments: list[SegmentResult]
    reasons: dict[str, str]  # segment value -> why it runs again ("failed", "timed out", "report damaged", ...)

    @property
    def index_exists(self) -> bool:
        return (self.folder / "index.html").is_file()


def _read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / "manifest.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not valid JSON"
        raise ResumeError(f"cannot resume run {folder.name}: its manifest.json cannot be read ({reason})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("segments"), list):
        raise ResumeError(f"cannot resume run {folder.name}: its manifest.json is not a heatmap run manifest")
    return manifest


def _brief(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def spec_differences(spec: Spec, manifest: Mapping[str, Any]) -> list[str]:
    """What makes `spec` another spec than the one a run's manifest records (empty: the run can be resumed).

    Workers, timeout, output folder and the spec file's own path may change; the notebook must hold the same bytes.
    """
    now = json.loads(json.dumps(spec.as_dict(), default=str))
    then = manifest.get("spec") or {}
    found = [
        f"{key} {_brief(then.get(key))} then, {_brief(value)} now"
        for key, value in now.items()
        if key not in RESUME_MAY_CHANGE and then.get(key) != value
    ]
    recorded = manifest.get("notebook_sha256")
    if recorded and spec.notebook.is_file() and recorded != _file_sha256(spec.notebook):
        found.append(f"notebook {spec.notebook.name} changed since (other bytes)")
    return found


def _run_folders(output: Path) -> list[Path]:
    """The run folders in `output`, latest first (run ids start with their UTC start time)."""
    if not output.is_dir():
        return []
    found = [
        p for p in output.iterdir() if p.is_dir() and not p.name.startswith(".") and (p / "manifest.json").is_file()
    ]
    return sorted(found, key=lambda p: p.name, reverse=True)


def find_run(spec: Spec, resume: str) -> Path:
    """The folder of the run `resume` names in `spec.output`: a run id, or "latest" (the latest run of this spec)."""
    wanted = str(resume).strip()
    runs = _run_folders(spec.output)
    if wanted == "latest":
        for folder in runs:
            with contextlib.suppress(ResumeError):
                if not spec_differences(spec, _read_manifest(folder)):
                    return folder
        if not runs:
            raise ResumeError(f"no run to resume in {spec.output}")
        try:
            latest = "; ".join(spec_differences(spec, _read_manifest(runs[0])))
        except ResumeError as exc:
            latest = str(exc)
        raise ResumeError(
            f"no run of this spec to resume in {spec.output} ({len(runs)} run{'s' * (len(runs) != 1)} of other "
            f"specs; the latest, {runs[0].name}, differs: {latest})"
        )
    if not wanted or wanted.startswith(".") or not re.fullmatch(r"[A-Za-z0-9._-]+", wanted):
        raise ResumeError(f"--resume takes a run id (a folder name in {spec.output}) or 'latest', not {wanted!r}")
    folder = spec.output / wanted
    if not (folder / "manifest.json").is_file():
        known = ", ".join(p.name for p in runs[:5]) + (" ..." if len(runs) > 5 else "")
        raise ResumeError(f"no run {wanted} in {spec.output} (runs there: {known or 'none'})")
    return folder


def _inside(folder: Path, relative: str | None) -> Path | None:
    """`folder / relative` when it stays inside `folder` (a manifest is data: its paths are checked), else None."""
    if not relative:
        return None
    path = (folder / relative).resolve()
    return path if path.is_relative_to(folder.resolve()) and path != folder.resolve() else None


def _resume_reason(folder: Path, seg: SegmentResult) -> str | None:
    """Why a segment of an earlier run must run again, or None when its report and files are whole."""
    if seg.status != "ok":
        if seg.status == "failed" and (seg.error or {}).get("type") == "Timeout":
            return "timed out"
        return {"pending": "never started", "cancelled": "never started", "running": "never finished"}.get(
            seg.status, seg.status
        )
    html = _inside(folder, seg.html)
    if html is None or not html.is_file():
        return "report missing"
    data = html.read_bytes()
    if seg.html_sha256 and hashlib.sha256(data).hexdigest() != seg.html_sha256:
        return "report damaged"
    if not data.rstrip().endswith(b"</html>"):
        return "report damaged"
    notebook = _inside(folder, seg.notebook)
    if notebook is None or not notebook.is_file():
        return "notebook missing"
    if seg.xray_pages:
        pages = _inside(folder, seg.xray)
        if pages is None or sum(1 for _ in pages.glob("*.html")) < seg.xray_pages:
            return "X-Ray pages missing"
    return None


def previous_run(spec: Spec, folder: Path) -> Previous:
    """Read and check an earlier run to resume: same spec and notebook, sound segment entries; why each re-runs."""
    manifest = _read_manifest(folder)
    differs = spec_differences(spec, manifest)
    if differs:
        raise ResumeError(
            f"cannot resume run {folder.name}: the spec differs from the run's ({'; '.join(differs)}); "
            "resume with the run's spec, or start a new run"
        )
    try:
        segments = [SegmentResult.from_dict(entry) for entry in manifest["segments"]]
    except (KeyError, TypeError, ValueError):
        raise ResumeError(f"cannot resume run {folder.name}: its manifest's segment list is damaged") from None
    slugs = [s.slug for s in segments]
    if not segments or len(set(slugs)) != len(slugs) or not all(_SLUG.fullmatch(s) for s in slugs):
        raise ResumeError(f"cannot resume run {folder.name}: its manifest's segment list is damaged")
    reasons = {s.value: r for s in segments if (r := _resume_reason(folder, s))}
    return Previous(folder.name, folder, manifest, segments, reasons)


def check_same_data(previous: Previous, dataset: Any) -> None:
    """Refuse to resume on other data than the run's: a report would mix two datasets."""
    then = previous.manifest.get("data") or {}
    now = dataset.fingerprint()
    if then.get("fingerprint") == now:
        return
    rows_then, rows_now = dict(then.get("rows") or {}), dict(dataset.rows)
    changed = [
        f"{table} {rows_then.get(table, 0):,} rows then, {rows_now.get(table, 0):,} now"
        for table in sorted(set(rows_then) | set(rows_now))
        if rows_then.get(table) != rows_now.get(table)
    ]
    what = "; ".join(changed) if changed else "the same row counts, other content"
    raise ResumeError(
        f"cannot resume run {previous.run_id}: the data changed since it ran ({what}; fingerprint "
        f"{str(then.get('fingerprint'))[:12]} then, {now[:12]} now); start a new run"
    )


def prepare_retry(folder: Path, seg: SegmentResult, reason: str) -> None:
    """Record a segment's last attempt, remove every file it left, and make it pending again."""
    if seg.attempts and seg.status not in ("pending", "cancelled"):
        error = {k: seg.error[k] for k in ("type", "message") if k in seg.error} if seg.error else None
        seg.previous.append(
            {
                "attempt": seg.attempts,
                "status": seg.status,
                "started_at": seg.started_at,
                "seconds": seg.seconds,
                "error": error,
                "run_again_because": reason,
            }
        )
    for relative in (seg.html, seg.notebook, seg.log):
        path = _inside(folder, relative)
        if path is not None:
            path.unlink(missing_ok=True)
    pages = _inside(folder, f"xray/{seg.slug}")
    if pages is not None and pages.is_dir():
        shutil.rmtree(pages)
    seg.status, seg.started_at, seg.error, seg.headline = "pending", None, None, None
    seg.seconds = seg.execute_seconds = seg.convert_seconds = None
    seg.html = seg.notebook = seg.log = seg.xray = seg.html_sha256 = None
    seg.xray_pages = 0


def resume_command(spec_file: str | Path, run_id: str, output: str | Path | None = None) -> str:
    """The command line that finishes run `run_id` of the spec file `spec_file` (for messages)."""
    import shlex

    parts = ["heatmap", "run", str(spec_file), "--resume", run_id]
    if output is not None:
        parts += ["--output", str(output)]
    return " ".join(shlex.quote(p) for p in parts)
