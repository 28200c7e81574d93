"""Scheduled runs (DESIGN.md section 7): one papermill run per segment, offline HTML reports, an index, a manifest.

`load_spec` reads and checks a batch spec (YAML) before anything runs; `run` executes the spec's notebook once per
segment through papermill's Python API in this one process (`workers` kernels at a time, each its own process),
converts each executed notebook to a self-contained HTML page (`report.notebook_to_html`) and writes
`<output>/<run id>/`:

    index.html          every segment with its headline figures (written once all segments are done)
    manifest.json       spec, data fingerprint, versions, per-segment status, timings, files, errors
    <segment>.html      one offline report per segment that succeeded
    notebooks/<segment>.ipynb   the executed notebooks, failed ones included

Every file is written atomically (a temporary file in the same folder, then `os.replace`). `manifest.json` says
`"status": "running"` from the start and `"complete"` only once the index is written, as the last write; an
interrupted run (Ctrl-C, SIGTERM) stops its kernels, writes no index and leaves `"status": "interrupted"`. A write
that fails (disk full, file too large, read-only folder) fails its segment with a `DiskFull` or `NotWritable` error
naming the file, and leaves no partial file behind.

Resuming (`run(spec, resume=RUN_ID)`, `heatmap run SPEC --resume RUN_ID|latest`) finishes an earlier run in its own
folder: the spec (all but workers, timeout and output), the notebook's bytes and the data's fingerprint must be
those of the run, else `ResumeError` says what differs. The segments that are not ok (failed, timed out,
interrupted, cancelled, never finished) or whose files are missing or damaged (each report's SHA-256 is in the
manifest) run again; the others are kept as they are; then the index and the manifest are written again, the
manifest recording each segment's attempts and each resume. A lock file in the run folder keeps two processes
from running the same folder at once.

Cost: importing pandas, Ibis and Bokeh costs a fresh kernel about three times what starting it does, and
validating the data again per segment grows with the data. So the run validates the data once, into a DuckDB file
each kernel opens read-only (`prepared.open_data`), and each worker keeps its kernel for the next segment after
clearing its names (`%reset -f`, working directory restored); a kernel whose segment failed is replaced, and
`fresh_kernels=True` (`--fresh-kernels`) gives every segment a new one. Kernels talk over Unix sockets, so
parallel kernel starts cannot race for TCP ports.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import errno
import hashlib
import json
import os
import platform
import queue
import re
import secrets
import shutil
import signal
import tempfile
import threading
import time
import traceback
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from heatmap_lib.core.exceptions import FilterError, HeatmapError, SpecError
from heatmap_lib.core.files import atomic_write, name_file
from heatmap_lib.core.progress import PREPARED_ENV
from heatmap_lib.data.prepared import open_data
from heatmap_lib.filters import FilterSet

__all__ = [
    "BATCH_PARAMETERS",
    "SPEC_KEYS",
    "ResumeError",
    "RunInterrupted",
    "RunResult",
    "SegmentResult",
    "Spec",
    "load_spec",
    "notebook_parameters",
    "resolve_segments",
    "resume_command",
    "run",
    "segment_file_names",
    "slugify",
    "spec_differences",
    "write_failure",
]

SPEC_KEYS: tuple[str, ...] = (
    "notebook",
    "data",
    "segment_by",
    "segments",
    "filters",
    "output",
    "workers",
    "parameters",
    "include_emails",
    "timeout",
)
REQUIRED_KEYS: tuple[str, ...] = ("notebook", "data", "segment_by", "output")
# What `heatmap run` passes to every notebook; the notebook's `parameters` cell must declare each of them.
BATCH_PARAMETERS: tuple[str, ...] = ("data", "filters", "segment_by", "segment", "include_emails", "batch")
# Set when the notebook declares them: where the segment writes its X-Ray pages, and how its report links to them.
XRAY_PARAMETERS: tuple[str, ...] = ("xray_dir", "xray_href")
# The plays store's folder: a spec names it, or its reports show no plays (never a notebook's default workspace).
PLAYS_PARAMETER = "workspace"
KERNEL = "python3"
HEADLINE_MIME = "application/vnd.heatmap.headline+json"  # the figures a snapshot records (report.HEADLINE_MIME)
MAX_SLUG = 60
RESERVED_NAMES = frozenset({"index", "manifest", "notebooks", "con", "prn", "aux", "nul"})
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


# --------------------------------------------------------------------------------------------------------------
# the spec


@dataclass(frozen=True)
class Spec:
    """A checked batch spec: paths are absolute (resolved against the spec file), filters a `FilterSet`.

    `segments` is None for "all"; `parameters` are extra notebook parameters (each declared by the notebook);
    `timeout` is the wall-clock limit of one segment in seconds (None: none).
    """

    notebook: Path
    data: str
    segment_by: str
    output: Path
    segments: tuple[str, ...] | None = None
    filters: FilterSet = field(default_factory=FilterSet)
    workers: int = 2
    parameters: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    include_emails: bool = False
    timeout: float | None = None
    path: Path | None = None  # the spec file, when read from one

    def replace(self, **changes: Any) -> Spec:
        """A copy with some fields changed (for command-line overrides such as `--workers`)."""
        return replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        """The spec as plain JSON-able data (for the manifest)."""
        return {
            "file": str(self.path) if self.path else None,
            "notebook": str(self.notebook),
            "data": _redact(self.data),
            "segment_by": self.segment_by,
            "segments": list(self.segments) if self.segments is not None else "all",
            "filters": self.filters.to_dict(),
            "output": str(self.output),
            "workers": self.workers,
            "parameters": dict(self.parameters),
            "include_emails": self.include_emails,
            "timeout": self.timeout,
        }


def _resolve(base: Path, value: str) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else (base / p).resolve()


def _is_url(value: str) -> bool:
    return "://" in value


def _redact(data: str) -> str:
    """A data URL without its password (manifests and index pages are shared); a path as it is."""
    from heatmap_lib.data.engines import redact

    return redact(data)


def _data_name(data: str) -> str:
    return _redact(data) if _is_url(data) else Path(data).name


def _plain(value: Any, where: str) -> Any:
    """A parameter value papermill can write as a Python literal (YAML dates become ISO text)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_plain(v, where) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v, where) for k, v in value.items()}
    raise SpecError(f"{where}: {value!r} is not a value a notebook parameter can take")


