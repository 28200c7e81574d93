"""The workers' kernels and one segment's execution: run its notebook, convert it to a page, record a failure.

Each worker (`worker`, a thread) keeps one kernel (`_KernelSlot`) for its segments, clearing its names before each
(`reset_cell`), and replaces it after a failure or `KERNEL_REUSE_LIMIT` segments. A segment's failure is recorded
in its result (`_error_record`; a write that failed for want of room or permission is `DiskFull` or `NotWritable`,
`write_failure`), never raised. `stop_workers` kills the kernels until the worker threads return.
"""

from __future__ import annotations

import contextlib
import copy
import errno
import hashlib
import os
import queue
import re
import tempfile
import threading
import time
import traceback
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from heatmap_lib.core.files import atomic_write, name_file
from heatmap_lib.reports.batch._common import _now
from heatmap_lib.reports.batch.results import SegmentResult
from heatmap_lib.reports.batch.spec import PLAYS_PARAMETER, Spec, notebook_parameters

KERNEL = "python3"
HEADLINE_MIME = "application/vnd.heatmap.headline+json"  # the figures a snapshot records (report.HEADLINE_MIME)
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# errno of a write that failed for want of room or permission: (error type, reason) as the manifest shows them
WRITE_FAILURES: dict[int, tuple[str, str]] = {
    errno.ENOSPC: ("DiskFull", "disk full (no space left on device)"),
    errno.EDQUOT: ("DiskFull", "disk full (disk quota exceeded)"),
    errno.EFBIG: ("DiskFull", "file too large (the disk's or this process's file-size limit was reached)"),
    errno.EROFS: ("NotWritable", "read-only file system"),
    errno.EACCES: ("NotWritable", "permission denied"),
    errno.EPERM: ("NotWritable", "operation not permitted"),
}
_ERRNO_TEXT = re.compile(r"^\[Errno (\d+)\] [^:]*(?:: '(.*)')?$")  # str(OSError) as a kernel reports it


def write_failure(exc: BaseException, folder: Path | None = None) -> tuple[str, str] | None:
    """(error type, message) when `exc` is a write that failed for want of room or permission, else None.

    The message names the file (relative to `folder` when inside it): "cannot write west.html: disk full ...".
    """
    if not isinstance(exc, OSError) or exc.errno not in WRITE_FAILURES:
        return None
    kind, reason = WRITE_FAILURES[exc.errno]
    return kind, f"cannot write {_shown_path(exc.filename, folder)}: {reason}"


def _shown_path(filename: Any, folder: Path | None) -> str:
    if not filename:
        return "a file"
    path = Path(os.fsdecode(filename))
    if folder is not None:
        with contextlib.suppress(ValueError):
            return path.relative_to(folder).as_posix()
    return str(path)


KERNEL_REUSE_LIMIT = 25  # segments one kernel runs before it is replaced (bounds what a long run accumulates)
RESET_TAG = "heatmap-reset"


def kernel_manager_class() -> type:
    """The kernel manager class a run's workers use: jupyter_client's, with a log, extra environment and its clients."""
    from jupyter_client.manager import AsyncKernelManager

    class TrackedKernelManager(AsyncKernelManager):
        """A kernel manager with a log for the kernel process's output, extra environment, and its clients.

        nbclient leaves the clients it opens on a manager it does not own running; `heatmap_clients` lets the
        worker stop them.
        """

        heatmap_log: Any = None
        heatmap_env: Mapping[str, str] | None = None

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.heatmap_clients: list[Any] = []

        async def start_kernel(self, **kw: Any) -> None:  # type: ignore[override]
            # the kernel process's own stdout/stderr (startup warnings, crashes) go to a log, not the progress bar
            if self.heatmap_log is not None:
                kw.setdefault("stdout", self.heatmap_log)
                kw.setdefault("stderr", self.heatmap_log)
            if self.heatmap_env:
                kw["env"] = {**kw.get("env", os.environ), **self.heatmap_env}
            await super().start_kernel(**kw)

        def client(self, **kwargs: Any) -> Any:
            kc = super().client(**kwargs)
            self.heatmap_clients.append(kc)
            return kc

    return TrackedKernelManager


