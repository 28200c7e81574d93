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

The package: `urls` (parsing and redacting connection URLs), `spark` (the Spark sessions heatmap starts and
stops), `views` (each table's columns renamed and typed as the contract's, `invitation_facts` a join), `row_checks`
(the contract's row rules counted in the engine, the examples fetched), `connect` (opening a URL or a backend as a
Dataset) and `copying` (writing a validated dataset's tables into an engine).
"""

from heatmap_lib.data.engines.connect import open_backend, open_url
from heatmap_lib.data.engines.copying import copy_dataset
from heatmap_lib.data.engines.row_checks import MAX_EXAMPLES
from heatmap_lib.data.engines.spark import SPARK_DEFAULTS, shutdown_spark, spark_session
from heatmap_lib.data.engines.urls import Source, is_source, is_url, parse_url, redact

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
