"""Datasets that stay in another engine: a database server or a Spark cluster, reached through Ibis (issue 8).

`hm.load(url)` opens a dataset whose tables live in an engine instead of loading files into DuckDB. Nothing is
copied out: each contract table becomes an Ibis expression over the engine's own table (columns renamed to the
contract's names and cast to its types, roles normalised), `invitation_facts` becomes a join of invitations and
contacts, and the metric code (the same code that runs on DuckDB) sends its aggregations to the engine. Only
per-account results come back.

URL forms (docs/engines.md has the full table):

    postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?schema=SCHEMA]      (also postgresql://; any other query
                                                                          parameter goes to libpq, e.g. sslmode)
    spark://local[?threads=N]                                            Spark in this process (local[N], or all
                                                                          cores), tables of the default database
    spark://HOST:PORT[/DATABASE]                                         a standalone cluster's master
    spark:///DATABASE?master=yarn                                        any Spark master (yarn, k8s://https://...)
    sc://HOST:PORT[/;token=...;database=DATABASE]                        Spark Connect
    ...?path=FOLDER                                                      Spark only: read FOLDER/<table>.parquet
                                                                          (local, hdfs://, s3a://, ...) instead
    snowflake://, bigquery://, trino://, mssql://, mysql://, ...         any other Ibis backend (`ibis.connect`)
    duckdb:///FILE.duckdb                                                the DuckDB file loader (section 3)

Common query parameters: `checks=rows` (default) or `checks=structure`; for Spark, any `spark.*` key is a Spark
setting (`spark.driver.memory=4g`). `${NAME}` anywhere in a URL is replaced by the environment variable NAME
(so a password need not be written in a batch spec); reports and manifests show the URL without its password.

Validation of a URL source runs in the engine too: the structural checks (required tables and columns present,
stored types compatible with the contract) and then every row rule of the contract (not empty, ranges, roles and
outcomes, whole numbers, unique keys, references, the response rules of invitations), counted per table in one
query each; only the rows that break a rule come back (at most `MAX_EXAMPLES` per rule). A database has no line
numbers, so a problem names the table and the row's key. `checks="structure"` skips the row rules (for tables an
engine already keeps clean, or too large to scan at every open).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import subprocess
import threading
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, quote, unquote, urlsplit, urlunsplit

from heatmap_lib.core.exceptions import DataError, ValidationError
from heatmap_lib.core.schema import LOAD_ORDER, ROLE_SYNONYMS, TABLES, Column, Table

__all__ = [
    "MAX_EXAMPLES",
    "SPARK_DEFAULTS",
    "Source",
    "copy_dataset",
    "is_source",
    "is_url",
    "open_backend",
    "open_url",
    "parse_url",
    "redact",
    "shutdown_spark",
    "spark_session",
]

Checks = Literal["rows", "structure"]
MAX_EXAMPLES = 1000  # rows fetched per broken rule; the count of all of them is always reported
# Every Spark session heatmap starts gets these (a URL's own spark.* settings win): no web UI, Arrow transfers.
SPARK_DEFAULTS: dict[str, str] = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.session.timeZone": "UTC",
}
# Local mode only: one small machine, so few shuffle partitions (Spark's default 200 is for clusters), on loopback.
LOCAL_DEFAULTS: dict[str, str] = {
    "spark.driver.memory": "2g",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
}
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_OWN = ("checks",)  # query parameters heatmap reads itself, for every engine
_SPARK_OWN = ("threads", "master", "database", "path")
_KIND_NAMES = {
    "text": "text",
    "number": "a number",
    "integer": "whole numbers",
    "date": "a date",
    "timestamp": "a timestamp",
    "boolean": "a boolean",
}


# --------------------------------------------------------------------------------------------------------------
# URLs


def is_url(value: object) -> bool:
    """Whether `value` is a connection URL (`scheme://...`) rather than a dataset path."""
    return isinstance(value, str) and bool(_URL.match(value.strip()))


def is_source(value: object) -> bool:
    """Whether `load` should open `value` in its engine: a connection URL, an Ibis backend or a SparkSession."""
    if is_url(value):
        return True
    module = type(value).__module__
    return module.startswith("ibis.backends") or module.startswith("pyspark.sql")


def redact(url: str) -> str:
    """The URL with its password replaced by `***` (for reports, manifests and error messages)."""
    url = url.strip()
    if not is_url(url):
        return url
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def _expand(url: str) -> str:
    def env(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in os.environ:
            raise DataError(f"{redact(url)}: environment variable {name} is not set")
        return quote(os.environ[name], safe="")

    return _ENV.sub(env, url.strip())


@dataclass(frozen=True)
class Source:
    """A parsed connection URL: which engine, how to reach it, where its tables are and how much to check.

    engine: "postgres", "spark", "spark-connect", "duckdb" or another Ibis backend's URL scheme.
    label: the URL without its password (what reports show). options: engine-specific settings.
    """

    url: str
    engine: str
    label: str
    checks: Checks = "rows"
    options: Mapping[str, Any] = field(default_factory=dict)


def parse_url(url: str) -> Source:
    """Read a connection URL into a `Source` (see the module docstring for the forms); `${VAR}` is expanded."""
    if not is_url(url):
        raise DataError(f"{url!r} is not a connection URL (scheme://...)")
    label = redact(url)
    scheme = url.strip().split("://", 1)[0].lower()
    if scheme == "sc":
        return _parse_spark_connect(url, label)
    expanded = _expand(url)
    parts = urlsplit(expanded)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    checks = _checks(query.pop("checks", "rows"), label)
    if scheme in ("postgres", "postgresql"):
        options = {
            "host": parts.hostname or query.pop("host", None),
            "port": parts.port or int(query.pop("port", 5432)),
            "user": unquote(parts.username) if parts.username else None,
            "password": unquote(parts.password) if parts.password is not None else None,
            "database": unquote(parts.path.lstrip("/")) or None,
            "schema": query.pop("schema", None),
            "kwargs": query,  # the rest (sslmode, connect_timeout, ...) goes to libpq
        }
        return Source(url, "postgres", label, checks, options)
    if scheme == "spark":
        return Source(url, "spark", label, checks, _spark_options(parts, query, label))
    if scheme == "duckdb":
        return Source(url, "duckdb", label, checks, {"path": unquote(expanded.split("://", 1)[1])})
    rest = urlunsplit(parts._replace(query="&".join(f"{k}={quote(v, safe='')}" for k, v in query.items())))
    return Source(url, scheme, label, checks, {"url": rest})


def _checks(value: str, label: str) -> Checks:
    if value not in ("rows", "structure"):
        raise DataError(f"{label}: checks must be 'rows' or 'structure', not {value!r}")
    return value  # type: ignore[return-value]


def _spark_options(parts: Any, query: dict[str, str], label: str) -> dict[str, Any]:
    conf = {k: v for k, v in query.items() if k.startswith("spark.")}
    unknown = [k for k in query if k not in conf and k not in _SPARK_OWN]
    if unknown:
        raise DataError(
            f"{label}: unknown parameter{'s' * (len(unknown) > 1)} {', '.join(unknown)} "
            f"(known: {', '.join(_SPARK_OWN + _OWN)} and spark.* settings)"
        )
    host = parts.hostname or ""
    database = unquote(parts.path.strip("/")) or query.get("database") or None
    threads = query.get("threads")
    if threads is not None and not (threads == "*" or (threads.isdigit() and int(threads) > 0)):
        raise DataError(f"{label}: threads must be a whole number > 0 or *, not {threads!r}")
    if "master" in query:
        master = query["master"]
    elif host == "local" or not host:
        master = f"local[{threads or '*'}]"
    else:
        master = f"spark://{host}:{parts.port or 7077}"
    return {"master": master, "conf": conf, "database": database, "path": query.get("path"), "threads": threads}


def _parse_spark_connect(url: str, label: str) -> Source:
    # Spark Connect's own form: sc://host:port/;key=value;key=value (heatmap's keys are taken out of it)
    expanded = _expand(url)
    head, _, params = expanded.partition("/;")
    if "?" in head:  # also accept ?key=value&... for heatmap's own keys
        head, _, q = head.partition("?")
        params = ";".join(filter(None, [params, q.replace("&", ";")]))
    pairs = [p.split("=", 1) for p in params.split(";") if p]
    own = {k: unquote(v) for k, v in pairs if k in ("database", "path", "checks")}
    kept = ";".join(f"{k}={v}" for k, v in pairs if k not in own)
    remote = head.rstrip("/") + (f"/;{kept}" if kept else "")
    checks = _checks(own.pop("checks", "rows"), label)
    return Source(url, "spark-connect", label, checks, {"remote": remote, **own})


# --------------------------------------------------------------------------------------------------------------
# Spark sessions: heatmap stops the sessions it started, once the last dataset using one is closed

_spark_lock = threading.Lock()
_spark_owned: dict[int, list[Any]] = {}  # id(session) -> [session, number of open datasets using it]


def spark_session(
    master: str | None = "local[*]", conf: Mapping[str, str] | None = None, *, remote: str | None = None
) -> Any:
    """A SparkSession for `master` (or Spark Connect at `remote`) with `SPARK_DEFAULTS` and `conf` applied.

    An active session is reused (Spark allows one per process; its master cannot change). Local mode also gets
    `LOCAL_DEFAULTS` and as many shuffle partitions as threads.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise DataError("Spark needs PySpark and Java 17+: pip install 'heatmap[engines]'") from exc
    settings = dict(SPARK_DEFAULTS)
    if remote is None and master and master.startswith("local"):
        m = re.match(r"local(?:\[(\d+))?", master)  # local, local[N], local[N,F]; local[*]: every core
        cores = int(m.group(1)) if m and m.group(1) else (1 if master == "local" else os.cpu_count() or 2)
        settings |= LOCAL_DEFAULTS | {"spark.sql.shuffle.partitions": str(max(2, cores))}
    settings |= dict(conf or {})
    builder = SparkSession.builder.remote(remote) if remote else SparkSession.builder.master(master or "local[*]")
    for key, value in settings.items():
        if remote and not key.startswith("spark.sql."):
            continue  # a Connect server has its own cluster settings
        builder = builder.config(key, value)
    with _spark_lock:
        before = None if remote else SparkSession.getActiveSession()
        session = builder.appName("heatmap").getOrCreate()
        if before is None or id(session) in _spark_owned:
            _spark_owned.setdefault(id(session), [session, 0])[1] += 1
    return session


