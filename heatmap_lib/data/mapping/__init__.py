"""Bring your own data: a YAML mapping file turns survey-tool, CRM and analytics exports into the data contract.

A mapping names its source files (CSV with any number of header rows, an xlsx sheet, Parquet, JSON lines) and, per
contract table, the source that feeds it and how each column is made: renamed, constant, value-mapped, parsed from a
date format or a score written as text, a wave derived from a date (calendar or fiscal quarter) or a campaign name,
an account found by an id column or by the contact's e-mail domain, a role from a job title (`titles.py`).

Everything runs inside DuckDB: the sources are read once, each table is one SELECT written to Parquet with the
source record of each row kept beside it, and the usual loader (`data.load`) validates the result. Every problem it
finds is then named at its source: the source file, its line (header rows counted as in the file) or row, and the
source column. `--on-error quarantine` works the same way, its files rewritten to point at the sources.

The package: `spec` (the mapping file read and checked into a `MappingSpec`), `apply` (the sources staged and one
SELECT per table written as Parquet: `map_to_folder`), `locate` (a mapped row traced back to its source line and
column) and `importing` (`map_dataset`, `load_mapped`, `import_dataset`: the mapped tables loaded by the file
loader, problems named at their sources, the result written for `heatmap import`).
"""

from heatmap_lib.data.mapping.apply import HIDDEN, MapReport, map_to_folder
from heatmap_lib.data.mapping.importing import import_dataset, load_mapped, map_dataset, write_dataset
from heatmap_lib.data.mapping.spec import (
    COLUMN_KEYS,
    DATE_FORMATS,
    MAPPING_SUFFIXES,
    SOURCE_KEYS,
    SPECIAL_FORMATS,
    TABLE_KEYS,
    TOP_KEYS,
    ColumnSpec,
    MappingError,
    MappingSpec,
    SourceKind,
    SourceSpec,
    TableSpec,
    is_mapping,
    read_mapping,
)

__all__ = [
    "COLUMN_KEYS",
    "DATE_FORMATS",
    "HIDDEN",
    "MAPPING_SUFFIXES",
    "SOURCE_KEYS",
    "SPECIAL_FORMATS",
    "TABLE_KEYS",
    "TOP_KEYS",
    "ColumnSpec",
    "MapReport",
    "MappingError",
    "MappingSpec",
    "SourceKind",
    "SourceSpec",
    "TableSpec",
    "import_dataset",
    "is_mapping",
    "load_mapped",
    "map_dataset",
    "map_to_folder",
    "read_mapping",
    "write_dataset",
]