def _text(spec: Mapping[str, Any], key: str, source: str) -> str:
    value = spec[key]
    if not isinstance(value, str) or not value.strip():
        raise SpecError(f"{source}: {key} must be a non-empty text, not {value!r}")
    return value.strip()


def load_spec(path: str | Path, *, check_notebook: bool = True) -> Spec:
    """Read a batch spec (YAML, safe loader) and check it: keys, types, paths and the notebook's parameters.

    Raises `SpecError` naming the file and the problem: an unknown key, a missing key, a value of the wrong
    type, a filter set that does not load, or a parameter the notebook's `parameters` cell does not declare.
    """
    p = Path(path)
    source = str(p)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"{source}: cannot read the spec ({exc.strerror})") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SpecError(f"{source}: not valid YAML ({exc})") from None
    if not isinstance(raw, Mapping):
        raise SpecError(f"{source}: a spec is a mapping of keys ({', '.join(SPEC_KEYS)})")
    unknown = [str(k) for k in raw if k not in SPEC_KEYS]
    if unknown:
        raise SpecError(
            f"{source}: unknown key{'s' * (len(unknown) > 1)} {', '.join(map(repr, unknown))} "
            f"(known keys: {', '.join(SPEC_KEYS)})"
        )
    missing = [k for k in REQUIRED_KEYS if raw.get(k) in (None, "")]
    if missing:
        raise SpecError(f"{source}: missing key{'s' * (len(missing) > 1)} {', '.join(missing)}")
    base = p.resolve().parent
    notebook = _resolve(base, _text(raw, "notebook", source))
    data = _text(raw, "data", source)
    data = data if _is_url(data) else str(_resolve(base, data))
    segment_by = _text(raw, "segment_by", source)
    output = _resolve(base, _text(raw, "output", source))

    segments_raw = raw.get("segments", "all")
    segments: tuple[str, ...] | None
    if segments_raw is None or segments_raw == "all":
        segments = None
    elif isinstance(segments_raw, list) and segments_raw:
        values = [_plain(v, f"{source}: segments") for v in segments_raw]
        if any(v is None or isinstance(v, list | dict) for v in values):
            raise SpecError(f"{source}: segments must be 'all' or a list of values, not {segments_raw!r}")
        segments = tuple(dict.fromkeys(str(v).strip() for v in values))
    else:
        raise SpecError(f"{source}: segments must be 'all' or a non-empty list of values, not {segments_raw!r}")

    filters_raw = raw.get("filters")
    try:
        if filters_raw is None:
            filters = FilterSet()
        elif isinstance(filters_raw, Mapping):
            filters = FilterSet.from_dict(filters_raw, source=f"{source}: filters")
        elif isinstance(filters_raw, str):
            filters = FilterSet.load(_resolve(base, filters_raw))
        else:
            raise SpecError(f"{source}: filters must be a mapping or the path of a filter-set file")
    except FilterError as exc:
        raise SpecError(f"{source}: filters: {exc}") from None
    try:  # the segment is added to the filter set: waves and a date range cannot meet
        filters.replace(**{segment_by: ["x"]})
    except FilterError as exc:
        raise SpecError(f"{source}: segment_by {segment_by} with these filters: {exc}") from None

    workers = raw.get("workers", 2)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise SpecError(f"{source}: workers must be a whole number >= 1, not {workers!r}")
    params_raw = raw.get("parameters") or {}
    if not isinstance(params_raw, Mapping) or not all(isinstance(k, str) for k in params_raw):
        raise SpecError(f"{source}: parameters must be a mapping of parameter names to values")
    parameters = {k: _plain(v, f"{source}: parameters.{k}") for k, v in params_raw.items()}
    if isinstance(parameters.get(PLAYS_PARAMETER), str):  # a folder, relative to the spec file like every path
        parameters[PLAYS_PARAMETER] = str(_resolve(base, parameters[PLAYS_PARAMETER]))
    clash = [k for k in parameters if k in BATCH_PARAMETERS]
    if clash:
        raise SpecError(
            f"{source}: parameters {', '.join(map(repr, clash))} are set by `heatmap run` itself "
            "(use the spec's own keys: data, filters, segment_by, segments, include_emails)"
        )
    include_emails = raw.get("include_emails", False)
    if not isinstance(include_emails, bool):
        raise SpecError(f"{source}: include_emails must be true or false, not {include_emails!r}")
    timeout = raw.get("timeout")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0):
        raise SpecError(f"{source}: timeout must be a number of seconds > 0, not {timeout!r}")

    spec = Spec(
        notebook=notebook,
        data=data,
        segment_by=segment_by,
        output=output,
        segments=segments,
        filters=filters,
        workers=workers,
        parameters=MappingProxyType(parameters),
        include_emails=include_emails,
        timeout=float(timeout) if timeout is not None else None,
        path=p.resolve(),
    )
    if check_notebook:
        check_notebook_parameters(spec)
    return spec