def _release_spark(session: Any) -> None:
    with _spark_lock:
        entry = _spark_owned.get(id(session))
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] > 0:
            return
        del _spark_owned[id(session)]
    with contextlib.suppress(Exception):  # the JVM may be gone already at interpreter exit
        session.stop()


def shutdown_spark() -> None:
    """Stop the Spark sessions heatmap started and the local JVM behind PySpark (tests and benchmarks end so)."""
    with _spark_lock:
        sessions = [entry[0] for entry in _spark_owned.values()]
        _spark_owned.clear()
    for session in sessions:
        with contextlib.suppress(Exception):
            session.stop()
    try:
        from pyspark import SparkContext
    except ImportError:
        return
    if SparkContext._active_spark_context is not None:
        SparkContext._active_spark_context.stop()
    gateway = SparkContext._gateway
    if gateway is not None:
        proc = getattr(gateway, "proc", None)
        gateway.shutdown()
        if proc is not None:  # the JVM exits when its stdin closes
            proc.stdin.close()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        SparkContext._gateway = None
        SparkContext._jvm = None


# --------------------------------------------------------------------------------------------------------------
# connecting


@dataclass
class _Found:
    """One contract table found in the engine: what reports call it and the engine's own expression."""

    label: str
    table: Any


def open_url(url: str, *, checks: Checks | None = None) -> Any:
    """Open the dataset a connection URL names (see the module docstring); `checks` overrides the URL's."""
    src = parse_url(url)
    checks = checks or src.checks
    if src.engine == "duckdb":
        from heatmap_lib.data.loading import load

        return load(src.options["path"])
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
    from heatmap_lib.data.loading import Dataset

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