def _kill_kernels(kernels: Iterable[Any]) -> None:
    """Kill kernel processes outright (safe from any thread: no event loop involved)."""
    for km in list(kernels):
        process = getattr(getattr(km, "provisioner", None), "process", None)
        try:
            if process is not None and process.poll() is None:
                process.kill()
        except (OSError, ValueError):
            pass


def _stop_clients(km: Any) -> None:
    for kc in km.heatmap_clients:
        with contextlib.suppress(Exception):  # a client of a killed kernel may fail to stop; it is dropped anyway
            kc.stop_channels()
    km.heatmap_clients.clear()


def reset_cell(folder: Path) -> Any:
    """A first cell that clears what a previous segment left in a reused kernel: names, working directory."""
    import nbformat

    cell = nbformat.v4.new_code_cell(
        "%reset -f\n"
        "import gc as _heatmap_gc, os as _heatmap_os\n"
        f"_heatmap_os.chdir({str(folder)!r})\n"
        "_heatmap_gc.collect()\n"
        "del _heatmap_gc, _heatmap_os"
    )
    cell.metadata["tags"] = [RESET_TAG]
    return cell


def _strip_reset(nb: Any) -> Any:
    nb.cells = [c for c in nb.cells if RESET_TAG not in c.get("metadata", {}).get("tags", [])]
    return nb


class _KernelSlot:
    """One worker's kernel: created on demand, reused for up to KERNEL_REUSE_LIMIT segments, replaced on failure.

    With `fresh_kernels`, every segment gets a new kernel.
    """

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.km: Any = None
        self.log: Any = None
        self.used = 0

    def acquire(self) -> Any:
        """The kernel manager for the next segment (nbclient starts its kernel in the notebook's folder)."""
        if self.km is not None and (self.ctx.fresh_kernels or self.used >= KERNEL_REUSE_LIMIT):
            self.dispose()
        if self.km is None:
            self.log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the kernel, closed in dispose()
            self.km = self.ctx.km_class(kernel_name=KERNEL, **self.ctx.transport())  # type: ignore[misc]
            self.km.heatmap_log = self.log
            self.km.heatmap_env = self.ctx.kernel_env
            self.used = 0
            with self.ctx.lock:
                self.ctx.kernels.add(self.km)
        self.used += 1
        return self.km

    def release_clients(self) -> None:
        if self.km is not None:
            _stop_clients(self.km)

    def log_text(self) -> bytes:
        if self.log is None:
            return b""
        self.log.flush()
        self.log.seek(0)
        text = self.log.read()
        self.log.seek(0, os.SEEK_END)
        return text

    def dispose(self) -> None:
        """Stop the kernel now (outputs are already in) and forget it."""
        from jupyter_core.utils import run_sync

        km, self.km = self.km, None
        if km is None:
            return
        _stop_clients(km)
        try:
            if km.has_kernel:
                run_sync(km.shutdown_kernel)(now=True)
        except Exception:  # already dead or half started: make sure the process is gone
            _kill_kernels([km])
        with self.ctx.lock:
            self.ctx.kernels.discard(km)
        if self.log is not None:
            self.log.close()
            self.log = None


@dataclass
class Context:
    """What one run's workers share: the spec, run folder and notebook, their kernels and lock, the stop signal."""

    spec: Spec
    folder: Path
    notebook: Any  # nbformat.NotebookNode, read once, with the reset cell first
    data_name: str
    fresh_kernels: bool = False
    stop: threading.Event = field(default_factory=threading.Event)
    kernels: set[Any] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    km_class: type | None = None
    kernel_env: dict[str, str] = field(default_factory=dict)
    sockets: Path | None = None  # a short private folder for the kernels' IPC sockets
    kernels_started: int = 0
    xray_pages: bool = False  # the notebook declares XRAY_PARAMETERS: each segment writes its X-Ray pages
    plays_parameter: bool = False  # the notebook declares PLAYS_PARAMETER (its plays store's folder)

    def parameters(self, seg: SegmentResult) -> dict[str, Any]:
        """The parameters papermill injects for one segment (with the X-Ray folder and link when declared)."""
        params = notebook_parameters(self.spec, seg.value)
        if self.plays_parameter:
            params.setdefault(PLAYS_PARAMETER, None)  # no workspace named: no plays, not the notebook's default
        if self.xray_pages:
            params["xray_dir"] = str(self.folder / "xray" / seg.slug)
            params["xray_href"] = f"xray/{seg.slug}/{{account_id}}.html"
        return params

    def transport(self) -> dict[str, str]:
        """Kernel transport: Unix sockets in a private folder (no TCP port races between parallel kernels)."""
        if self.sockets is None or os.name != "posix":
            return {}
        with self.lock:
            self.kernels_started += 1
            n = self.kernels_started
        return {"transport": "ipc", "ip": str(self.sockets / f"k{n}")}


