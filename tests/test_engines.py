"""The same metrics past one machine (issue 8): a real PostgreSQL server and local Spark, against DuckDB.

The demo data (150 accounts) are loaded from files into DuckDB as usual, copied into a private PostgreSQL server
started for this module (Debian's `postgresql` package, `initdb` in a temporary folder, a free loopback port), and
written as Parquet for a local Spark session (`local[2]`). Each engine then opens them through `hm.load(url)`, and
the account summary, role breakdown, usage health and renewal scores must equal DuckDB's: same rows, same values
within float tolerance. The server and the Spark JVM are shut down when the module ends.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pandas as pd
import pytest
import yaml

import heatmap_lib as hm
from heatmap_lib.core.exceptions import DataError, ValidationError
from heatmap_lib.core.schema import ROLES
from heatmap_lib.data import engines, prepared
from heatmap_lib.data.engines import connect as engine_connect
from heatmap_lib.metrics import health, renewal
from heatmap_lib.reports import batch

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = Path(__file__).parent / "fixtures" / "segment_report.ipynb"
WEIGHTS = ROOT / "params" / "renewal_weights.yaml"
FILTER = {"region": ["West", "East"], "role": ["decision_maker", "influencer"]}
# Spark tuned for a quick start on a small machine: two threads, two shuffle partitions, no UI, a small heap,
# and the JVM's quick (C1) compiler only, which shortens the first queries of a short-lived session
SPARK_TEST_CONF = {
    "threads": "2",
    "spark.sql.shuffle.partitions": "2",
    "spark.ui.enabled": "false",
    "spark.driver.memory": "1g",
    "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
}


def assert_same(expected: pd.DataFrame, got: pd.DataFrame) -> None:
    """Same columns, same rows in the same order, values equal (floats within tolerance)."""
    assert list(got.columns) == list(expected.columns)
    pd.testing.assert_frame_equal(
        got.reset_index(drop=True),
        expected.reset_index(drop=True),
        check_dtype=False,
        check_exact=False,
        rtol=1e-9,
        atol=1e-9,
    )


# --------------------------------------------------------------------------------------------------------------
# a private PostgreSQL server


def _pg_bin(tool: str) -> str | None:
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{tool}"), key=lambda p: int(p.parts[-3]), reverse=True)
    return str(found[0]) if found else shutil.which(tool)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """A throw-away PostgreSQL cluster in a temporary folder, listening on a free loopback port.

    The server refuses to run as root, so under root it runs as the `postgres` user of Debian's package.
    """

    def __init__(self) -> None:
        initdb, self.pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
        if not initdb or not self.pg_ctl:
            pytest.skip("PostgreSQL server not installed (scripts/install-system-deps.sh installs it)")
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.root = Path(tempfile.mkdtemp(prefix="heatmap-pg-"))
        self.data = self.root / "data"
        self.password = secrets.token_hex(12)
        pwfile = self.root / "pw"
        pwfile.write_text(self.password + "\n")
        if self.as_user:
            for p in (self.root, pwfile):
                shutil.chown(p, "postgres", "postgres")
        self._run(
            initdb,
            "-D",
            str(self.data),
            "-U",
            "heatmap",
            f"--pwfile={pwfile}",
            "--auth=scram-sha-256",
            "--no-locale",
            "-E",
            "UTF8",
        )
        pwfile.unlink()
        self.port = 0
        for _ in range(5):  # another process may take the free port before the server binds it
            port = _free_port()
            options = f"-p {port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
            started = self._run(
                self.pg_ctl,
                "-D",
                str(self.data),
                "-l",
                str(self.root / "log"),
                "-w",
                "-o",
                options,
                "start",
                check=False,
            )
            if started.returncode == 0:
                self.port = port
                break
        if not self.port:
            log = (self.root / "log").read_text(errors="replace")[-2000:]
            self.stop()
            raise RuntimeError(f"PostgreSQL did not start:\n{log}")

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([*self.as_user, *args], capture_output=True, text=True, check=check, timeout=60)

    def url(self, schema: str | None = None, password: str | None = None) -> str:
        query = f"?schema={schema}" if schema else ""
        return f"postgres://heatmap:{password or self.password}@127.0.0.1:{self.port}/postgres{query}"

    def sql(self, *statements: str) -> None:
        import psycopg

        with psycopg.connect(self.url().split("?")[0], autocommit=True) as con:
            for statement in statements:
                con.execute(statement)

    def clone(self, schema: str, tables: tuple[str, ...] = ("accounts", "contacts", "invitations")) -> None:
        """A copy of the demo schema's tables under another schema, to break on purpose."""
        self.sql(f"CREATE SCHEMA {schema}", *(f"CREATE TABLE {schema}.{t} AS TABLE demo.{t}" for t in tables))

    def stop(self) -> None:
        if self.data.exists():
            self._run(self.pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="module")