def declared_parameters(notebook: str | Path) -> dict[str, Any]:
    """The parameters a notebook's `parameters`-tagged cell declares (papermill's own inspection)."""
    import papermill as pm

    path = Path(notebook)
    if not path.is_file():
        raise SpecError(f"notebook {path} does not exist")
    try:
        params = pm.inspect_notebook(str(path))
    except Exception as exc:  # nbformat and papermill raise several types for an unreadable notebook
        raise SpecError(f"notebook {path}: cannot be read ({exc})") from None
    return params


def check_notebook_parameters(spec: Spec) -> None:
    """Raise `SpecError` unless the notebook declares every batch parameter and every spec parameter."""
    declared = declared_parameters(spec.notebook)
    where = f"{spec.path}: " if spec.path else ""
    if not declared:
        raise SpecError(f"{where}notebook {spec.notebook} has no cell tagged `parameters` (or it assigns nothing)")
    undeclared = [k for k in spec.parameters if k not in declared]
    if undeclared:
        raise SpecError(
            f"{where}parameter{'s' * (len(undeclared) > 1)} {', '.join(map(repr, undeclared))} not declared "
            f"in the parameters cell of {spec.notebook.name} (it declares: {', '.join(declared)})"
        )
    for name, value in spec.parameters.items():
        problem = _type_mismatch(declared[name], value)
        if problem:
            raise SpecError(f"{where}parameter {name!r} = {value!r}: {problem} (the default in {spec.notebook.name})")
    missing = [k for k in BATCH_PARAMETERS if k not in declared]
    if missing:
        raise SpecError(
            f"{where}notebook {spec.notebook.name} does not declare {', '.join(map(repr, missing))} in its "
            f"parameters cell; `heatmap run` passes {', '.join(BATCH_PARAMETERS)} to every segment"
        )


