"""Validate once: a validated dataset is kept as a DuckDB file that later opens reuse while its files are unchanged.

The cache lives in one folder (`cache_dir`): `$HEATMAP_CACHE_DIR`, else `$XDG_CACHE_HOME/heatmap`, else
`~/.cache/heatmap`; `load(path, cache=FOLDER)` names another and `cache=False` skips it. Each dataset path has an
entry folder (a hash of its resolved path) holding `<signature>.duckdb` and its description
`<signature>.duckdb.json` (`report.save_prepared`), where the signature is a hash over every source file's path,
size, modification and change times, inode and content hash (`file_signature`), and the loader's own version.
A changed, added or removed source file (or new validation rules) changes the signature, so the dataset is
validated again; the prepared copy is opened read-only, so any number of kernels and processes read one copy at
once. docs/decisions.md says why the content hash samples large files.

The folder does not grow without end: each new copy replaces its dataset's older one, and `prune` (run after each
new copy) removes the copies of datasets whose folder or file is gone, then the least recently opened ones while
the cache holds more than $HEATMAP_CACHE_MAX_GB (default 20).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from heatmap_lib.core.paths import PACKAGE
from heatmap_lib.data.dataset import Dataset, Exclusion, _lit

CACHE_ENV = "HEATMAP_CACHE_DIR"
MAX_ENV = "HEATMAP_CACHE_MAX_GB"
DEFAULT_MAX_GB = 20.0  # past this, the least recently opened prepared copies are removed (`prune`)
FULL_HASH_BYTES = 8 * 2**20  # files up to this size are hashed whole; larger ones by sampled blocks
SAMPLE_BLOCKS = 32
BLOCK_BYTES = 64 * 2**10
EDGE_BYTES = 2**20  # the head and tail of a large file are always hashed (a Parquet footer, a CSV header)
_SIDE = ".duckdb.json"


def cache_dir(where: str | Path | None = None) -> Path:
    """The folder of prepared datasets: `where`, else $HEATMAP_CACHE_DIR, else the user's cache folder."""
    if where:
        return Path(where).expanduser()
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "heatmap"


def content_hash(path: Path) -> str:
    """A BLAKE2b hash of the file's bytes: whole up to 8 MB, else its head, tail and 32 evenly spaced blocks."""
    size = path.stat().st_size
    digest = hashlib.blake2b(digest_size=20)
    with path.open("rb") as fh:
        if size <= FULL_HASH_BYTES:
            digest.update(fh.read())
            return digest.hexdigest()
        digest.update(fh.read(EDGE_BYTES))
        step = (size - 2 * EDGE_BYTES) // SAMPLE_BLOCKS
        for k in range(SAMPLE_BLOCKS):
            fh.seek(EDGE_BYTES + k * step)
            digest.update(fh.read(BLOCK_BYTES))
        fh.seek(size - EDGE_BYTES)
        digest.update(fh.read(EDGE_BYTES))
    return digest.hexdigest()


def file_signature(path: Path) -> dict[str, Any]:
    """What identifies one source file's state: resolved path, size, mtime, ctime, inode and content hash."""
    st = path.stat()
    return {
        "path": str(path.resolve()),
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "ctime_ns": st.st_ctime_ns,
        "inode": st.st_ino,
        "hash": content_hash(path),
    }


# the code that decides what a loaded file dataset holds, and how its prepared copy is described and reopened
LOADER_MODULES = (
    "core/schema.py",
    "data/dataset.py",
    "data/readers.py",
    "data/checks.py",
    "data/file_loader.py",
    "data/prepared_cache.py",
)


@functools.cache
def loader_version() -> str:
    """A hash of the loader's own code (`LOADER_MODULES`): a copy made by other rules is not reused."""
    files = [PACKAGE / name for name in LOADER_MODULES]
    return hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()[:16]


def signature(files: Iterable[Path]) -> tuple[str, list[dict[str, Any]]]:
    """A hash over the loader's version and the signatures of all source files (sorted by path), and those."""
    sigs = sorted((file_signature(Path(f)) for f in files), key=lambda s: s["path"])
    sigs.append({"loader": loader_version()})
    return hashlib.sha256(json.dumps(sigs, sort_keys=True).encode()).hexdigest()[:32], sigs