def pg(demo: hm.Dataset) -> Iterator[PostgresServer]:
    server = PostgresServer()
    try:
        engines.copy_dataset(demo, server.url(), database="demo")
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def pg_ds(pg: PostgresServer) -> Iterator[hm.Dataset]:
    ds = hm.load(pg.url("demo"))
    yield ds
    ds.close()


# --------------------------------------------------------------------------------------------------------------
# local Spark over Parquet files


@pytest.fixture(scope="module")
def spark_ds(demo: hm.Dataset, tmp_path_factory: pytest.TempPathFactory) -> Iterator[hm.Dataset]:
    pytest.importorskip("pyspark", reason="pip install 'heatmap[engines]'")
    if not shutil.which("java"):
        pytest.skip("Spark needs Java 17+ (scripts/install-system-deps.sh installs a headless JRE)")
    folder = tmp_path_factory.mktemp("spark-demo")
    assert demo.con is not None
    for table in sorted(demo.present):
        demo.con.execute(f"COPY {table} TO '{folder / table}.parquet' (FORMAT parquet)")
    ds = hm.load("spark://local?" + urlencode({**SPARK_TEST_CONF, "path": str(folder)}))
    try:
        yield ds
    finally:
        ds.close()
        engines.shutdown_spark()


@pytest.fixture(params=["postgres", "spark"])
def engine_ds(request: pytest.FixtureRequest) -> hm.Dataset:
    return request.getfixturevalue("pg_ds" if request.param == "postgres" else "spark_ds")


# --------------------------------------------------------------------------------------------------------------
# the same figures on every engine


@pytest.mark.slow
def test_the_engine_holds_the_same_tables_and_rows(engine_ds: hm.Dataset, demo: hm.Dataset) -> None:
    assert engine_ds.con is None and engine_ds.engine in ("postgres", "pyspark")
    assert engine_ds.present == demo.present
    assert engine_ds.rows == demo.rows
    assert engine_ds.account_columns == demo.account_columns
    assert engine_ds.distinct_values("accounts", "region") == demo.distinct_values("accounts", "region")
    facts = engine_ds.table("invitation_facts")
    assert list(facts.columns) == list(demo.table("invitation_facts").columns)
    assert "***" in engine_ds.describe() or engine_ds.engine == "pyspark"
    assert engine_ds.fingerprint() != demo.fingerprint() and len(engine_ds.fingerprint()) == 64


@pytest.mark.slow
def test_account_summary_equals_duckdb(engine_ds: hm.Dataset, demo: hm.Dataset) -> None:
    expected = hm.account_summary(demo, by_role=True)
    assert len(expected) > 100
    assert_same(expected, hm.account_summary(engine_ds, by_role=True))


@pytest.mark.slow
def test_filtered_summary_and_blind_spots_equal_duckdb(engine_ds: hm.Dataset, demo: hm.Dataset) -> None:
    expected = hm.heatmap_tables(demo, FILTER)
    got = hm.heatmap_tables(engine_ds, FILTER)
    assert len(expected[0]) > 10
    assert_same(expected[0], got[0])
    assert_same(expected[1], got[1])


@pytest.mark.slow
def test_role_breakdown_equals_duckdb(engine_ds: hm.Dataset, demo: hm.Dataset) -> None:
    expected = hm.role_breakdown(demo)
    assert set(expected["role"]) == set(ROLES)
    assert_same(expected, hm.role_breakdown(engine_ds))


@pytest.mark.slow
def test_health_table_equals_duckdb(engine_ds: hm.Dataset, demo: hm.Dataset) -> None:
    expected = health.health_summary(demo)
    assert expected["active_users"].sum() > 0
    assert_same(expected, health.health_summary(engine_ds))


@pytest.mark.slow
def test_renewal_scores_equal_duckdb(engine_ds: hm.Dataset, demo: hm.Dataset) -> None:
    weights = renewal.Weights.load(WEIGHTS)
    expected = renewal.score(demo, weights)
    assert len(expected) > 50
    assert_same(expected, renewal.score(engine_ds, weights))