def _type_mismatch(declared: Mapping[str, Any], value: Any) -> str | None:
    """Why `value` cannot stand for a parameter declared with this default (None: it can, or nothing is known)."""
    import ast

    try:
        default = ast.literal_eval(str(declared.get("default")))
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None  # a default that is an expression: its type is not known before the notebook runs
    if default is None or value is None:
        return None
    kinds: list[tuple[type | tuple[type, ...], str]] = [
        (bool, "true or false"),
        (int, "a whole number"),
        (float, "a number"),
        (str, "a text"),
        ((list, tuple), "a list"),
        (dict, "a mapping"),
    ]
    for kind, words in kinds:
        if isinstance(default, kind):
            ok = isinstance(value, kind) and (kind is bool or not isinstance(value, bool))
            if kind is float:
                ok = isinstance(value, int | float) and not isinstance(value, bool)
            return None if ok else f"must be {words}, like {default!r}"
    return None


def notebook_parameters(spec: Spec, segment: str) -> dict[str, Any]:
    """The parameters papermill injects for one segment: the spec's extra parameters, then the batch ones."""
    return {
        **dict(spec.parameters),
        "data": spec.data,
        "filters": spec.filters.to_dict() or None,
        "segment_by": spec.segment_by,
        "segment": segment,
        "include_emails": spec.include_emails,
        "batch": True,
    }


def _without_segment(spec: Spec, dataset: Any) -> int:
    """How many accounts in scope have no `segment_by` value, and so are in no segment's report."""
    if spec.segment_by not in dataset.account_columns:
        return 0  # waves are never empty (the contract requires one per invitation)
    accounts = dataset.table("accounts")
    col = accounts[spec.segment_by].cast("string")
    return int(accounts.filter(col.isnull() | (col.strip() == "")).count().execute())


