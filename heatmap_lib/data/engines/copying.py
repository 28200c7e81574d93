"""Copying a validated dataset's tables into an engine (a URL or an Ibis backend): PostgreSQL through COPY."""

from __future__ import annotations

from typing import Any

from heatmap_lib.core.schema import LOAD_ORDER
from heatmap_lib.data.engines.urls import parse_url


def copy_dataset(dataset: Any, target: Any, *, database: str | None = None, overwrite: bool = False) -> list[str]:
    """Copy a dataset's tables (the contract tables present) into a database: a URL or an Ibis backend.

    For moving a validated file dataset onto a server (and the tests' demo data). PostgreSQL gets the rows
    through COPY; other backends through `create_table`. Returns the tables written.
    """
    import ibis

    backend = target
    close = False
    if isinstance(target, str):
        src = parse_url(target)
        if src.engine != "postgres":
            backend = ibis.connect(src.options.get("url", target))
        else:
            o = src.options
            backend = ibis.postgres.connect(
                host=o["host"],
                port=o["port"],
                user=o["user"],
                password=o["password"],
                database=o["database"],
                **o["kwargs"],
            )
            database = database or o["schema"]
        close = True
    written = []
    try:
        for name in LOAD_ORDER:
            if not dataset.has(name):
                continue
            data = dataset.table(name).to_pyarrow()
            if backend.name == "postgres":
                _copy_postgres(backend, name, data, database, overwrite)
            else:
                backend.create_table(name, data, database=database, overwrite=overwrite)
            written.append(name)
    finally:
        if close:
            backend.disconnect()
    return written


def _copy_postgres(backend: Any, name: str, data: Any, schema: str | None, overwrite: bool) -> None:
    import ibis

    if schema:
        with backend.begin() as cur:
            cur.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    target = f'"{schema}"."{name}"' if schema else f'"{name}"'
    if overwrite:  # ibis 12 writes an empty DROP for create_table(overwrite=True) with a schema name
        with backend.begin() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {target}")
    backend.create_table(name, schema=ibis.Schema.from_pyarrow(data.schema), database=schema)
    cols = ", ".join(f'"{c}"' for c in data.column_names)
    with backend.begin() as cur, cur.copy(f"COPY {target} ({cols}) FROM STDIN") as copy:
        for batch in data.to_batches(max_chunksize=10_000):
            for row in zip(*(c.to_pylist() for c in batch.columns), strict=True):
                copy.write_row(row)
