"""The batch spec (DESIGN.md section 7): reading and checking it, the notebook's parameters, the segments, file names.

`load_spec` reads a spec (YAML, safe loader) into a checked `Spec`; `check_notebook_parameters` proves the notebook
declares what `heatmap run` passes it; `notebook_parameters` is what papermill injects for one segment;
`resolve_segments` says which segments run; `segment_file_names` gives each a distinct, safe file stem.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from heatmap_lib.core.exceptions import FilterError, SpecError
from heatmap_lib.filters import FilterSet
from heatmap_lib.reports.batch._common import _is_url, _redact

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
MAX_SLUG = 60
RESERVED_NAMES = frozenset({"index", "manifest", "notebooks", "con", "prn", "aux", "nul"})


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