def _headline_from(nb: Any) -> dict[str, Any] | None:
    """The headline figures a snapshot recorded in the executed notebook (the last one), if any."""
    found = None
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data") or {}
            if HEADLINE_MIME in data:
                found = data[HEADLINE_MIME]
    return dict(found) if isinstance(found, Mapping) else None


def _error_record(exc: BaseException, folder: Path | None = None) -> dict[str, Any]:
    """The manifest's record of a failure: type, one-line message, traceback (and the cell, for a notebook error).

    A write that failed for want of room or permission, here or in the kernel, is a `DiskFull` or `NotWritable`
    error whose message names the file (relative to the run folder `folder`).
    """
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, PapermillExecutionError):
        tb = _ANSI.sub("", "\n".join(exc.traceback or []))
        record = {"type": exc.ename, "message": _ANSI.sub("", str(exc.evalue)), "cell": exc.exec_count, "traceback": tb}
        found = _ERRNO_TEXT.match(record["message"]) if exc.ename in ("OSError", "PermissionError") else None
        if found and int(found.group(1)) in WRITE_FAILURES:  # the notebook itself could not write (X-Ray pages)
            kind, reason = WRITE_FAILURES[int(found.group(1))]
            record |= {"type": kind, "message": f"cannot write {_shown_path(found.group(2), folder)}: {reason}"}
        return record
    record = {
        "type": type(exc).__name__,
        "message": str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
        "traceback": "".join(traceback.format_exception(exc)),
    }
    failure = write_failure(exc, folder)
    if failure:
        record["type"], record["message"] = failure
    return record


def _execute(ctx: Context, seg: SegmentResult, partial: Path, km: Any) -> Any:
    """Run papermill on one segment; return the executed notebook, or None after recording the failure."""
    import papermill as pm

    timed_out = threading.Event()
    timer = None
    if ctx.spec.timeout:

        def expire() -> None:
            timed_out.set()
            _kill_kernels([km])

        timer = threading.Timer(ctx.spec.timeout, expire)
        timer.daemon = True
        timer.start()
    try:
        return pm.execute_notebook(
            copy.deepcopy(ctx.notebook),
            str(partial),
            parameters=ctx.parameters(seg),
            kernel_name=KERNEL,
            request_save_on_cell_execute=False,  # one write at the end (or on error), not one per cell
            progress_bar=False,
            log_output=False,
            start_timeout=120,
            execution_timeout=ctx.spec.timeout,
            # the kernel's working directory is the notebook's folder, as in JupyterLab; not papermill's `cwd`,
            # which chdirs this whole process and so races between worker threads
            resources={"metadata": {"path": str(ctx.spec.notebook.parent)}},
            km=km,
        )
    except Exception as exc:  # papermill, nbclient and jupyter_client raise many types; record any of them
        seg.status = "failed"
        if isinstance(exc, OSError):  # papermill could not write the executed notebook
            name_file(exc, partial)
        seg.error = _error_record(exc, ctx.folder)
        if timed_out.is_set():
            seg.error |= {
                "type": "Timeout",
                "message": f"segment exceeded the spec's timeout of {ctx.spec.timeout:g} s",
            }
        return None
    finally:
        if timer is not None:
            timer.cancel()