def resolve_segments(spec: Spec, dataset: Any) -> list[str]:
    """The segment values to run: all distinct values of `segment_by` (within the filter set), or the spec's list.

    `segment_by` must be an accounts column or `wave`; a listed value that does not occur is an error.
    """
    by = spec.segment_by
    if by == "wave":
        values = list(dataset.distinct_values("invitation_facts", "wave"))
    elif by in dataset.account_columns:
        values = list(dataset.distinct_values("accounts", by))
    else:
        cols = ", ".join(dataset.account_columns)
        raise SpecError(f"segment_by {by!r} is neither an accounts column nor wave (accounts columns: {cols})")
    allowed = spec.filters.criteria.get(by)
    if allowed:
        values = [v for v in values if v in allowed]
    if spec.segments is None:
        if not values:
            raise SpecError(f"no {by} values to report on (in the data and the filter set)")
        return values
    unknown = [s for s in spec.segments if s not in values]
    if unknown:
        shown = ", ".join(values[:20]) + (" ..." if len(values) > 20 else "")
        raise SpecError(
            f"segment{'s' * (len(unknown) > 1)} {', '.join(map(repr, unknown))} of {by} not found "
            f"in the data{' within the filter set' if allowed else ''} (values: {shown})"
        )
    return list(spec.segments)


# --------------------------------------------------------------------------------------------------------------
# safe file names


def slugify(value: str) -> str:
    """A file-name-safe, lower-case ASCII form of a segment value ("" when nothing usable is left)."""
    text = unicodedata.normalize("NFKD", str(value)).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()
    return text[:MAX_SLUG].strip("-")


def _short_hash(value: str) -> str:
    return hashlib.sha256(str(value).encode("utf-8")).hexdigest()[:8]


def segment_file_names(values: Iterable[str]) -> dict[str, str]:
    """A distinct, safe file stem per segment value; values whose slugs collide or are empty get a short hash.

    `"A/B"` and `"A-B"` both slugify to `a-b`, so they become `a-b-<hash>` each; `"../../etc"` becomes `etc`; a
    name the run folder uses itself (index, manifest) is disambiguated the same way. Case-insensitive file systems
    are safe: stems are lower case.
    """
    values = list(dict.fromkeys(values))
    slugs = {v: slugify(v) for v in values}
    counts: dict[str, int] = {}
    for s in slugs.values():
        counts[s] = counts.get(s, 0) + 1
    out: dict[str, str] = {}
    for v, s in slugs.items():
        if not s or counts[s] > 1 or s in RESERVED_NAMES:
            s = f"{s}-{_short_hash(v)}" if s else f"segment-{_short_hash(v)}"
        out[v] = s
    return out


# --------------------------------------------------------------------------------------------------------------
# atomic files


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


def _write_json(path: Path, data: Any) -> None:
    atomic_write(path, json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


# --------------------------------------------------------------------------------------------------------------
# results


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


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 3)


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


# --------------------------------------------------------------------------------------------------------------
# kernels: one per worker, reused across its segments (namespace reset), stopped on failure or interrupt

KERNEL_REUSE_LIMIT = 25  # segments one kernel runs before it is replaced (bounds what a long run accumulates)
RESET_TAG = "heatmap-reset"


def _kernel_manager_class() -> type:
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


def _reset_cell(folder: Path) -> Any:
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

    def __init__(self, ctx: _Context) -> None:
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


# --------------------------------------------------------------------------------------------------------------
# running


