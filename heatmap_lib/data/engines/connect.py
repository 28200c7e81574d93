"""Opening a dataset that stays in its engine: a URL connected (`open_url`) or a backend wrapped (`open_backend`).

The tables are found (in a database or as Parquet files), checked in the engine (`views`, `row_checks`) and
exposed as a `Dataset` whose tables are Ibis expressions; closing it releases what was opened for it.
"""

from __future__ import annotations

import contextlib
import hashlib
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from heatmap_lib.core.exceptions import DataError
from heatmap_lib.core.schema import LOAD_ORDER, TABLES
from heatmap_lib.data.dataset import Dataset
from heatmap_lib.data.engines.row_checks import _count, _validate
from heatmap_lib.data.engines.spark import _release_spark, spark_session
from heatmap_lib.data.engines.urls import Checks, is_url, parse_url
from heatmap_lib.data.engines.views import _Found, _prepare, _typed_views
from heatmap_lib.data.file_loader import load_files


def open_url(url: str, *, checks: Checks | None = None) -> Any:
    """Open the dataset a connection URL names (see the `engines` package docstring); `checks` overrides the URL's."""
    src = parse_url(url)
    checks = checks or src.checks
    if src.engine == "duckdb":
        return load_files(src.options["path"])
    if src.engine == "postgres":
        import ibis

        o = src.options
        try:
            backend = ibis.postgres.connect(
                host=o["host"],
                port=o["port"],
                user=o["user"],
                password=o["password"],
                database=o["database"],
                schema=o["schema"],
                **o["kwargs"],
            )
        except ImportError as exc:
            raise DataError("PostgreSQL needs psycopg: pip install 'heatmap[engines]'") from exc
        except Exception as exc:  # psycopg's OperationalError: refused, bad password, no such database
            raise DataError(f"{src.label}: cannot connect ({_first_line(exc)})") from exc
        return open_backend(backend, database=o["schema"], label=src.label, checks=checks, closer=backend.disconnect)
    if src.engine in ("spark", "spark-connect"):
        import ibis

        o = src.options
        try:
            if src.engine == "spark":
                session = spark_session(o["master"], o["conf"])
            else:
                session = spark_session(remote=o["remote"])
        except DataError:
            raise
        except Exception as exc:  # Java missing, a master that does not answer
            raise DataError(f"{src.label}: cannot start Spark ({_first_line(exc)})") from exc
        try:
            backend = ibis.pyspark.connect(session)
        except BaseException:
            _release_spark(session)
            raise
        return open_backend(
            backend,
            database=o.get("database"),
            parquet=o.get("path"),
            label=src.label,
            checks=checks,
            closer=lambda: _release_spark(session),  # open_backend calls it on failure too
        )
    import ibis

    try:
        backend = ibis.connect(src.options["url"])
    except ImportError as exc:
        raise DataError(
            f"{src.label}: install the Ibis extra for {src.engine}: pip install 'ibis-framework[{src.engine}]'"
        ) from exc
    except Exception as exc:
        raise DataError(f"{src.label}: cannot connect ({_first_line(exc)})") from exc
    return open_backend(backend, label=src.label, checks=checks, closer=backend.disconnect)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def open_backend(
    backend: Any,
    *,
    database: str | None = None,
    parquet: str | None = None,
    label: str | None = None,
    checks: Checks = "rows",
    closer: Callable[[], None] | None = None,
) -> Any:
    """Open a dataset over an Ibis backend (or a SparkSession): validate it in the engine, expose typed views.

    database: the schema/database holding the tables (default: the connection's current one).
    parquet: Spark (or any backend with `read_parquet`): read `<parquet>/<table>.parquet` instead.
    closer: called when the dataset is closed (or garbage-collected).
    """
    if type(backend).__module__.startswith("pyspark.sql"):
        import ibis

        backend = ibis.pyspark.connect(backend)
    name = getattr(backend, "name", "engine")
    label = label or (f"{name} {parquet}" if parquet else f"{name}:{database or 'default'}")
    views: list[str] = []
    release = _closer(backend, views, closer)
    try:
        if parquet:
            found = _read_parquet(backend, parquet, views)
            where = f"in {parquet}"
        else:
            found = _find_tables(backend, database, label)
            where = f"in {label}"
        raws, typed, notes, extras = _prepare(found, where, label)
        rows = _validate(raws, typed, found, label) if checks == "rows" else _count(raws)
        views_map = _typed_views(typed)
    except BaseException:
        release()
        raise
    digest = hashlib.sha256(label.encode())
    for t in LOAD_ORDER:
        if t in raws:
            digest.update(f"|{t}:{raws[t].schema()}:{rows[t]}".encode())
    account_columns = tuple(c.name for c in TABLES["accounts"].columns) + tuple(extras)
    ds = Dataset(
        path=label,
        con=None,
        present=frozenset(raws),
        rows={t: rows.get(t, 0) for t in TABLES},
        notes=tuple(notes),
        account_columns=account_columns,
        _ibis=backend,
        _views=views_map,
        _fingerprint=digest.hexdigest(),
        engine=name,
    )
    ds._closer = weakref.finalize(ds, release)
    return ds


def _closer(backend: Any, views: list[str], then: Callable[[], None] | None) -> Callable[[], None]:
    def release() -> None:
        for view in views:
            with contextlib.suppress(Exception):  # the session may be stopped already
                backend._session.catalog.dropTempView(view)
        if then is not None:
            then()

    return release


def _find_tables(backend: Any, database: str | None, label: str) -> dict[str, _Found]:
    """The contract tables in the engine's database (names matched without regard to case)."""
    try:
        names = backend.list_tables(database=database) if database else backend.list_tables()
    except Exception as exc:
        raise DataError(f"{label}: cannot list the tables ({_first_line(exc)})") from exc
    by_table: dict[str, list[str]] = {}
    for n in names:
        if n.lower() in TABLES:
            by_table.setdefault(n.lower(), []).append(n)
    found = {}
    for table, actual in by_table.items():
        if len(actual) > 1:
            raise DataError(f"{label}: table {table} exists as {' and '.join(actual)}; keep one")
        expr = backend.table(actual[0], database=database) if database else backend.table(actual[0])
        found[table] = _Found(f"{database}.{actual[0]}" if database else actual[0], expr)
    return found


def _read_parquet(backend: Any, folder: str, views: list[str]) -> dict[str, _Found]:
    """Register `<folder>/<table>.parquet` (a file or a folder of parts) as temporary views, one per table."""
    import secrets

    token = secrets.token_hex(4)
    remote = is_url(folder)
    if not remote and not Path(folder).is_dir():
        raise DataError(f"{folder}: no such folder")
    found = {}
    for table in TABLES:
        path = f"{folder.rstrip('/')}/{table}.parquet"
        if not remote and not Path(path).exists():
            continue
        view = f"heatmap_{token}_{table}"
        try:
            expr = backend.read_parquet(path, table_name=view)
        except Exception as exc:
            if remote and ("PATH_NOT_FOUND" in str(exc) or "does not exist" in str(exc)):
                continue
            raise DataError(f"{path}: cannot be read as Parquet ({_first_line(exc)})") from exc
        views.append(view)
        found[table] = _Found(f"{table}.parquet", expr)
    return found