def _run_segment(ctx: Context, seg: SegmentResult, slot: _KernelSlot) -> SegmentResult:
    """Execute and convert one segment (in a worker thread); a notebook error is recorded, never raised.

    Whatever happens, no partial file of the segment is left: papermill's partial notebook and any temporary file
    the notebook left among its X-Ray pages are removed.
    """
    import nbformat

    from heatmap_lib.reports import snapshot as report

    if ctx.stop.is_set():
        seg.status = "cancelled"
        return seg
    start = time.perf_counter()
    seg.started_at = _now()
    seg.status = "running"
    seg.attempts += 1
    nb_dir = ctx.folder / "notebooks"
    partial = nb_dir / f".{seg.slug}.partial.ipynb"  # papermill writes here; the final file is written whole
    try:
        executed = _execute(ctx, seg, partial, slot.acquire())
        slot.release_clients()
        seg.execute_seconds = time.perf_counter() - start
        if ctx.stop.is_set():
            seg.status, seg.error = "interrupted", None
            return seg
        if executed is None:  # keep what the kernel process printed, then start the next segment on a new kernel
            text = slot.log_text()
            slot.dispose()
            # the failed notebook and the log are for diagnosis: when even they cannot be written (a full disk),
            # the segment's own error is the one to report
            with contextlib.suppress(OSError):
                if text.strip():
                    log = atomic_write(ctx.folder / "logs" / f"{seg.slug}.log", text)
                    seg.log = log.relative_to(ctx.folder).as_posix()
                failed = _read_notebook(partial)
                if failed is not None:
                    final = atomic_write(nb_dir / f"{seg.slug}.ipynb", nbformat.writes(_strip_reset(failed)))
                    seg.notebook = final.relative_to(ctx.folder).as_posix()
            return seg
        t = time.perf_counter()
        try:
            final = atomic_write(nb_dir / f"{seg.slug}.ipynb", nbformat.writes(_strip_reset(executed)))
            seg.notebook = final.relative_to(ctx.folder).as_posix()
            seg.headline = _headline_from(executed)
            page = report.notebook_to_html(executed, title=f"Customer heat map: {ctx.spec.segment_by} {seg.value}")
            if ctx.stop.is_set():
                raise KeyboardInterrupt
            data = page.encode("utf-8")
            seg.html = atomic_write(ctx.folder / f"{seg.slug}.html", data).name
            seg.html_sha256 = hashlib.sha256(data).hexdigest()
            pages = ctx.folder / "xray" / seg.slug
            if pages.is_dir():
                seg.xray = pages.relative_to(ctx.folder).as_posix()
                seg.xray_pages = sum(1 for _ in pages.glob("*.html"))
            seg.status = "ok"
        except KeyboardInterrupt:
            seg.status = "interrupted"
        except Exception as exc:
            seg.status = "failed"
            seg.error = _error_record(exc, ctx.folder)
        seg.convert_seconds = time.perf_counter() - t
        return seg
    finally:
        partial.unlink(missing_ok=True)
        _remove_temporaries(ctx.folder / "xray" / seg.slug)
        seg.seconds = time.perf_counter() - start


def _read_notebook(path: Path) -> Any:
    """The notebook papermill left at `path`, or None when there is none or it is not whole (a full disk)."""
    import nbformat

    try:
        return nbformat.read(str(path), as_version=4) if path.exists() else None
    except Exception:  # truncated JSON, invalid notebook: nbformat raises several types
        return None


def _remove_temporaries(folder: Path) -> None:
    """Remove the temporary files a failed or killed writer left in `folder` (atomic writes name them `.*.tmp`)."""
    if folder.is_dir():
        for tmp in folder.glob(".*.tmp"):
            tmp.unlink(missing_ok=True)


def worker(ctx: Context, todo: queue.Queue, done: queue.Queue) -> None:
    """A worker thread: take segments until none is left (or the run stops), with one kernel at a time."""
    slot = _KernelSlot(ctx)
    try:
        while not ctx.stop.is_set():
            try:
                seg = todo.get_nowait()
            except queue.Empty:
                return
            try:
                _run_segment(ctx, seg, slot)
            except Exception as exc:  # a bug (or a failed write) here must fail the segment, not hang the run
                seg.status, seg.error = "failed", _error_record(exc, ctx.folder)
                slot.dispose()
            done.put(seg)
    finally:
        slot.dispose()


def stop_workers(ctx: Context, threads: Sequence[threading.Thread], patience: float = 30.0) -> None:
    """Kill the workers' kernels until their threads return (a kernel may still be starting)."""
    deadline = time.monotonic() + patience
    while any(t.is_alive() for t in threads) and time.monotonic() < deadline:
        with ctx.lock:
            kernels = list(ctx.kernels)
        _kill_kernels(kernels)
        for t in threads:
            t.join(timeout=0.2)
