"""Connection URLs: which engine a URL names, its options (`parse_url`), and the URL without its password.

`${NAME}` in a URL is replaced by the environment variable NAME; `redact` is what reports and messages show.
The forms are listed in the package docstring (`engines`) and docs/engines.md.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl, quote, unquote, urlsplit, urlunsplit

from heatmap_lib.core.exceptions import DataError

Checks = Literal["rows", "structure"]
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_OWN = ("checks",)  # query parameters heatmap reads itself, for every engine
_SPARK_OWN = ("threads", "master", "database", "path")


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