@pytest.mark.slow
def test_renewal_signals_equal_duckdb(pg_ds: hm.Dataset, demo: hm.Dataset) -> None:
    assert_same(renewal.signals(demo), renewal.signals(pg_ds))


# --------------------------------------------------------------------------------------------------------------
# validation inside the engine


@pytest.mark.slow
def test_row_rules_run_in_the_engine_and_report_every_problem(pg: PostgresServer) -> None:
    pg.clone("bad")
    pg.sql(
        "UPDATE bad.accounts SET value = -5 WHERE account_id = (SELECT min(account_id) FROM bad.accounts)",
        "INSERT INTO bad.contacts SELECT * FROM bad.contacts WHERE contact_id = (SELECT min(contact_id) FROM "
        "bad.contacts)",
        "UPDATE bad.contacts SET role = 'Boss' WHERE contact_id = (SELECT max(contact_id) FROM bad.contacts)",
        "UPDATE bad.invitations SET score = 11 WHERE invitation_id = (SELECT min(invitation_id) FROM "
        "bad.invitations WHERE score IS NOT NULL)",
        "UPDATE bad.invitations SET contact_id = 'nobody' WHERE invitation_id = (SELECT max(invitation_id) FROM "
        "bad.invitations)",
        "UPDATE bad.invitations SET responded_at = sent_at - 3 WHERE invitation_id = (SELECT max(invitation_id) "
        "FROM bad.invitations WHERE score IS NOT NULL)",
    )
    with pytest.raises(ValidationError) as info:
        hm.load(pg.url("bad"))
    found = {(p.table, p.column, p.rule.split(" (")[0].split(":")[0]) for p in info.value.problems}
    assert found == {
        ("accounts", "value", "must be >= 0"),
        ("contacts", "contact_id", "duplicate contact_id"),
        ("contacts", "role", "must be one of decision_maker, influencer, day_to_day"),
        ("invitations", "score", "must be from 0 to 10"),
        ("invitations", "contact_id", "must exist in contacts"),
        ("invitations", "responded_at", "must not be before sent_at"),
    }
    assert all(p.key and p.row is None for p in info.value.problems)
    message = str(info.value)
    assert message.startswith(f"{engines.redact(pg.url('bad'))}: 6 problems found")
    assert pg.password not in message
    assert "bad.invitations (" in message and "= 'nobody': must exist in contacts" in message
    # the structure alone is sound: checks=structure opens it (for tables an engine already keeps clean)
    ds = hm.load(pg.url("bad") + "&checks=structure")
    assert ds.rows["contacts"] == pg_rows(pg, "bad.contacts")
    ds.close()