# --------------------------------------------------------------------------------------------------------------
# typed views and validation, as Ibis expressions


def _norm(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", str(name).strip()).lower()


@dataclass
class _Prepared:
    """One table: its columns under contract names (stored types), and the typed expression of each."""

    table: Table
    raw: Any
    typed: dict[str, Any]
    extras: list[str]


def _prepare(
    found: dict[str, _Found], where: str, label: str
) -> tuple[dict[str, Any], dict[str, _Prepared], list[str], list[str]]:
    """Rename columns to the contract's names and check the stored types; raise on any structural problem."""
    from heatmap_lib.data.loading import Problem, _message, _structure_problems

    fatal: list[Problem] = []
    for name, table in TABLES.items():
        if table.required and name not in found:
            fatal.append(
                Problem(name, label, None, None, None, None, f"required table is missing (expected {name} {where})")
            )
    raws: dict[str, Any] = {}
    prepared: dict[str, _Prepared] = {}
    for name in LOAD_ORDER:
        if name not in found:
            continue
        f, table = found[name], TABLES[name]
        columns: dict[str, str] = {}
        for col in f.table.columns:
            norm = _norm(col)
            if norm in columns:
                raise DataError(f"{f.label}: columns {columns[norm]!r} and {col!r} both mean {norm!r}; keep one")
            columns[norm] = col
        raw = f.table.select(**{norm: f.table[col] for norm, col in columns.items()})
        fatal += _structure_problems(table, f.label, list(columns))
        typed: dict[str, Any] = {}
        for col in table.columns:
            if col.name not in columns:
                continue
            expr, problem = _convert(col, raw[col.name])
            if problem:
                fatal.append(Problem(name, f.label, None, None, col.name, str(raw[col.name].type()), problem))
            else:
                typed[col.name] = expr
        raws[name] = raw
        contract = {c.name for c in table.columns}
        prepared[name] = _Prepared(table, raw, typed, [c for c in columns if c not in contract])
    if fatal:
        raise ValidationError(_message(label, fatal, len(fatal)), fatal)
    return raws, prepared, [], prepared["accounts"].extras


def _convert(col: Column, raw: Any) -> tuple[Any, str | None]:
    """The contract-typed expression of a stored column, or why its stored type cannot hold the column."""
    import ibis

    t = raw.type()
    wrong = f"must be stored as {_KIND_NAMES[col.kind]} (the engine holds {t}); convert it in the engine, e.g. a view"
    if col.name == "role" or col.choices:
        if not t.is_string():
            return None, wrong
        if col.name == "role":
            folded = raw.lower().re_replace(r"[\s\-]+", "_")
            return folded.cases(*ROLE_SYNONYMS.items(), else_=ibis.null("string")), None
        low = raw.lower()
        return ibis.ifelse(low.isin(col.choices or ()), low, ibis.null("string")), None
    kind = col.kind
    if kind == "text":
        if t.is_string():
            return raw, None
        return (raw.cast("string"), None) if t.is_integer() or t.is_uuid() else (None, wrong)
    if kind == "number":
        return (raw.cast("float64"), None) if t.is_numeric() and not t.is_boolean() else (None, wrong)
    if kind == "integer":
        return (raw.cast("int64"), None) if t.is_numeric() and not t.is_boolean() else (None, wrong)
    if kind == "date":
        if t.is_date():
            return raw, None
        return (raw.date(), None) if t.is_timestamp() else (None, wrong)
    if kind == "timestamp":
        if t.is_timestamp():
            return (raw.cast("timestamp"), None) if t.timezone else (raw, None)
        return (raw.cast("timestamp"), None) if t.is_date() else (None, wrong)
    return (raw, None) if t.is_boolean() else (None, wrong)


def _typed_views(prepared: dict[str, _Prepared]) -> dict[str, Any]:
    """The tables as the DuckDB load builds them, as expressions: `invitation_facts` a join, absent ones empty.

    Contract columns first, typed (absent optional columns as typed NULLs), then the extra columns as stored.
    """
    import ibis

    from heatmap_lib.core.schema import SQL_TYPES

    ibis_types = {"VARCHAR": "string", "DOUBLE": "float64", "BIGINT": "int64", "DATE": "date"}
    ibis_types |= {"TIMESTAMP": "timestamp", "BOOLEAN": "boolean"}
    views: dict[str, Any] = {}
    anchor = prepared["accounts"].raw
    for name, table in TABLES.items():
        p = prepared.get(name)
        cols: dict[str, Any] = {}
        for col in table.columns:
            typ = ibis_types[SQL_TYPES[col.kind]]
            cols[col.name] = p.typed[col.name] if p and col.name in p.typed else ibis.null(typ)
        if p is None:  # absent: empty, typed, and never registered anywhere
            views[name] = anchor.select(**cols).filter(ibis.literal(False))
        else:
            views[name] = p.raw.select(**cols, **{e: p.raw[e] for e in p.extras})
    inv, contacts = views["invitations"], views["contacts"]
    c = contacts.select("contact_id", "account_id", "role")
    j = inv.join(c, "contact_id")
    # contact_key: the contact id itself (the DuckDB load numbers contacts; an engine's string key works the same)
    views["invitation_facts"] = j.select(
        contact_key=j.contact_id,
        contact_id=j.contact_id,
        account_id=j.account_id,
        role=j.role,
        questionnaire=j.questionnaire,
        wave=j.wave,
        sent_at=j.sent_at,
        responded_at=j.responded_at,
        score=j.score,
    )
    return views


@dataclass
class _Rule:
    """One contract rule over a table: rows matching `cond` break it (or duplicates / missing references)."""

    column: str | None
    rule: str
    cond: Any = None
    value: Any = None  # the value a problem quotes (stored, as text)
    detail: Any = None  # appended to the rule text in parentheses (e.g. the sent_at a response precedes)
    kind: Literal["row", "duplicate", "reference"] = "row"
    parent: Any = None  # reference: the parent's key column


def _rules(p: _Prepared, raws: dict[str, Any]) -> list[_Rule]:
    """Every row rule of the contract for one table, as Ibis conditions over its stored columns."""
    from heatmap_lib.data.loading import _KIND_RULES, _range_rule, _value_rule

    r, out = p.raw, []
    present = set(r.columns)
    for col in p.table.columns:
        if col.name not in p.typed:
            continue
        raw, typed, t = r[col.name], p.typed[col.name], r[col.name].type()
        text = raw.cast("string")
        empty = raw.isnull() | (raw.strip() == "") if t.is_string() else raw.isnull()
        if col.not_empty:
            out.append(_Rule(col.name, "must not be empty", empty))
        if col.name == "role" or col.choices:
            out.append(_Rule(col.name, _value_rule(col), ~empty & typed.isnull(), text))
        if t.is_floating() and col.kind in ("number", "integer"):
            out.append(_Rule(col.name, _KIND_RULES[col.kind], raw.isnan() | raw.isinf(), text))
        if col.kind == "integer" and (t.is_floating() or t.is_decimal()):
            out.append(_Rule(col.name, _KIND_RULES["integer"], raw.notnull() & (raw != raw.floor()), text))
        rng = _range_rule(col)
        if rng:
            lo, hi = col.minimum, col.maximum
            if lo is not None and hi is not None:
                cond = (typed < lo) | (typed > hi)
            else:
                cond = typed < lo if lo is not None else typed > hi
            out.append(_Rule(col.name, rng[1], cond, text))
        if col.unique:
            out.append(_Rule(col.name, f"duplicate {col.name}", kind="duplicate"))
        if col.references and col.references in raws:
            parent = TABLES[col.references]
            praw = raws[parent.name]
            if parent.key in praw.columns:
                rule = f"must exist in {parent.name} (no {parent.key} with this value)"
                out.append(_Rule(col.name, rule, value=text, kind="reference", parent=praw[parent.key]))
    if p.table.name == "invitations" and {"sent_at", "responded_at", "score"} <= present:
        sent, resp = p.typed.get("sent_at"), p.typed.get("responded_at")
        if sent is not None and resp is not None:
            out.append(
                _Rule(
                    "responded_at",
                    "must not be before sent_at",
                    resp < sent,
                    r.responded_at.cast("string"),
                    r.sent_at.cast("string"),
                )
            )
        out.append(
            _Rule(
                "score",
                "must not be empty when responded_at is set (a response has a score)",
                r.score.isnull() & r.responded_at.notnull(),
            )
        )
        out.append(
            _Rule(
                "responded_at",
                "must not be empty when score is set (a score comes with its response date)",
                r.score.notnull() & r.responded_at.isnull(),
            )
        )
    return out


def _key(p: _Prepared) -> Any:
    import ibis

    key = p.table.key or "account_id"
    return p.raw[key].cast("string") if key in p.raw.columns else ibis.null("string")


def _validate(
    raws: dict[str, Any], prepared: dict[str, _Prepared], found: dict[str, _Found], label: str
) -> dict[str, int]:
    """Count every rule's breaches in the engine, all tables in one query; raise with the problems if any.

    One query rather than one per table: on Spark each query costs a job's fixed overhead (about a second on
    small data), which dominated opening a small dataset.
    """
    import ibis

    from heatmap_lib.data.loading import Problem, _message

    rules = {name: _rules(p, raws) for name, p in prepared.items()}
    width = max(len(r) for r in rules.values())
    parts = [_rule_counts(prepared[name], rules[name], width).mutate(tbl=ibis.literal(name)) for name in rules]
    result = {r["tbl"]: r for r in ibis.union(*parts).to_pyarrow().to_pylist()}
    rows: dict[str, int] = {}
    problems: list[Problem] = []
    total = 0
    for name in LOAD_ORDER:
        if name not in prepared:
            continue
        counts = result[name]
        rows[name] = int(counts["rows"] or 0)
        for i, rule in enumerate(rules[name]):
            n = int(counts[f"c{i}"] or 0)
            if n:
                total += n
                problems += _examples(prepared[name], rule, n, found[name].label)
    if total:
        raise ValidationError(_message(label, problems, total), problems)
    return rows


def _rule_counts(p: _Prepared, rules: list[_Rule], width: int) -> Any:
    """One row: the table's row count and each rule's breaches (`c0`...; padded with 0 up to `width`)."""
    import ibis

    r = p.raw
    aggs = {"rows": r.count()}
    subs = []
    for i, rule in enumerate(rules):
        if rule.kind == "row":
            aggs[f"c{i}"] = r.count(where=rule.cond)
        elif rule.kind == "duplicate":
            g = _duplicates(r, rule.column)
            subs.append(g.aggregate(**{f"c{i}": (g.n - 1).sum()}))
        else:
            m = _missing(r, rule)
            subs.append(m.aggregate(**{f"c{i}": m.count()}))
    query = r.aggregate(**aggs)
    if subs:
        query = query.cross_join(*subs)
    cols = {"rows": query.rows.cast("int64")}
    for i in range(width):
        cols[f"c{i}"] = query[f"c{i}"].cast("int64") if i < len(rules) else ibis.literal(0, "int64")
    return query.select(**cols)


def _duplicates(r: Any, column: str | None) -> Any:
    f = r.filter(r[column].notnull())
    g = f.group_by(k=f[column]).aggregate(n=f.count())
    return g.filter(g.n > 1)


def _missing(r: Any, rule: _Rule) -> Any:
    fk = r[rule.column]
    parent = rule.parent.name("_parent_key").as_table()
    return r.filter(fk.notnull()).anti_join(parent, fk == parent._parent_key)


def _examples(p: _Prepared, rule: _Rule, n: int, where: str) -> list[Any]:
    """The problems of one broken rule (at most MAX_EXAMPLES rows), plus a line for the rest."""
    import ibis

    from heatmap_lib.data.loading import Problem

    name = p.table.name
    if rule.kind == "duplicate":
        g = _duplicates(p.raw, rule.column)
        rows = g.select(key=g.k.cast("string"), n=g.n).order_by("key").limit(MAX_EXAMPLES).to_pyarrow().to_pylist()
        shown = sum(r["n"] - 1 for r in rows)
        out = [Problem(name, where, None, r["key"], rule.column, r["key"], f"{rule.rule}: {r['n']} rows") for r in rows]
    else:
        base = _missing(p.raw, rule) if rule.kind == "reference" else p.raw.filter(rule.cond)
        q = base.select(
            key=_key(_Prepared(p.table, base, p.typed, p.extras)),
            value=rule.value if rule.value is not None else ibis.null("string"),
            detail=rule.detail if rule.detail is not None else ibis.null("string"),
        )
        rows = q.order_by("key").limit(MAX_EXAMPLES).to_pyarrow().to_pylist()
        shown = len(rows)
        out = []
        for r in rows:
            text = f"{rule.rule} ({r['detail']})" if r["detail"] is not None else rule.rule
            out.append(Problem(name, where, None, r["key"], rule.column, r["value"], text))
    if n > shown:
        out.append(Problem(name, where, None, None, rule.column, None, f"{rule.rule}: {n - shown} more rows"))
    return out


def _count(raws: dict[str, Any]) -> dict[str, int]:
    """Row counts of every table in one query (structure-only checks)."""
    import ibis

    parts = [t.aggregate(n=t.count()).mutate(tbl=ibis.literal(name)) for name, t in raws.items()]
    result = ibis.union(*parts).to_pyarrow().to_pylist()
    return {r["tbl"]: int(r["n"]) for r in result}


# --------------------------------------------------------------------------------------------------------------
# copying a validated dataset into an engine


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
