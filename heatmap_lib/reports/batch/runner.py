"""Running a batch (`run`): load the data once, set up or take over the run folder, run the segments, write the index.

The manifest is written at the start (`running`), after each segment, and last once the index is written
(`complete`); Ctrl-C or SIGTERM stops the kernels and leaves it `interrupted` (`RunInterrupted`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import platform
import queue
import secrets
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from heatmap_lib.core.exceptions import HeatmapError, SpecError
from heatmap_lib.core.files import atomic_write
from heatmap_lib.core.progress import PREPARED_ENV
from heatmap_lib.data.prepared import open_data
from heatmap_lib.reports.batch._common import _data_name, _file_sha256, _is_url, _now, _redact, _round
from heatmap_lib.reports.batch.kernels import (
    KERNEL_REUSE_LIMIT,
    Context,
    kernel_manager_class,
    reset_cell,
    stop_workers,
    worker,
    write_failure,
)
from heatmap_lib.reports.batch.results import RunResult, SegmentResult
from heatmap_lib.reports.batch.resume import (
    Previous,
    RunLock,
    check_same_data,
    find_run,
    prepare_retry,
    previous_run,
)
from heatmap_lib.reports.batch.spec import (
    PLAYS_PARAMETER,
    XRAY_PARAMETERS,
    Spec,
    check_notebook_parameters,
    declared_parameters,
    resolve_segments,
    segment_file_names,
)


def _without_segment(spec: Spec, dataset: Any) -> int:
    """How many accounts in scope have no `segment_by` value, and so are in no segment's report."""
    if spec.segment_by not in dataset.account_columns:
        return 0  # waves are never empty (the contract requires one per invitation)
    accounts = dataset.table("accounts")
    col = accounts[spec.segment_by].cast("string")
    return int(accounts.filter(col.isnull() | (col.strip() == "")).count().execute())