def pg_rows(pg: PostgresServer, table: str) -> int:
    import psycopg

    with psycopg.connect(pg.url().split("?")[0]) as con:
        return int(con.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # type: ignore[index]


@pytest.mark.slow
def test_structural_problems_are_named_like_for_files(pg: PostgresServer) -> None:
    pg.clone("broken")
    pg.sql(
        "ALTER TABLE broken.accounts RENAME COLUMN value TO valeu",
        "ALTER TABLE broken.invitations ALTER COLUMN sent_at TYPE text",
        "DROP TABLE broken.contacts",
    )
    with pytest.raises(ValidationError) as info:
        hm.load(pg.url("broken"))
    by_table = {(p.table, p.column): p.rule for p in info.value.problems}
    assert by_table[("contacts", None)].startswith("required table is missing (expected contacts in postgres://")
    assert "is 'valeu' meant to be 'value'?" in by_table[("accounts", "value")]
    assert by_table[("invitations", "sent_at")].startswith("must be stored as a date (the engine holds string)")


@pytest.mark.slow
def test_names_types_and_role_spellings_are_normalised_in_the_engine(pg: PostgresServer, demo: hm.Dataset) -> None:
    pg.clone("variant")
    pg.sql(
        'ALTER TABLE variant.accounts RENAME COLUMN account_name TO "Account Name"',
        "ALTER TABLE variant.invitations ALTER COLUMN score TYPE double precision",
        "ALTER TABLE variant.invitations ALTER COLUMN sent_at TYPE timestamp",
        "UPDATE variant.contacts SET role = CASE role WHEN 'decision_maker' THEN 'Decision Maker' "
        "WHEN 'day_to_day' THEN 'end-user' ELSE 'INFLUENCER' END",
    )
    ds = hm.load(pg.url("variant"))
    assert ds.distinct_values("contacts", "role") == tuple(sorted(ROLES))
    expected = hm.account_summary(demo, FILTER)
    got = hm.account_summary(ds, FILTER)
    assert_same(expected, got)
    ds.close()
    pg.sql(
        "UPDATE variant.invitations SET score = 7.5 WHERE score = 7 AND invitation_id = (SELECT min("
        "invitation_id) FROM variant.invitations WHERE score = 7)"
    )
    with pytest.raises(ValidationError, match=r"score = '7\.5': must be a whole number"):
        hm.load(pg.url("variant"))


@pytest.mark.slow
def test_connection_errors_are_one_line_data_errors(pg: PostgresServer) -> None:
    with pytest.raises(DataError, match=r"^postgres://heatmap:\*\*\*@127\.0\.0\.1:\d+/postgres: cannot connect"):
        hm.load(pg.url(password="wrong"))
    with pytest.raises(ValidationError, match="required table is missing"):
        hm.load(pg.url("no_such_schema"))


# --------------------------------------------------------------------------------------------------------------
# batch runs and notebooks take a URL as their data


@pytest.mark.slow
@pytest.mark.notebook
def test_a_batch_runs_on_a_database_url_without_writing_its_password(
    pg: PostgresServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEATMAP_TEST_PG_PASSWORD", pg.password)
    data = pg.url("demo", password="${HEATMAP_TEST_PG_PASSWORD}")
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(
        yaml.safe_dump(
            {
                "notebook": str(NOTEBOOK),
                "data": data,
                "segment_by": "region",
                "segments": ["West", "East"],
                "output": "out",
                "workers": 1,
            }
        )
    )
    spec = batch.load_spec(spec_file)
    assert spec.data == data
    start = time.perf_counter()
    result = batch.run(spec, progress=False)
    assert result.exit_status == 0, [s.error for s in result.segments]
    manifest = json.loads((result.folder / "manifest.json").read_text())
    assert manifest["data"]["path"] == engines.redact(data) and manifest["data"]["rows"]["accounts"] == 150
    assert [s["status"] for s in manifest["segments"]] == ["ok", "ok"]
    for path in result.folder.rglob("*"):
        if path.is_file():
            assert pg.password not in path.read_text(errors="replace"), path
    assert time.perf_counter() - start < 60


@pytest.mark.slow
def test_open_data_opens_a_url_and_skips_row_checks_in_a_batch_kernel(pg: PostgresServer, tmp_path: Path) -> None:

    url = pg.url("demo")
    sidecar = tmp_path / "source.json"
    sidecar.write_text(json.dumps({"source": url}))
    calls: list[Any] = []
    original = engine_connect._validate
    try:
        engine_connect._validate = lambda *a: calls.append(a) or original(*a)  # type: ignore[assignment]
        prepared.open_data(url, prepared=sidecar).close()
        assert calls == []
        prepared.open_data(url).close()
        assert len(calls) == 1
    finally:
        engine_connect._validate = original  # type: ignore[assignment]


# --------------------------------------------------------------------------------------------------------------
# URL forms (no engine needed)


def test_postgres_urls_name_host_port_database_schema_and_libpq_options() -> None:
    for scheme in ("postgres", "postgresql"):
        src = engines.parse_url(f"{scheme}://ann:p%40ss@db.example.com:6543/sales?schema=cx&sslmode=require")
        assert src.engine == "postgres" and src.checks == "rows"
        o = src.options
        assert (o["host"], o["port"], o["user"], o["password"], o["database"], o["schema"]) == (
            "db.example.com",
            6543,
            "ann",
            "p@ss",
            "sales",
            "cx",
        )
        assert o["kwargs"] == {"sslmode": "require"}
        assert src.label == f"{scheme}://ann:***@db.example.com:6543/sales?schema=cx&sslmode=require"
    assert engines.parse_url("postgres://ann@h/db").options["port"] == 5432


def test_passwords_come_from_the_environment_and_never_show(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGSECRET", "s3cr/t")
    src = engines.parse_url("postgres://ann:${PGSECRET}@h:5432/db?checks=structure")
    assert src.options["password"] == "s3cr/t" and src.checks == "structure"
    assert "s3cr" not in src.label and src.label.startswith("postgres://ann:***@h:5432/db")
    monkeypatch.delenv("PGSECRET")
    with pytest.raises(DataError, match="environment variable PGSECRET is not set"):
        engines.parse_url("postgres://ann:${PGSECRET}@h/db")
    assert engines.redact("data/demo") == "data/demo"
    assert engines.redact("spark://local") == "spark://local"


def test_spark_urls_name_the_master_the_database_and_settings() -> None:
    def opts(url: str) -> dict[str, Any]:
        src = engines.parse_url(url)
        assert src.engine == "spark"
        return dict(src.options)

    assert opts("spark://local")["master"] == "local[*]"
    o = opts("spark://local?threads=2&spark.driver.memory=4g&path=/data/demo")
    assert (o["master"], o["conf"], o["path"], o["database"]) == (
        "local[2]",
        {"spark.driver.memory": "4g"},
        "/data/demo",
        None,
    )
    o = opts("spark://master.example.com:7077/sales")
    assert (o["master"], o["database"]) == ("spark://master.example.com:7077", "sales")
    assert opts("spark:///sales?master=yarn")["master"] == "yarn"
    assert opts("spark:///sales?master=k8s://https://k8s.example.com:6443")["master"].startswith("k8s://https://")
    with pytest.raises(DataError, match="unknown parameter cores"):
        engines.parse_url("spark://local?cores=2")
    with pytest.raises(DataError, match="threads must be"):
        engines.parse_url("spark://local?threads=zero")
    with pytest.raises(DataError, match="checks must be"):
        engines.parse_url("spark://local?checks=some")


def test_spark_connect_urls_keep_their_own_parameters() -> None:
    src = engines.parse_url("sc://spark.example.com:15002/;token=abc;use_ssl=true;database=sales")
    assert src.engine == "spark-connect"
    assert src.options["remote"] == "sc://spark.example.com:15002/;token=abc;use_ssl=true"
    assert src.options["database"] == "sales"
    assert engines.parse_url("sc://localhost").options["remote"] == "sc://localhost"


def test_other_ibis_backends_and_duckdb_files() -> None:
    src = engines.parse_url("trino://ann@trino.example.com:8080/hive/cx?checks=structure")
    assert (src.engine, src.checks, src.options["url"]) == (
        "trino",
        "structure",
        "trino://ann@trino.example.com:8080/hive/cx",
    )
    assert engines.parse_url("duckdb:///tmp/x.duckdb").options["path"] == "/tmp/x.duckdb"
    assert engines.is_url("snowflake://ann@acct/db/schema") and not engines.is_url("data/demo")
    assert not engines.is_url("C:\\data\\demo")


def test_a_url_source_is_never_quarantined() -> None:
    with pytest.raises(DataError, match="quarantine' is for files"):
        hm.load("postgres://ann:pw@127.0.0.1:1/db", on_error="quarantine")


def test_a_duckdb_url_loads_the_file(demo_dir: Path, tmp_path: Path, demo: hm.Dataset) -> None:
    import duckdb

    db = tmp_path / "demo.duckdb"
    con = duckdb.connect(str(db))
    for table in ("accounts", "contacts", "invitations"):
        con.execute(f"CREATE TABLE {table} AS SELECT * FROM read_csv('{demo_dir / table}.csv', all_varchar=true)")
    con.close()
    ds = hm.load(f"duckdb://{db}")
    assert ds.con is not None and ds.rows["invitations"] == demo.rows["invitations"]
    ds.close()


def test_a_duckdb_url_may_be_quarantined_like_the_file(demo_dir: Path, tmp_path: Path) -> None:
    import duckdb

    db = tmp_path / "bad.duckdb"
    con = duckdb.connect(str(db))
    for table in ("accounts", "contacts", "invitations"):
        con.execute(f"CREATE TABLE {table} AS SELECT * FROM read_csv('{demo_dir / table}.csv', all_varchar=true)")
    con.execute("UPDATE accounts SET value = '-1' WHERE account_id = (SELECT min(account_id) FROM accounts)")
    con.close()
    ds = hm.load(f"duckdb://{db}", on_error="quarantine", quarantine_dir=tmp_path / "q")
    assert ds.excluded_rows >= 1 and (tmp_path / "q" / "accounts.rejected.csv").exists()
    ds.close()