@dataclass
class _Context:
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


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in ("heatmap", "bokeh", "papermill", "nbconvert", "nbclient", "nbformat", "ipykernel"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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


def _execute(ctx: _Context, seg: SegmentResult, partial: Path, km: Any) -> Any:
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


def _run_segment(ctx: _Context, seg: SegmentResult, slot: _KernelSlot) -> SegmentResult:
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


def _worker(ctx: _Context, todo: queue.Queue, done: queue.Queue) -> None:
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


class _Interrupted(KeyboardInterrupt):
    """Raised in the main thread by SIGTERM, so a terminated run cleans up like an interrupted one."""


class RunInterrupted(KeyboardInterrupt):
    """A run stopped by Ctrl-C or SIGTERM once it recorded so: `run_id` and `folder` say which run to resume."""

    def __init__(self, run_id: str, folder: Path, by: str) -> None:
        super().__init__(f"run {run_id} interrupted by {by}")
        self.run_id = run_id
        self.folder = folder
        self.by = by


class ResumeError(HeatmapError):
    """A run cannot be resumed: not found, in use, or made from another spec, notebook or data."""


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
    nb.cells.insert(0, _reset_cell(spec.notebook.parent))
    with contextlib.ExitStack() as stack:
        previous = None
        if resume is not None:
            folder = _find_run(spec, resume)
            _check_writable(folder)
            stack.callback(_RunLock(folder).acquire().release)
            previous = _previous_run(spec, folder)
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
                _check_same_data(previous, dataset)
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


# --------------------------------------------------------------------------------------------------------------
# resuming a run

# spec keys a resume may change: how the run goes, not what it reports
RESUME_MAY_CHANGE: tuple[str, ...] = ("file", "workers", "timeout", "output")
LOCK_NAME = ".heatmap-run.lock"
_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


class _RunLock:
    """An exclusive lock on a run folder (`flock` on a file in it): one process at a time runs or resumes a run.

    The system drops the lock when its process dies, so a run killed outright can still be resumed; the file is
    removed when the run ends. Where `fcntl` does not exist there is no lock.
    """

    def __init__(self, folder: Path) -> None:
        self.path = folder / LOCK_NAME
        self.fd: int | None = None

    def acquire(self) -> _RunLock:
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
class _Previous:
    """An earlier run being resumed: its manifest, its segments, and why each one that runs again does."""

    run_id: str
    folder: Path
    manifest: dict[str, Any]
    segments: list[SegmentResult]
    reasons: dict[str, str]  # segment value -> why it runs again ("failed", "timed out", "report damaged", ...)

    @property
    def index_exists(self) -> bool:
        return (self.folder / "index.html").is_file()


def _file_sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


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


def _find_run(spec: Spec, resume: str) -> Path:
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


def _previous_run(spec: Spec, folder: Path) -> _Previous:
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
    return _Previous(folder.name, folder, manifest, segments, reasons)


def _check_same_data(previous: _Previous, dataset: Any) -> None:
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


def _prepare_retry(folder: Path, seg: SegmentResult, reason: str) -> None:
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


# --------------------------------------------------------------------------------------------------------------
# running the segments


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
    previous: _Previous | None = None,
) -> RunResult:
    """Set up a new run (or take over the run being resumed) and run its segments under the run folder's lock."""
    lock = None
    resume_record: dict[str, Any] | None = None
    if previous is None:
        values = resolve_segments(spec, dataset)
        names = segment_file_names(values)
        run_id, folder = _new_run_folder(spec.output)
        lock = _RunLock(folder).acquire()
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
            _prepare_retry(folder, seg, previous.reasons[seg.value])
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

    ctx = _Context(spec=spec, folder=folder, notebook=nb, data_name=_data_name(spec.data), fresh_kernels=fresh)
    ctx.xray_pages = set(XRAY_PARAMETERS) <= set(declared_parameters(spec.notebook))
    ctx.plays_parameter = PLAYS_PARAMETER in declared_parameters(spec.notebook)
    ctx.km_class = _kernel_manager_class()
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
            threading.Thread(target=_worker, args=(ctx, queued, done), name=f"heatmap-run-{i}", daemon=True)
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
        _stop_workers(ctx, threads)
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
        _stop_workers(ctx, threads, patience=0 if all(not t.is_alive() for t in threads) else 30.0)
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


def _stop_workers(ctx: _Context, threads: Sequence[threading.Thread], patience: float = 30.0) -> None:
    """Kill the workers' kernels until their threads return (a kernel may still be starting)."""
    deadline = time.monotonic() + patience
    while any(t.is_alive() for t in threads) and time.monotonic() < deadline:
        with ctx.lock:
            kernels = list(ctx.kernels)
        _kill_kernels(kernels)
        for t in threads:
            t.join(timeout=0.2)


def manifest_for_index(manifest: Mapping[str, Any], segments: Sequence[SegmentResult], ctx: _Context) -> dict:
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
