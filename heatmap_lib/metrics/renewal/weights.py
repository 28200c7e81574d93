"""The renewal weights and their file format (`heatmap-renewal-weights/1`, YAML).

`Weights` holds the standardisation per signal (`Scaling`), the overall and per-segment logistic models
(`SegmentModel`, `Model`), the calibration's correlations and validation; `save` and `load` write and read the file
`heatmap calibrate` produces, checking every part (`WeightsError` names the file and what is wrong).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from heatmap_lib.core.exceptions import HeatmapError
from heatmap_lib.metrics.renewal._common import _isna, _r
from heatmap_lib.metrics.renewal.signal_table import SIGNAL_BY_NAME, TRANSFORMS

FORMAT = "heatmap-renewal-weights/1"
CLIP = 4.0  # standardised signals are clipped to +-4 so one extreme account cannot dominate its own score


class WeightsError(HeatmapError):
    """A renewal weights file is malformed, or calibration cannot run on the data given."""


@dataclass(frozen=True)
class Scaling:
    """How a raw signal becomes a standardised one: z = (transform(x) - mean) / scale, clipped to +-CLIP."""

    mean: float
    scale: float
    transform: str = "identity"

    def apply(self, x: Any) -> np.ndarray:
        """Standardise raw values; NaN stays NaN."""
        v = TRANSFORMS[self.transform](np.asarray(x, dtype=float))
        return np.clip((v - self.mean) / self.scale, -CLIP, CLIP)


@dataclass(frozen=True)
class Model:
    """One logistic model: an intercept and a weight per standardised signal (missing weights are 0)."""

    intercept: float
    weights: Mapping[str, float]

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the weights file."""
        return {"intercept": _r(self.intercept), "weights": {k: _r(v) for k, v in self.weights.items()}}


