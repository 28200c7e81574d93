"""Writing tables as a dataset in each format: a csv or parquet folder, a duckdb file or an xlsx workbook."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import pandas as pd
import pyarrow as pa

from heatmap_lib.data.demo.schema import DATE_COLUMNS, XLSX_MAX_ROWS

Format = Literal["csv", "parquet", "duckdb", "xlsx"]
_FORMATS = ("csv", "parquet", "duckdb", "xlsx")


def _arrow_table(df: pd.DataFrame, timestamp_unit: str) -> pa.Table:
    """DataFrame to arrow with contract date columns as date32 and timestamps at the given unit."""
    table = pa.Table.from_pandas(df, preserve_index=False)
    fields = []
    for field in table.schema:
        typ = field.type
        if field.name in DATE_COLUMNS and (pa.types.is_timestamp(typ) or pa.types.is_date(typ)):
            typ = pa.date32()
        elif pa.types.is_timestamp(typ):
            typ = pa.timestamp(timestamp_unit, tz=typ.tz)
        elif pa.types.is_dictionary(typ):
            typ = typ.value_type
        fields.append(pa.field(field.name, typ))
    return table.cast(pa.schema(fields)).replace_schema_metadata(None)


def _replace(tmp: Path, final: Path) -> None:
    """Atomically move a finished temporary file into place."""
    tmp.replace(final)


def _write_csv(table: pa.Table, path: Path) -> None:
    """CSV with a plain header, ISO dates/timestamps, empty fields for missing values."""
    import pyarrow.csv as pacsv

    tmp = path.with_name(f".{path.name}.tmp")
    header = io.StringIO()
    csv.writer(header, lineterminator="\n").writerow(table.column_names)
    with tmp.open("wb") as fh:
        fh.write(header.getvalue().encode("utf-8"))
        pacsv.write_csv(table, fh, pacsv.WriteOptions(include_header=False, quoting_style="needed"))
    _replace(tmp, path)


def _write_xlsx(tables: Mapping[str, pd.DataFrame], path: Path) -> None:
    """One sheet per table with native Excel dates; strings are never turned into formulas or links."""
    tmp = path.with_name(f".{path.name}.tmp")
    options = {"strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False}
    with pd.ExcelWriter(
        tmp,
        engine="xlsxwriter",
        date_format="yyyy-mm-dd",
        datetime_format="yyyy-mm-dd hh:mm:ss",
        engine_kwargs={"options": options},
    ) as writer:
        for name, df in tables.items():
            out = df.copy()
            for col in out.columns:
                if col in DATE_COLUMNS and pd.api.types.is_datetime64_any_dtype(out[col]):
                    dates = out[col].dt.date
                    out[col] = dates.astype(object).where(out[col].notna(), None)
                elif isinstance(out[col].dtype, pd.StringDtype) or out[col].dtype == object:
                    out[col] = out[col].astype(object).where(out[col].notna(), None)
            out.to_excel(writer, sheet_name=name, index=False)
    _replace(tmp, path)


def write_tables(
    tables: Mapping[str, pd.DataFrame], out: Path, fmt: Literal["csv", "parquet", "duckdb", "xlsx"]
) -> Path:
    """Write tables as a dataset (csv/parquet folder, or out/demo.duckdb, out/demo.xlsx); return its path."""
    if fmt not in _FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(_FORMATS)}")
    out = Path(out)
    for name in tables:
        if not name or any(ch in name for ch in '/\\:*?[]"'):
            raise ValueError(f"invalid table name {name!r}")
    if fmt == "xlsx":
        for name, df in tables.items():
            if len(df) > XLSX_MAX_ROWS:
                raise ValueError(
                    f"table {name!r} has {len(df):,} rows; an Excel sheet holds at most "
                    f"{XLSX_MAX_ROWS:,} data rows (use csv, parquet or duckdb)"
                )
            if len(name) > 31:
                raise ValueError(f"table name {name!r} is longer than Excel's 31-character sheet name limit")
    out.mkdir(parents=True, exist_ok=True)

    if fmt in ("csv", "parquet"):
        import pyarrow.parquet as pq

        other = "parquet" if fmt == "csv" else "csv"
        for name, df in tables.items():
            path = out / f"{name}.{fmt}"
            if fmt == "csv":
                _write_csv(_arrow_table(df, "s"), path)
            else:
                tmp = path.with_name(f".{path.name}.tmp")
                pq.write_table(_arrow_table(df, "us"), tmp, compression="snappy")
                _replace(tmp, path)
            stale = out / f"{name}.{other}"  # a table in both formats is an invalid dataset
            if stale.exists():
                stale.unlink()
        return out

    if fmt == "duckdb":
        import duckdb

        path = out / "demo.duckdb"
        tmp = out / ".demo.duckdb.tmp"
        for p in (tmp, Path(f"{tmp}.wal")):
            if p.exists():
                p.unlink()
        con = duckdb.connect(str(tmp))
        try:
            for name, df in tables.items():
                con.register("_demo_src", _arrow_table(df, "us"))
                quoted = '"' + name.replace('"', '""') + '"'
                con.execute(f"CREATE TABLE {quoted} AS SELECT * FROM _demo_src")
                con.unregister("_demo_src")
            con.execute("CHECKPOINT")
        finally:
            con.close()
        _replace(tmp, path)
        wal = Path(f"{path}.wal")
        if wal.exists():
            wal.unlink()
        return path

    path = out / "demo.xlsx"
    _write_xlsx(tables, path)
    return path
