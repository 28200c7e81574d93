"""Loading through a mapping: the mapped tables validated by the file loader, problems named at their source.

`map_dataset` (and `hm.load(mapping.yaml)` through `load_mapped`) gives the dataset and the `MapReport`;
`import_dataset` (`heatmap import`) writes the result as Parquet with `import_report.json`.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from heatmap_lib.core.exceptions import DataError, ValidationError
from heatmap_lib.core.schema import TABLES
from heatmap_lib.data.dataset import Dataset, OnError, _lit, _message, _q
from heatmap_lib.data.file_loader import load_files
from heatmap_lib.data.mapping.apply import HIDDEN, MapReport, map_to_folder
from heatmap_lib.data.mapping.locate import _Locator
from heatmap_lib.data.mapping.spec import MappingSpec, read_mapping


def map_dataset(
    mapping: str | Path | MappingSpec,
    *,
    on_error: OnError = "raise",
    quarantine_dir: str | Path | None = None,
    database: str | Path | None = "auto",
    memory_limit: str | None = None,
) -> tuple[Dataset, MapReport]:
    """Map the exports a mapping file names and load the result: the validated dataset and what was mapped."""
    spec = mapping if isinstance(mapping, MappingSpec) else read_mapping(mapping)
    work = Path(tempfile.mkdtemp(prefix="heatmap-map-"))
    try:
        report = map_to_folder(spec, work / spec.path.stem)
        locator = _Locator(spec, work / spec.path.stem)
        qdir = Path(quarantine_dir) if quarantine_dir else Path("outputs") / "quarantine" / spec.path.stem
        try:
            ds = load_files(
                work / spec.path.stem,
                cache=False,  # a temporary folder, read once: nothing to reopen later
                on_error=on_error,
                quarantine_dir=qdir,
                database=database,
                memory_limit=memory_limit,
            )
        except ValidationError as exc:
            problems = locator.translate(list(exc.problems))
            raise ValidationError(_message(spec.path, problems, len(problems)), problems) from None
        if ds.exclusions:
            locator.rewrite_quarantine(qdir)
            report.excluded = {e.table: e.rows for e in ds.exclusions}
            report.quarantine = str(qdir)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    assert ds.con is not None
    for name in ds.present:
        have = {r[0] for r in ds.con.execute(f"DESCRIBE {_q(name)}").fetchall()}
        for col in HIDDEN:
            if col in have:
                ds.con.execute(f"ALTER TABLE {_q(name)} DROP COLUMN {col}")
    ds.account_columns = tuple(c for c in ds.account_columns if c not in HIDDEN)
    ds.path = str(spec.path)
    ds._files = spec.files
    ds.notes = tuple(ds.notes) + tuple(report.notes)
    if report.unmatched_titles:
        n = sum(c for _, c in report.unmatched_titles)
        ds.notes += (
            f"job titles that matched no title rule ({len(report.unmatched_titles)} titles, {n} contacts) got the role "
            f"{spec.title_rules.default} (heatmap import lists them)",
        )
    return ds, report


def load_mapped(path: str | Path, **options: Any) -> Dataset:
    """`hm.load(mapping.yaml)`: the exports a mapping names, mapped, validated and loaded (see `map_dataset`)."""
    return map_dataset(path, **options)[0]


def import_dataset(
    mapping: str | Path,
    out: str | Path,
    *,
    on_error: OnError = "raise",
    quarantine_dir: str | Path | None = None,
) -> MapReport:
    """`heatmap import`: write the mapped, validated dataset as Parquet into `out`, with `import_report.json`."""
    ds, report = map_dataset(mapping, on_error=on_error, quarantine_dir=quarantine_dir)
    try:
        write_dataset(ds, report, out)
    finally:
        ds.close()
    return report


def write_dataset(ds: Dataset, report: MapReport, out: str | Path) -> None:
    """Write a mapped dataset's tables as `<table>.parquet` and the report as `import_report.json` into `out`."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    assert ds.con is not None
    for name in TABLES:
        target = out / f"{name}.parquet"
        stale = out / f"{name}.csv"
        if stale.exists():
            raise DataError(f"{out}: holds {stale.name}; import into an empty folder (a table stored twice)")
        if name not in ds.present:
            target.unlink(missing_ok=True)
            continue
        tmp = target.with_name(target.name + ".tmp")
        ds.con.execute(f"COPY {_q(name)} TO {_lit(str(tmp))} (FORMAT parquet)")
        tmp.replace(target)
    report.tables = [t | {"loaded": ds.rows.get(t["table"], 0)} for t in report.tables]
    (out / "import_report.json").write_text(json.dumps(report.as_dict(), indent=2) + "\n", encoding="utf-8")