@dataclass(frozen=True)
class SegmentModel:
    """The risk and opportunity models of one segment; None means "use the overall model" (recorded in `note`)."""

    risk: Model | None
    opportunity: Model | None
    n_renewals: int | None = None
    n_churned: int | None = None
    n_expanded: int | None = None
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the weights file."""
        out: dict[str, Any] = {}
        for key in ("n_renewals", "n_churned", "n_expanded"):
            if getattr(self, key) is not None:
                out[key] = int(getattr(self, key))
        out["risk"] = self.risk.to_dict() if self.risk else "overall"
        out["opportunity"] = self.opportunity.to_dict() if self.opportunity else "overall"
        if self.note:
            out["note"] = self.note
        return out


@dataclass(frozen=True)
class Weights:
    """Renewal weights: standardisation per signal, the overall and per-segment models, correlations, validation.

    Saved as YAML (`save`, `load`); the file is what `heatmap calibrate` writes and the renewal notebook reads.
    `correlation` (signal -> signal -> r, from calibration) lets scoring re-weight when a table is missing.
    """

    signals: Mapping[str, Scaling]
    overall: SegmentModel
    segments: Mapping[str, SegmentModel] = field(default_factory=dict)
    segment_by: str | None = None
    correlation: Mapping[str, Mapping[str, float]] | None = None
    validation: Mapping[str, Any] | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)

    def model(self, segment: Any, kind: str) -> tuple[Model, str]:
        """The model of `kind` ("risk" or "opportunity") for a segment value, and the name of its source."""
        seg = self.segments.get(str(segment)) if segment is not None and not _isna(segment) else None
        own = getattr(seg, kind) if seg is not None else None
        if own is not None:
            return own, str(segment)
        model = getattr(self.overall, kind)
        if model is None:
            raise WeightsError(f"the weights have no overall {kind} model")
        return model, "overall"

    def to_dict(self) -> dict[str, Any]:
        """The weights as the plain mapping the YAML file holds."""
        out: dict[str, Any] = {"format": FORMAT}
        out.update({k: v for k, v in self.meta.items() if k not in ("format",)})
        out["segment_by"] = self.segment_by
        out["signals"] = {
            name: {"transform": s.transform, "mean": _r(s.mean), "scale": _r(s.scale)}
            for name, s in self.signals.items()
        }
        out["models"] = {
            "overall": self.overall.to_dict(),
            "segments": {k: v.to_dict() for k, v in self.segments.items()},
        }
        if self.correlation:
            names = list(self.correlation)
            out["correlation"] = {
                "signals": names,
                "matrix": [[_r(self.correlation[a].get(b, 0.0)) for b in names] for a in names],
            }
        if self.validation is not None:
            out["validation"] = _plain(self.validation)
        return out

    def save(self, path: str | Path) -> Path:
        """Write the weights as YAML (safe_dump), atomically; return the path."""
        p = Path(path)
        if p.parent and not p.parent.exists():
            p.parent.mkdir(parents=True, exist_ok=True)
        header = (
            "# Renewal weights for heatmap (DESIGN.md section 6): written by `heatmap calibrate`, read by the renewal\n"
            "# notebook. z = (transform(x) - mean) / scale per signal; risk and opportunity = 100 x logistic(\n"
            "# intercept + sum of weight x z). Edit the weights by hand if you like; `validation` describes the fit.\n"
        )
        body = yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True, width=120, default_flow_style=None)
        text = header + body
        tmp = p.with_name(f".{p.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(p)
        return p

    @classmethod
    def load(cls, path: str | Path) -> Weights:
        """Read a weights file (YAML, safe loader); `WeightsError` names the file and what is wrong."""
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise WeightsError(f"{p}: cannot read the weights file ({exc.strerror})") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            reason = str(exc).replace("\n", " ")
            raise WeightsError(f"{p}: not valid YAML ({reason})") from None
        return cls.from_dict(data, source=str(p))

    @classmethod
    def from_dict(cls, data: Any, source: str = "weights") -> Weights:
        """Build weights from the mapping a file holds, checking every part (`WeightsError` on the first problem)."""
        if not isinstance(data, Mapping):
            raise WeightsError(f"{source}: expected a mapping with signals and models, got {type(data).__name__}")
        fmt = data.get("format", FORMAT)
        if fmt != FORMAT:
            raise WeightsError(f"{source}: format {fmt!r} is not supported (expected {FORMAT!r})")
        known = {"format", "created", "data", "data_fingerprint", "as_of", "segment_by", "signals", "models"}
        known |= {"correlation", "validation", "method"}
        unknown = [str(k) for k in data if k not in known]
        if unknown:
            raise WeightsError(f"{source}: unknown key {', '.join(map(repr, unknown))} (known: {', '.join(known)})")
        raw_signals = _mapping(data.get("signals"), f"{source}: signals")
        scalings: dict[str, Scaling] = {}
        for name, spec in raw_signals.items():
            where = f"{source}: signals.{name}"
            if name not in SIGNAL_BY_NAME:
                raise WeightsError(f"{where}: unknown signal (known: {', '.join(SIGNAL_BY_NAME)})")
            spec = _mapping(spec, where)
            transform = spec.get("transform", SIGNAL_BY_NAME[name].transform)
            if transform not in TRANSFORMS:
                raise WeightsError(f"{where}.transform: {transform!r} is not one of {', '.join(TRANSFORMS)}")
            scale = _number(spec.get("scale", 1.0), f"{where}.scale")
            if scale <= 0:
                raise WeightsError(f"{where}.scale: must be greater than 0, not {scale}")
            scalings[str(name)] = Scaling(_number(spec.get("mean", 0.0), f"{where}.mean"), scale, transform)
        models = _mapping(data.get("models"), f"{source}: models")
        if "overall" not in models:
            raise WeightsError(f"{source}: models.overall is missing")
        overall = _segment_model(models["overall"], f"{source}: models.overall", scalings, overall=True)
        segs = _mapping(models.get("segments") or {}, f"{source}: models.segments")
        segments = {
            str(k): _segment_model(v, f"{source}: models.segments.{k}", scalings, overall=False)
            for k, v in segs.items()
        }
        segment_by = data.get("segment_by")
        if segment_by is not None and not isinstance(segment_by, str):
            raise WeightsError(f"{source}: segment_by must be an accounts column name, not {segment_by!r}")
        if segments and not segment_by:
            raise WeightsError(f"{source}: models.segments needs segment_by (the accounts column they are for)")
        correlation = _correlation(data.get("correlation"), f"{source}: correlation")
        validation = data.get("validation")
        if validation is not None and not isinstance(validation, Mapping):
            raise WeightsError(f"{source}: validation must be a mapping")
        meta = {k: data[k] for k in ("created", "data", "data_fingerprint", "as_of", "method") if k in data}
        return cls(scalings, overall, segments, segment_by, correlation, validation, meta)


def _plain(x: Any) -> Any:
    """Numpy and pandas values as plain Python (YAML safe_dump writes only plain types)."""
    if isinstance(x, Mapping):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_plain(v) for v in x]
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, float | np.floating):
        return None if math.isnan(float(x)) else _r(float(x))
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, dt.date):
        return x.isoformat()
    return x


def _mapping(x: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(x, Mapping):
        got = "nothing" if x is None else type(x).__name__
        raise WeightsError(f"{where}: expected a mapping, got {got}")
    return x


def _number(x: Any, where: str) -> float:
    if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(float(x)):
        raise WeightsError(f"{where}: expected a number, got {x!r}")
    return float(x)


def _count(x: Any, where: str) -> int | None:
    if x is None:
        return None
    if isinstance(x, bool) or not isinstance(x, int) or x < 0:
        raise WeightsError(f"{where}: expected a whole number >= 0, got {x!r}")
    return int(x)


def _model(x: Any, where: str, scalings: Mapping[str, Scaling]) -> Model:
    spec = _mapping(x, where)
    unknown = [str(k) for k in spec if k not in ("intercept", "weights")]
    if unknown:
        raise WeightsError(f"{where}: unknown key {', '.join(map(repr, unknown))} (known: intercept, weights)")
    intercept = _number(spec.get("intercept"), f"{where}.intercept")
    weights = {}
    for name, w in _mapping(spec.get("weights") or {}, f"{where}.weights").items():
        if name not in scalings:
            raise WeightsError(f"{where}.weights.{name}: no standardisation for this signal in signals")
        weights[str(name)] = _number(w, f"{where}.weights.{name}")
    return Model(intercept, weights)


def _segment_model(x: Any, where: str, scalings: Mapping[str, Scaling], *, overall: bool) -> SegmentModel:
    spec = _mapping(x, where)
    known = ("risk", "opportunity", "n_renewals", "n_churned", "n_expanded", "note")
    unknown = [str(k) for k in spec if k not in known]
    if unknown:
        raise WeightsError(f"{where}: unknown key {', '.join(map(repr, unknown))} (known: {', '.join(known)})")
    parts: dict[str, Model | None] = {}
    for kind in ("risk", "opportunity"):
        value = spec.get(kind, "overall")
        if value == "overall":
            if overall:
                raise WeightsError(f"{where}.{kind}: the overall model needs intercept and weights")
            parts[kind] = None
        else:
            parts[kind] = _model(value, f"{where}.{kind}", scalings)
    return SegmentModel(
        parts["risk"],
        parts["opportunity"],
        _count(spec.get("n_renewals"), f"{where}.n_renewals"),
        _count(spec.get("n_churned"), f"{where}.n_churned"),
        _count(spec.get("n_expanded"), f"{where}.n_expanded"),
        str(spec["note"]) if spec.get("note") else None,
    )


def _correlation(x: Any, where: str) -> dict[str, dict[str, float]] | None:
    if x is None:
        return None
    spec = _mapping(x, where)
    names = spec.get("signals")
    matrix = spec.get("matrix")
    if not isinstance(names, list) or not isinstance(matrix, list) or len(matrix) != len(names):
        raise WeightsError(f"{where}: expected signals (a list) and matrix (one row per signal)")
    out: dict[str, dict[str, float]] = {}
    for a, row in zip(names, matrix, strict=True):
        if not isinstance(row, list) or len(row) != len(names):
            raise WeightsError(f"{where}.matrix: the row of {a} needs {len(names)} numbers")
        out[str(a)] = {str(b): _number(v, f"{where}.matrix[{a}][{b}]") for b, v in zip(names, row, strict=True)}
    return out