def _write_json(path: Path, data: Any) -> None:
    atomic_write(path, json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in ("heatmap", "bokeh", "papermill", "nbconvert", "nbclient", "nbformat", "ipykernel"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def _new_run_folder(output: Path) -> tuple[str, Path]:
    """A fresh `<output>/<run id>` folder; the id is a UTC timestamp and a random suffix, created exclusively."""
    output.mkdir(parents=True, exist_ok=True)
    while True:
        run_id = f"{dt.datetime.now(dt.UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"
        folder = output / run_id
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        return run_id, folder


class _Interrupted(KeyboardInterrupt):
    """Raised in the main thread by SIGTERM, so a terminated run cleans up like an interrupted one."""


class RunInterrupted(KeyboardInterrupt):
    """A run stopped by Ctrl-C or SIGTERM once it recorded so: `run_id` and `folder` say which run to resume."""

    def __init__(self, run_id: str, folder: Path, by: str) -> None:
        super().__init__(f"run {run_id} interrupted by {by}")
        self.run_id = run_id
        self.folder = folder
        self.by = by


def _on_sigterm(signum: int, frame: Any) -> None:
    raise _Interrupted(f"signal {signum}")


def run(
    spec: Spec,
    *,
    progress: bool = True,
    fresh_kernels: bool = False,
    on_segment: Callable[[SegmentResult], None] | None = None,
    resume: str | None = None,
) -> RunResult:
    """Run a batch: one report per segment into `<spec.output>/<run id>/`, then the index and the manifest.

    Each worker runs its segments on one kernel, clearing the namespace before each (imports are what a
    fresh kernel costs most); a kernel that failed is replaced. `fresh_kernels=True` starts a new kernel for
    every segment instead. A failing segment is recorded (error, traceback, failed notebook) and the others go
    on; the result's `exit_status` is then 1. On KeyboardInterrupt or SIGTERM the kernels are killed, the
    manifest says `interrupted`, and `RunInterrupted` (a KeyboardInterrupt naming the run) is raised.

    `resume` finishes an earlier run instead of starting one: a run id in `spec.output`, or `"latest"` (the latest
    run of this spec there). Its spec (workers, timeout and output aside), notebook and data must be the run's,
    else `ResumeError` says what differs. Only its segments that are not ok, or whose files are missing or
    damaged, run again; the index and the manifest are then written again. The result's `resumed` lists them; a
    complete run with nothing to re-run is returned as it is.
    """
    import nbformat

    from heatmap_lib.data import prepared as prepared_cache
    from heatmap_lib.data.loading import load
    from heatmap_lib.data.mapping import is_mapping
    from heatmap_lib.data.prepared import save_prepared

    started = time.perf_counter()
    check_notebook_parameters(spec)
    nb = nbformat.read(str(spec.notebook), as_version=4)
    nb.cells.insert(0, reset_cell(spec.notebook.parent))
    with contextlib.ExitStack() as stack:
        previous = None
        if resume is not None:
            folder = find_run(spec, resume)
            _check_writable(folder)
            stack.callback(RunLock(folder).acquire().release)
            previous = previous_run(spec, folder)
            if not previous.reasons and previous.manifest.get("status") == "complete" and previous.index_exists:
                return RunResult(previous.run_id, folder, "complete", previous.segments, time.perf_counter() - started)
        _check_writable(spec.output)
        # The data are validated once, into a DuckDB file every kernel opens read-only (prepared.open_data) rather
        # than validating them again per segment: the prepared copy of the cache (prepared.py, reused by later runs
        # while the files are unchanged), hard-linked beside the runs for the run's length so that a newer copy
        # replacing it in the cache cannot take it from under the kernels.
        pinned = Path(stack.enter_context(tempfile.TemporaryDirectory(dir=spec.output, prefix=".heatmap-data-")))
        # a URL's tables stay in their engine: checked once here, then each kernel checks their structure only
        url = _is_url(spec.data)
        mapped = not url and is_mapping(spec.data)  # a mapping file's exports: mapped and loaded into the run's file
        if url:
            dataset = load(spec.data)
        elif mapped:
            dataset = load(spec.data, database=pinned / "dataset.duckdb")
        else:
            usable = prepared_cache.writable()
            dataset = load(spec.data, cache=None if usable else pinned / "cache")
        try:
            if previous is not None:
                check_same_data(previous, dataset)
            _check_workspace(spec, dataset)
            if url:
                sidecar = pinned / "source.json"
                sidecar.write_text(json.dumps({"source": spec.data}), encoding="utf-8")
            elif mapped:
                sidecar = save_prepared(dataset, pinned / "dataset.duckdb")
            else:
                sidecar = prepared_cache.pin(dataset, pinned)
            return _run_loaded(
                spec,
                nb,
                dataset,
                sidecar,
                started,
                progress=progress,
                fresh=fresh_kernels,
                on_segment=on_segment,
                previous=previous,
            )
        finally:
            dataset.close()
    raise AssertionError("unreachable")  # pragma: no cover - the with block returns or raises


def _check_workspace(spec: Spec, dataset: Any) -> None:
    """Refuse, before any segment runs, a spec whose plays store belongs to another dataset."""
    from heatmap_lib.data.plays import STORE_FILE, PlaysError, PlayStore

    workspace = spec.parameters.get(PLAYS_PARAMETER)
    if not isinstance(workspace, str) or not (Path(workspace) / STORE_FILE).is_file():
        return
    try:
        PlayStore(workspace).check_dataset(dataset, bind=False)  # a run only reads the store
    except PlaysError as exc:
        raise SpecError(f"{spec.path or 'spec'}: {PLAYS_PARAMETER}: {exc}") from None


def workspace_record(spec: Spec) -> dict[str, Any]:
    """What the manifest says about plays: the workspace the spec names (and its dataset), or that there is none."""
    from heatmap_lib.data.plays import store_dataset

    workspace = spec.parameters.get(PLAYS_PARAMETER)
    if not isinstance(workspace, str):
        return {"path": None, "note": "the spec names no workspace: the reports show no plays"}
    bound = store_dataset(workspace)
    return {"path": workspace, "dataset_fingerprint": bound.get("fingerprint"), "dataset_source": bound.get("source")}


def _check_writable(folder: Path) -> None:
    """Create the output folder and prove it takes a file, before anything runs (a clear error, not a traceback)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".heatmap-probe-")
        os.close(fd)
        Path(probe).unlink()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise HeatmapError(f"output folder {folder} cannot be written: {reason}") from None


def _run_loaded(
    spec: Spec,
    nb: Any,
    dataset: Any,
    sidecar: Path,
    started: float,
    *,
    progress: bool,
    fresh: bool,
    on_segment: Callable[[SegmentResult], None] | None,
    previous: Previous | None = None,
) -> RunResult:
    """Set up a new run (or take over the run being resumed) and run its segments under the run folder's lock."""
    lock = None
    resume_record: dict[str, Any] | None = None
    if previous is None:
        values = resolve_segments(spec, dataset)
        names = segment_file_names(values)
        run_id, folder = _new_run_folder(spec.output)
        lock = RunLock(folder).acquire()
        segments = [SegmentResult(value=v, slug=names[v]) for v in values]
        todo = list(segments)
        earlier_seconds = 0.0
        manifest: dict[str, Any] = {
            "format": 1,
            "status": "running",
            "run_id": run_id,
            "started_at": _now(),
            "finished_at": None,
            "seconds": None,
            "spec": spec.as_dict(),
            "notebook_sha256": _file_sha256(spec.notebook),
            "kernels": "fresh per segment"
            if fresh
            else f"one per worker, reset between segments (<= {KERNEL_REUSE_LIMIT})",
            "data": {
                "path": _redact(spec.data),
                "fingerprint": dataset.fingerprint(),
                "rows": dict(dataset.rows),
                "excluded": dataset.exclusion_note(),
                "without_segment": _without_segment(spec, dataset),
            },
            "workspace": workspace_record(spec),
            "versions": _versions(),
            "counts": {},
            "segments": [],
            "index": None,
        }
    else:
        run_id, folder, manifest, segments = previous.run_id, previous.folder, previous.manifest, previous.segments
        todo = [s for s in segments if s.value in previous.reasons]
        earlier_seconds = float(manifest.get("seconds") or 0)
        resume_record = {
            "started_at": _now(),
            "finished_at": None,
            "status": "running",
            "previous_status": manifest.get("status"),
            "segments": {s.value: previous.reasons[s.value] for s in todo},
            "workers": spec.workers,
            "timeout": spec.timeout,
            "versions": _versions(),
        }
        # from here the run is not complete: no index until it is again
        (folder / "index.html").unlink(missing_ok=True)
        for seg in todo:
            prepare_retry(folder, seg, previous.reasons[seg.value])
        manifest.pop("interrupted_by", None)
        manifest.update(status="running", finished_at=None, index=None)
        manifest.setdefault("notebook_sha256", _file_sha256(spec.notebook))
        manifest["resumes"] = [*manifest.get("resumes", []), resume_record]
    try:
        return _run_segments(
            spec,
            nb,
            sidecar,
            started,
            run_id=run_id,
            folder=folder,
            manifest=manifest,
            segments=segments,
            todo=todo,
            earlier_seconds=earlier_seconds,
            resume_record=resume_record,
            dataset=dataset,
            progress=progress,
            fresh=fresh,
            on_segment=on_segment,
        )
    finally:
        if lock is not None:
            lock.release()


def _run_segments(
    spec: Spec,
    nb: Any,
    sidecar: Path,
    started: float,
    *,
    run_id: str,
    folder: Path,
    manifest: dict[str, Any],
    segments: list[SegmentResult],
    todo: list[SegmentResult],
    earlier_seconds: float,
    resume_record: dict[str, Any] | None,
    dataset: Any,
    progress: bool,
    fresh: bool,
    on_segment: Callable[[SegmentResult], None] | None,
) -> RunResult:
    """Run `todo` (all of `segments`, or what a resume runs again), then write the index and the manifest."""
    from heatmap_lib.core.progress import Progress
    from heatmap_lib.core.progress import progress as progress_output
    from heatmap_lib.reports import snapshot as report

    ctx = Context(spec=spec, folder=folder, notebook=nb, data_name=_data_name(spec.data), fresh_kernels=fresh)
    ctx.xray_pages = set(XRAY_PARAMETERS) <= set(declared_parameters(spec.notebook))
    ctx.plays_parameter = PLAYS_PARAMETER in declared_parameters(spec.notebook)
    ctx.km_class = kernel_manager_class()
    # Unix socket paths are limited to about 100 characters: the folder is a short one in the system temp dir
    ctx.sockets = Path(tempfile.mkdtemp(prefix="heatmap-")) if os.name == "posix" else None
    (folder / "notebooks").mkdir(exist_ok=True)

    def save(status: str | None = None) -> None:
        if status:
            manifest["status"] = status
            if resume_record is not None:
                resume_record["status"] = status
                resume_record["finished_at"] = manifest["finished_at"]
        manifest["segments"] = [s.as_dict() for s in segments]
        manifest["counts"] = {
            k: sum(s.status == k for s in segments)
            for k in ("ok", "failed", "running", "pending", "interrupted", "cancelled")
        }
        manifest["seconds"] = _round(earlier_seconds + time.perf_counter() - started)
        _write_json(folder / "manifest.json", manifest)

    in_main = threading.current_thread() is threading.main_thread()
    previous_term = signal.getsignal(signal.SIGTERM) if in_main else None
    previous_int = signal.getsignal(signal.SIGINT) if in_main else None
    bar: Progress | None = None
    threads: list[threading.Thread] = []
    reader = None  # a read-only view of the data, opened only if a notebook records no headline figures
    try:
        save()
        # the kernels open the data read-only: DuckDB lets several processes read a file nobody writes
        dataset.close()
        ctx.kernel_env = {PREPARED_ENV: str(sidecar)}
        if in_main:
            signal.signal(signal.SIGTERM, _on_sigterm)
        desc = f"heatmap run {run_id}" + (" (resumed)" if resume_record is not None else "")
        bar = progress_output(len(todo), desc, unit="segment", enabled=progress)
        queued: queue.Queue = queue.Queue()
        done: queue.Queue = queue.Queue()
        for seg in todo:
            queued.put(seg)
        threads = [
            threading.Thread(target=worker, args=(ctx, queued, done), name=f"heatmap-run-{i}", daemon=True)
            for i in range(min(spec.workers, len(todo)))
        ]
        for t in threads:
            t.start()
        finished = 0
        while finished < len(todo):
            try:
                seg = done.get(timeout=0.5)
            except queue.Empty:
                if not any(t.is_alive() for t in threads) and done.empty():
                    raise HeatmapError("the batch workers stopped with segments left undone") from None
                continue
            finished += 1
            if seg.status == "ok" and seg.headline is None:  # the notebook recorded none: compute them here
                if reader is None:
                    reader = open_data(spec.data, prepared=sidecar)
                seg.headline = report.segment_headline(
                    reader,
                    spec.filters,
                    segment_by=spec.segment_by,
                    segment=seg.value,
                    red_below=spec.parameters.get("red_below"),
                    green_above=spec.parameters.get("green_above"),
                ).as_dict()
            bar.step(f"{seg.value}: {seg.status}; {sum(s.status == 'failed' for s in segments)} failed")
            if on_segment is not None:
                on_segment(seg)
            save()
        for t in threads:
            t.join()
        index = report.render_index(manifest_for_index(manifest, segments, ctx))
        atomic_write(folder / "index.html", index)
        manifest["index"] = "index.html"
        manifest["finished_at"] = _now()
        save("complete")  # the last write: only now does the run look complete
    except KeyboardInterrupt as exc:
        if in_main:  # a second Ctrl-C must not cut the clean-up short
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        ctx.stop.set()
        stop_workers(ctx, threads)
        for seg in segments:
            if seg.status in ("pending", "running"):
                seg.status = "interrupted" if seg.status == "running" else "cancelled"
        for partial in (folder / "notebooks").glob(".*.partial.ipynb"):
            partial.unlink(missing_ok=True)
        manifest["finished_at"] = _now()
        manifest["interrupted_by"] = "SIGTERM" if isinstance(exc, _Interrupted) else "KeyboardInterrupt"
        save("interrupted")
        raise RunInterrupted(run_id, folder, manifest["interrupted_by"]) from exc
    except OSError as exc:  # the manifest or the index could not be written: the disk is full, the folder gone
        failure = write_failure(exc, folder)
        if failure is None:
            raise
        raise HeatmapError(
            f"run {run_id} stopped: {failure[1]}; the reports written so far are kept: make room, then finish the "
            f"run with --resume {run_id}"
        ) from exc
    finally:
        ctx.stop.set()
        stop_workers(ctx, threads, patience=0 if all(not t.is_alive() for t in threads) else 30.0)
        if bar is not None:
            bar.close()
        if reader is not None:
            reader.close()
        if ctx.sockets is not None:
            shutil.rmtree(ctx.sockets, ignore_errors=True)
        for signum, handler in ((signal.SIGTERM, previous_term), (signal.SIGINT, previous_int)):
            if in_main and handler is not None:
                signal.signal(signum, handler)
    return RunResult(
        run_id, folder, "complete", segments, time.perf_counter() - started, resumed=[s.value for s in todo]
    )


def manifest_for_index(manifest: Mapping[str, Any], segments: Sequence[SegmentResult], ctx: Context) -> dict:
    """What the index page shows: run facts and one row per segment."""
    return {
        "run_id": manifest["run_id"],
        "started_at": manifest["started_at"],
        "spec_file": Path(ctx.spec.path).name if ctx.spec.path else None,
        "data_name": ctx.data_name,
        "fingerprint": manifest["data"]["fingerprint"],
        "excluded": manifest["data"]["excluded"],
        "segment_by": ctx.spec.segment_by,
        "filters": ctx.spec.filters.describe(),
        "versions": manifest["versions"],
        "segments": [s.as_dict() for s in segments],
    }
