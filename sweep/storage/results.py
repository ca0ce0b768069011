"""Results store: one Parquet file per (search, trial, attempt) under ``SWEEP_DIR/results``, merged into one
file per search once it ends (``sweep.storage.compaction``).

Every file of one sweep has the same Arrow schema (the base columns, then the sweep's
``hp_*`` columns), so ``pyarrow.dataset.dataset(SWEEP_DIR / "results")`` reads a whole
sweep without any xstilts code (but for the files a crash during compaction left behind, which the next
``sweep compact`` deletes and xstilts' readers skip).
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from sweep.errors import ResultsError
from trainers.fileio import fsync_dir, write_atomic

SCHEMA_VERSION = 2  # 2 added task, regime, layer and origin
KNOWN_VERSIONS = frozenset({1, 2})
VERSION_KEY = b"xstilts.schema_version"
SWEEP_KEY = b"xstilts.sweep"
STATUSES = frozenset({"completed", "stopped", "errored"})
PHASES = frozenset({"intermediate", "target"})
HP_TYPES: Mapping[str, pa.DataType] = {"float": pa.float64(), "int": pa.int64(), "str": pa.string()}

_TS = pa.timestamp("ms", tz="UTC")
_BASE_FIELDS = (
    ("sweep", pa.string()),
    ("search", pa.string()),
    ("pair", pa.string()),
    ("model", pa.string()),
    ("intermediate", pa.string()),
    ("target", pa.string()),
    ("trial_id", pa.string()),
    ("attempt", pa.int32()),
    ("status", pa.string()),
    ("phase", pa.string()),
    ("step", pa.int32()),
    ("split", pa.string()),
    ("language", pa.string()),
    ("metric", pa.string()),
    ("value", pa.float64()),
    ("seed", pa.int64()),
    ("wall_s", pa.float64()),
    ("node", pa.string()),
    ("started_at", _TS),
    ("reported_at", _TS),
    ("error", pa.string()),
    ("task", pa.string()),  # the task a row scores (a mixture's source; else the search's task)
    ("regime", pa.string()),  # a pair's target regime (zero_shot, ...); null in stage one
    ("layer", pa.int32()),  # the encoder layer a retrieval row embeds with; null elsewhere
    ("origin", pa.string()),  # trained here, or reused from a checkpoint store
)
BASE_COLUMNS: tuple[str, ...] = tuple(name for name, _ in _BASE_FIELDS)
_NULLABLE = frozenset({"target", "error", "task", "regime", "layer", "origin"})
_V2_COLUMNS = ("task", "regime", "layer", "origin")  # what version-1 files lack
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def safe_path_part(value: Any, *, what: str) -> str:
    """Return ``value`` if it may name a file or folder inside a sweep directory.

    Names starting with "." or "_" are refused because pyarrow.dataset skips such paths:
    rows stored under them would silently be missing from the results.
    """
    if not isinstance(value, str) or not value or value[0] in "._" or any(c in value for c in "/\\\x00"):
        raise ResultsError(
            f"{what} {value!r} cannot be used as a file name: it must be a non-empty string "
            "without '/' or '\\' that does not start with '.' or '_'; give it another name"
        )
    return value


def results_schema(*, sweep: str, hp_types: Mapping[str, str]) -> pa.Schema:
    """Return the Arrow schema of every results file of ``sweep``.

    hp columns are sorted by name so that the schema does not depend on the key order of
    the config that declared them. Example::

        results_schema(sweep="s1", hp_types={"lr": "float"}).names[-1]  # "hp_lr"
    """
    if not isinstance(sweep, str) or not sweep:
        raise ResultsError(f"sweep name {sweep!r} is not a non-empty string; pass the sweep's name")
    fields = [pa.field(name, typ) for name, typ in _BASE_FIELDS]
    for name, kind in hp_types.items():
        if not isinstance(name, str) or not name or kind not in HP_TYPES:
            raise ResultsError(
                f"hyperparameter {name!r} of type {kind!r} cannot be stored: give "
                f"it a non-empty name and one of the types {', '.join(HP_TYPES)}"
            )
    fields += [pa.field(f"hp_{name}", HP_TYPES[hp_types[name]]) for name in sorted(hp_types)]
    return pa.schema(fields, metadata={VERSION_KEY: str(SCHEMA_VERSION).encode(), SWEEP_KEY: sweep.encode()})


def _to_ms(value: Any, *, where: str, column: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ResultsError(
                f"{where}: {column} {value!r} has no time zone; pass a timezone-aware datetime or unix seconds"
            )
        # Integer arithmetic on timedeltas is exact, unlike datetime.timestamp().
        return (value - _EPOCH) // timedelta(milliseconds=1)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return round(value * 1000)
    raise ResultsError(f"{where}: {column} is {value!r}; pass unix seconds or a datetime")


def _check_row(
    row: Mapping[str, Any], *, where: str, expected: Mapping[str, Any], hp_names: Sequence[str]
) -> Mapping[str, Any]:
    unknown = sorted(set(row) - set(BASE_COLUMNS) - {"hp"})
    if unknown:
        raise ResultsError(f"{where} has unknown keys {unknown}; allowed are {list(BASE_COLUMNS)} and 'hp'")
    missing = [n for n in BASE_COLUMNS if n not in _NULLABLE and row.get(n) is None]
    if missing:
        raise ResultsError(f"{where} has no value for {missing[0]!r}; give every row one")
    for key, want in expected.items():
        if row[key] != want:
            raise ResultsError(
                f"{where} has {key} {row[key]!r} but is written as {want!r}; write each attempt's rows separately"
            )
    for key, allowed in (("status", STATUSES), ("phase", PHASES)):
        if row[key] not in allowed:
            raise ResultsError(f"{where} has {key} {row[key]!r}; use one of {sorted(allowed)}")
    if row["phase"] == "target" and row.get("target") is None:
        raise ResultsError(f"{where} is of phase 'target' but has no target; give its name")
    hp = row.get("hp") or {}
    if not isinstance(hp, Mapping):
        raise ResultsError(f"{where} has hp {hp!r}; pass a dict of name -> value")
    extra = sorted(set(hp) - set(hp_names))
    if extra:
        raise ResultsError(
            f"{where} has undeclared hyperparameters {extra}; declared are "
            f"{list(hp_names)}: declare them when creating the sweep"
        )
    return hp


class ResultsStore:
    """Writes the rows of each (search, trial, attempt) of one sweep as one Parquet file.

    Contract:
    * Atomic: a results file appears under its final name complete or not at all; it is
      written under a "."-prefixed temporary name (ignored by readers), fsynced, renamed.
    * Idempotent on resume: once an attempt's file exists it never changes; writing the
      same attempt again writes nothing and returns None (first write wins).
    * Concurrent: distinct attempts may be written at once from several threads or
      processes; racing writers of one attempt still leave exactly one complete file.
    * Shared storage: with ``publish`` (``SweepDir.publish``) each file, once written, is copied whole
      to the sweep's place on shared storage, where an object appears complete or not at all; a
      file that was not written (it existed) is not copied again.

    Example::

        store = ResultsStore(sweep_dir / "results", sweep="s1", hp_types={"lr": "float"})
        store.write_attempt(rows, search="xnli", trial_id="a1b2_00000", attempt=0)
        table = ResultsStore.read(sweep_dir / "results")
    """

    def __init__(
        self,
        root: Path,
        *,
        sweep: str,
        hp_types: Mapping[str, str],
        publish: Callable[[Path], None] | None = None,
    ) -> None:
        self.root = Path(root)
        self.publish = publish  # copies each written file to shared storage (``SweepDir.publish``)
        self.sweep = sweep
        self.schema = results_schema(sweep=sweep, hp_types=hp_types)
        self._hp_names = [n[3:] for n in self.schema.names[len(BASE_COLUMNS) :]]

    def attempt_path(self, *, search: str, trial_id: str, attempt: int) -> Path:
        """Return ``root/<search>/<trial_id>.a<attempt>.parquet``."""
        if not isinstance(attempt, int) or isinstance(attempt, bool) or attempt < 0:
            raise ResultsError(f"attempt {attempt!r} is not a non-negative integer; pass 0, 1, ...")
        return (
            self.root
            / safe_path_part(search, what="search")
            / f"{safe_path_part(trial_id, what='trial id')}.a{attempt}.parquet"
        )

    def has_attempt(self, *, search: str, trial_id: str, attempt: int) -> bool:
        """Tell whether the rows of this attempt are already stored (in its own file, or compacted)."""
        path = self.attempt_path(search=search, trial_id=trial_id, attempt=attempt)
        return path.exists() or path.name in covered(path.parent)[1]

    def attempt_table(self, *, search: str, trial_id: str, attempt: int, columns: Sequence[str]) -> pa.Table:
        """The stored rows of one attempt (from its own file, or from its search's compacted file)."""
        path = self.attempt_path(search=search, trial_id=trial_id, attempt=attempt)
        if path.exists():
            return pq.read_table(path, columns=list(columns))
        newest, held = covered(path.parent)
        if newest is None or path.name not in held:
            raise ResultsError(f"no stored rows for {search!r} trial {trial_id!r} attempt {attempt}")
        # Row filters on the two columns: only the row groups holding this attempt are decoded.
        return pq.read_table(
            newest, columns=list(columns), filters=[("trial_id", "=", trial_id), ("attempt", "=", attempt)]
        )

    def write_attempt(
        self, rows: Sequence[Mapping[str, Any]], *, search: str, trial_id: str, attempt: int
    ) -> Path | None:
        """Store all rows of one attempt as one file; return its path, or None if already stored."""
        final = self.attempt_path(search=search, trial_id=trial_id, attempt=attempt)
        # Rows are checked even when the attempt is stored already, so bad rows never pass.
        table = self._table(rows, search=search, trial_id=trial_id, attempt=attempt)
        if final.exists() or final.name in covered(final.parent)[1]:
            return None
        new_dir = not final.parent.exists()
        final.parent.mkdir(parents=True, exist_ok=True)
        if new_dir:
            fsync_dir(final.parent.parent)
        # First write wins: a racing writer of the same attempt finds the name taken; its rows equal ours.
        written = write_atomic(final, lambda f: pq.write_table(table, f), overwrite=False)
        if written and self.publish is not None:
            self.publish(final)
        return final if written else None

    def _table(self, rows: Sequence[Mapping[str, Any]], *, search: str, trial_id: str, attempt: int) -> pa.Table:
        if not rows:
            raise ResultsError(
                f"no rows given for search {search!r} trial {trial_id!r} attempt {attempt}: every "
                "attempt has at least one row (an errored trial gets a row with metric 'error')"
            )
        expected = {"sweep": self.sweep, "search": search, "trial_id": trial_id, "attempt": attempt}
        columns: dict[str, list[Any]] = {name: [] for name in self.schema.names}
        where = f"search {search!r} trial {trial_id!r} attempt {attempt}"
        for i, row in enumerate(rows):
            hp = _check_row(row, where=f"row {i} of {where}", expected=expected, hp_names=self._hp_names)
            for name in BASE_COLUMNS:
                columns[name].append(row.get(name))
            for name in self._hp_names:
                columns[f"hp_{name}"].append(hp.get(name))
        for name in ("started_at", "reported_at"):
            columns[name] = [_to_ms(v, where=where, column=name) for v in columns[name]]
        arrays = []
        for field in self.schema:
            values = columns[field.name]
            try:
                # pa.array would silently truncate 1.5 to 1 in an integer column.
                if pa.types.is_integer(field.type) and any(isinstance(v, float) for v in values):
                    raise TypeError("a float was given")
                arrays.append(pa.array(values, type=field.type))
            except (pa.ArrowException, TypeError, ValueError, OverflowError) as exc:
                raise ResultsError(
                    f"column {field.name!r} of {where} cannot hold the values given ({exc}); pass {field.type} values"
                ) from exc
        return pa.Table.from_arrays(arrays, schema=self.schema)

    @staticmethod
    def read(root: Path, *, columns: Sequence[str] | None = None) -> pa.Table:
        """Read every results file under ``root`` into one table, checking each file first.

        Example: ``ResultsStore.read(sweep_dir / "results", columns=["metric", "value"])``.
        """
        try:
            return ResultsStore.read_files(result_files(root), columns=columns, where=root)
        except FileNotFoundError:  # a compaction deleted what it merged while this listed: list again
            return ResultsStore.read_files(result_files(root), columns=columns, where=root)

    @staticmethod
    def read_files(
        files: Sequence[Path], *, columns: Sequence[str] | None = None, where: Path | None = None
    ) -> pa.Table:
        """Read exactly ``files`` (results files of one or more sweeps) into one table, checking each first."""
        root = where if where is not None else (Path(files[0]).parent if files else Path("."))
        schemas = [checked_schema(p) for p in files]
        if schemas:
            try:
                # The base columns first, always: files of older versions lack some.
                base = pa.schema([pa.field(name, typ) for name, typ in _BASE_FIELDS])
                unified = pa.unify_schemas([base, *schemas], promote_options="permissive")
            except pa.ArrowException as exc:
                raise ResultsError(
                    f"results files under {root} disagree on column types ({exc}); "
                    "read each sweep's results folder separately"
                ) from exc
        else:
            unified = pa.schema([pa.field(name, typ) for name, typ in _BASE_FIELDS])
        metadata = {VERSION_KEY: str(SCHEMA_VERSION).encode()}
        sweeps = {s.metadata[SWEEP_KEY] for s in schemas if SWEEP_KEY in s.metadata}
        if len(sweeps) == 1:
            metadata[SWEEP_KEY] = sweeps.pop()
        wanted = list(unified.names) if columns is None else list(columns)
        unknown = [c for c in wanted if c not in unified.names]
        if unknown:
            raise ResultsError(
                f"unknown columns {unknown} in {root} ({len(files)} result files); available are {unified.names}"
            )
        target = pa.schema([unified.field(c) for c in wanted], metadata=metadata)
        tables = [read_file(p, s, target) for p, s in zip(files, schemas, strict=True)]
        return pa.concat_tables(tables) if tables else target.empty_table()


COMPACTED = re.compile(r"^search\.c(\d+)\.parquet$")  # a search's merged results (sweep.storage.compaction)
# A merged file before it takes its name: whole (written atomically), but hidden from other readers (pyarrow
# skips names starting with "."; DuckDB's and Polars' "*.parquet" globs skip other suffixes).
PENDING = re.compile(r"^\.search\.c(\d+)\.pending$")
COVERS_KEY = b"xstilts.covers"  # in a merged file's footer: the attempt files it holds the rows of


def is_merged(name: str) -> bool:
    """Whether a search folder's file ``name`` is a merged file (named, or pending), not an attempt's."""
    return bool(COMPACTED.match(name) or PENDING.match(name))


def compacted_files(names: Sequence[Path]) -> list[tuple[int, Path]]:
    """The merged files among ``names`` (one search folder's files), by generation, oldest first: pending ones
    too (a pending file is whole), and of one generation's two the named one last."""
    found = []
    for p in names:
        name = Path(p).name
        if m := COMPACTED.match(name):
            found.append((int(m.group(1)), 1, p))
        elif m := PENDING.match(name):
            found.append((int(m.group(1)), 0, p))
    return [(generation, p) for generation, _, p in sorted(found)]


def _results_file(name: str) -> bool:
    """Whether a search folder's file ``name`` is one xstilts reads: an attempt's, a merged or a pending one
    (names starting with "." or "_" are otherwise files being written)."""
    return bool(PENDING.match(name)) or (name.endswith(".parquet") and name[0] not in "._")


def search_listing(folder: Path) -> list[Path]:
    """A search folder's results files (``_results_file``), from one listing of the folder taken while nothing
    was added, deleted or renamed in it: a listing taken during a compaction's rename could hold neither the
    pending name nor the final one (the folder's mtime tells; it is listed again)."""
    folder = Path(folder)
    for _ in range(100):
        before = folder.stat().st_mtime_ns
        with os.scandir(folder) as entries:
            names = sorted(e.name for e in entries if _results_file(e.name) and e.is_file())
        if folder.stat().st_mtime_ns == before:
            break
    return [folder / name for name in names]


@lru_cache(maxsize=4096)
def _covers(path: Path, mtime_ns: int, size: int) -> frozenset[str]:
    try:
        metadata = pq.read_schema(path).metadata or {}
        return frozenset(json.loads(metadata.get(COVERS_KEY, b"[]")))
    except (pa.ArrowException, ValueError) as exc:  # not a transient error: the file is damaged
        raise _damaged(path, exc) from exc


def covers(path: Path) -> frozenset[str]:
    """The attempt file names a compacted file covers (read once per version of the file)."""
    stat = Path(path).stat()
    return _covers(Path(path), stat.st_mtime_ns, stat.st_size)


def covered(folder: Path) -> tuple[Path | None, frozenset[str]]:
    """A search folder's newest merged file (or None), and the attempt file names it covers."""
    folder = Path(folder)
    files = compacted_files(search_listing(folder)) if folder.is_dir() else []
    if not files:
        return None, frozenset()
    return files[-1][1], covers(files[-1][1])


def search_files(names: Sequence[Path]) -> list[Path]:
    """Of ``names`` (one listing of a search folder's files), those a reader reads: the newest merged file
    among them and the attempt files it does not cover. Taking the newest from the listing itself keeps the
    answer whole while the driver writes a newer one: a file deleted or renamed meanwhile fails to open, and
    the reader lists again (``ResultsStore.read``)."""
    generations = compacted_files(names)
    if not generations:
        return list(names)
    newest = generations[-1][1]
    held = covers(newest)
    return [p for p in names if p == newest or (not is_merged(p.name) and p.name not in held)]


def result_files(root: Path, *, on_damaged: Callable[[Path, ResultsError], None] | None = None) -> list[Path]:
    """Every results file under ``root`` that a reader reads, sorted: names starting with "." or "_" (a file
    being written) are not results, but for a compaction's pending merged file; in a compacted search folder
    the attempt files its newest merged file covers are not read again (``sweep.storage.compaction``). A
    damaged compacted file raises, or with ``on_damaged`` is reported there and left out (the files it
    covered, if still there, are read instead)."""
    root = Path(root)
    by_folder: dict[Path, list[Path]] = {}
    for folder, folders, _ in os.walk(root):
        folders[:] = sorted(d for d in folders if d[0] not in "._")  # hidden folders hold no results
        if files := search_listing(Path(folder)):  # each folder from one listing (see search_listing)
            by_folder[Path(folder)] = files
    out = []
    for names in by_folder.values():
        while True:
            try:
                out += search_files(names)
                break
            except ResultsError as exc:
                if on_damaged is None:
                    raise
                bad = compacted_files(names)[-1][1]
                on_damaged(bad, exc)
                names = [p for p in names if p != bad]
    return sorted(out)


def read_results(root: Path, *, columns: Sequence[str] | None = None) -> pa.Table:
    """Same as :meth:`ResultsStore.read`, e.g. ``read_results(sweep_dir / "results")``."""
    return ResultsStore.read(root, columns=columns)


def _damaged(path: Path, exc: BaseException) -> ResultsError:
    return ResultsError(
        f"results file {path} is damaged ({exc}): it was not written completely "
        "by xstilts or was altered afterwards; move it out of the results folder "
        "and run `sweep resume <sweep dir>` to rewrite it from the trial journal"
    )


def checked_schema(path: Path) -> pa.Schema:
    try:
        schema = pq.read_schema(path)
    except FileNotFoundError:
        raise  # gone since it was listed (a compaction merged it): the reader lists again
    except (pa.ArrowException, OSError) as exc:
        raise _damaged(path, exc) from exc
    raw = (schema.metadata or {}).get(VERSION_KEY)
    if raw is None:
        raise ResultsError(
            f"{path} is not an xstilts results file (its schema has no "
            f"{VERSION_KEY.decode()}); move it out of the results folder"
        )
    if raw.decode(errors="replace") not in {str(v) for v in KNOWN_VERSIONS}:
        raise ResultsError(
            f"{path} has results schema version {raw.decode(errors='replace')}, "
            f"but this xstilts reads versions {sorted(KNOWN_VERSIONS)}; "
            "upgrade xstilts to read it"
        )
    return schema


def read_file(path: Path, schema: pa.Schema, target: pa.Schema) -> pa.Table:
    present = [f.name for f in target if f.name in schema.names]
    version_1 = (schema.metadata or {}).get(VERSION_KEY) == b"1"
    # A version-1 file lacks the columns version 2 added; what they would hold follows from three others.
    extra = ["target", "intermediate", "phase"] if version_1 and set(_V2_COLUMNS) & set(target.names) else []
    try:
        with pq.ParquetFile(path) as pf:
            table = pf.read(columns=list(dict.fromkeys([*present, *extra])))
        fills = _v1_values(table) if extra else {}
        # Files of other sweeps may lack hp columns: those read as nulls.
        arrays = [
            table.column(f.name).cast(f.type)
            if f.name in present
            else (pa.array(fills[f.name], type=f.type) if f.name in fills else pa.nulls(table.num_rows, f.type))
            for f in target
        ]
    except FileNotFoundError:
        raise
    except (pa.ArrowException, OSError) as exc:
        raise _damaged(path, exc) from exc
    return pa.Table.from_arrays(arrays, schema=target)


def _v1_values(pf_table: pa.Table) -> dict[str, list[Any]]:
    """What a version-1 file's rows hold in the columns version 2 added: every row was trained here, scored
    its search's task (the target, or the intermediate task), and a pair trained zero-shot."""
    target = pf_table.column("target").to_pylist()
    intermediate = pf_table.column("intermediate").to_pylist()
    phase = pf_table.column("phase").to_pylist()
    return {
        "task": [t if t is not None else (i or "").split("@")[0] for t, i in zip(target, intermediate, strict=True)],
        "regime": ["zero_shot" if p == "target" else None for p in phase],
        "origin": ["trained"] * pf_table.num_rows,
    }