def entry_dir(root: Path, cache: str | Path | None = None) -> Path:
    """The cache folder of one dataset path (the same path always maps to the same folder)."""
    key = hashlib.sha256(str(Path(root).resolve()).encode()).hexdigest()[:24]
    return cache_dir(cache) / key


def lookup(root: Path, files: list[Path], cache: str | Path | None = None) -> tuple[Path | None, Path, str, list]:
    """The description (sidecar) of a prepared copy matching the sources now, or None; and where one would go."""
    sig, sigs = signature(files)
    entry = entry_dir(root, cache)
    sidecar = entry / (sig + _SIDE)
    db = entry / (sig + ".duckdb")
    if sidecar.is_file() and db.is_file():
        try:
            info = json.loads(sidecar.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None, db, sig, sigs
        if info.get("signature") == sigs:
            with contextlib.suppress(OSError):
                os.utime(sidecar)  # last opened: `prune` removes the least recently opened copies first
            return sidecar, db, sig, sigs
    return None, db, sig, sigs


def publish(tmp_db: Path, db: Path, dataset: Any, sigs: list[dict[str, Any]]) -> Path:
    """Move a freshly validated DuckDB file into the cache with its description; drop older copies of the entry."""
    from heatmap_lib.core.progress import bar

    step = bar(1, f"preparing {Path(dataset.path).name}")
    db.parent.mkdir(parents=True, exist_ok=True)
    tmp_db.replace(db)
    sidecar = save_prepared(
        dataset,
        db,
        extra={"signature": sigs, "fingerprint": dataset.fingerprint(), "source": str(Path(dataset.path).resolve())},
    )
    step.update()
    step.close()
    for old in db.parent.iterdir():
        if old.name.startswith(db.stem) or old.name.startswith("."):
            continue
        if old.name.endswith((".duckdb", _SIDE, ".wal")):
            old.unlink(missing_ok=True)  # a kernel still reading an older copy keeps its open file
    prune(db.parent.parent, keep=db.parent)
    return sidecar


def max_bytes() -> float:
    """The cache's size limit in bytes: $HEATMAP_CACHE_MAX_GB (default 20), or no limit when that is not a number."""
    try:
        return float(os.environ.get(MAX_ENV, DEFAULT_MAX_GB)) * 1e9
    except ValueError:
        return float("inf")


def prune(cache: str | Path | None = None, *, keep: Path | None = None) -> list[str]:
    """Remove prepared copies whose source is gone, then the least recently opened past the size limit.

    `keep` (an entry folder, the copy just made) is never removed; a kernel still reading a removed copy keeps its
    open file. Returns the sources of the removed copies, so a caller can say which.
    """
    every = entries(cache)  # one read of the descriptions
    found = [e for e in every if keep is None or Path(e["database"]).parent != Path(keep)]
    gone = [e for e in found if not e["source"] or not Path(e["source"]).exists()]
    total = sum(e["bytes"] for e in every)
    limit = max_bytes()
    removed: list[str] = []
    for e in gone + sorted((e for e in found if e not in gone), key=lambda e: e["opened"]):
        if e not in gone and total <= limit:
            break
        shutil.rmtree(Path(e["database"]).parent, ignore_errors=True)
        total -= e["bytes"]
        removed.append(str(e["source"]))
    return removed


def writable(cache: str | Path | None = None) -> bool:
    """Whether the cache folder can take a prepared copy (created if missing)."""
    folder = cache_dir(cache)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".probe-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError:
        return False
    return True


def pin(dataset: Any, folder: Path) -> Path:
    """Hard-link a dataset's prepared copy into `folder` (a batch run's own) with its description; return that.

    A newer copy replacing it in the cache, or `heatmap cache clear`, then leaves the run's copy in place. On
    another file system, where no hard link can be made, the cache's own description is returned.
    """
    from heatmap_lib.core.exceptions import HeatmapError

    if dataset._sidecar is None:
        raise HeatmapError(f"{dataset.path}: the validated data could not be kept in the cache folder {cache_dir()}")
    info = json.loads(Path(dataset._sidecar).read_text(encoding="utf-8"))
    target = folder / "dataset.duckdb"
    try:
        os.link(info["database"], target)
    except OSError:
        return Path(dataset._sidecar)
    info["database"] = str(target)
    info["source"] = str(dataset.path)  # as the run names the data: its kernels open it by that name
    sidecar = folder / ("dataset" + _SIDE)
    sidecar.write_text(json.dumps(info, indent=1), encoding="utf-8")
    return sidecar


def entries(cache: str | Path | None = None) -> list[dict[str, Any]]:
    """Every prepared dataset in the cache: its source, tables' rows, size on disk and when it was prepared."""
    found: list[dict[str, Any]] = []
    folder = cache_dir(cache)
    if not folder.is_dir():
        return found
    for sidecar in sorted(folder.glob("*/*" + _SIDE)):
        try:
            info = json.loads(sidecar.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        db = Path(info.get("database", ""))
        found.append(
            {
                "source": info.get("source"),
                "rows": info.get("rows", {}),
                "bytes": db.stat().st_size if db.is_file() else 0,
                "prepared": db.stat().st_mtime if db.is_file() else sidecar.stat().st_mtime,
                "opened": sidecar.stat().st_mtime,  # `lookup` touches it on every reuse
                "database": str(db),
            }
        )
    return found


def clear(cache: str | Path | None = None) -> int:
    """Remove every prepared dataset from the cache folder; return how many entries were removed."""
    folder = cache_dir(cache)
    if not folder.is_dir():
        return 0
    n = 0
    for entry in folder.iterdir():
        if entry.is_dir() and len(entry.name) == 24:
            shutil.rmtree(entry, ignore_errors=True)
            n += 1
    return n


def open_prepared(
    sidecar: str | Path,
    *,
    path: str | None = None,
    notes: Iterable[str] | None = None,
    memory_limit: str | None = None,
) -> Any:
    """A read-only Dataset over a prepared copy (described by `report.save_prepared`); any number may be open at once.

    `path` and `notes` replace the recorded source path and notes (the same data opened as the caller names it).
    """
    import duckdb

    info = json.loads(Path(sidecar).read_text(encoding="utf-8"))
    con = duckdb.connect(info["database"], read_only=True)
    if memory_limit:
        con.execute(f"SET memory_limit = {_lit(memory_limit)}")
    return Dataset(
        path=path if path is not None else info["source"],
        con=con,
        present=frozenset(info["present"]),
        rows={k: int(v) for k, v in info["rows"].items()},
        exclusions=tuple(Exclusion(**e) for e in info["exclusions"]),
        notes=tuple(info["notes"] if notes is None else notes),
        account_columns=tuple(info["account_columns"]),
        _files=tuple(Path(f) for f in info["files"]),
        _fingerprint=info.get("fingerprint"),
        _sidecar=Path(sidecar),
    )


def save_prepared(dataset: Any, database: str | Path, *, extra: Mapping[str, Any] | None = None) -> Path:
    """Describe a dataset loaded into the DuckDB file `database` (by `load(..., database=...)`) for `open_data`.

    Writes `<database>.json` beside it (source path, tables, rows, account columns, exclusions, and `extra`)
    and returns it; written to a temporary name and renamed, so a reader never sees half of it.
    """
    db = Path(database)
    info = {
        "source": str(dataset.path),
        "database": str(db),
        "present": sorted(dataset.present),
        "rows": dict(dataset.rows),
        "account_columns": list(dataset.account_columns),
        "exclusions": [{"table": e.table, "rows": e.rows, "file": e.file} for e in dataset.exclusions],
        "notes": list(dataset.notes),
        "files": [str(f) for f in getattr(dataset, "_files", ())],
        **(extra or {}),
    }
    sidecar = db.with_name(db.name + ".json")
    tmp = sidecar.with_name(f".{sidecar.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(info, indent=1), encoding="utf-8")
    tmp.replace(sidecar)
    return sidecar
