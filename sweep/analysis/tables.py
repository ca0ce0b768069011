"""Several sweeps' results as one set of SQL views, read in place by DuckDB.

``Results(["sweeps/a", "s3://bucket/sweeps/b"])`` opens the sweeps (a URI is fetched as ``sweep query`` always
did), checks every results file's schema version, and defines these views over the Parquet files:

``rows``       every result row, as stored, plus ``mixture`` (the intermediate entry's sources, if it is a
               mixture) and ``english_share`` (the share of English in what stage one trained on)
``trials``     one row per attempt of a trial: its pair, seed, status, last step, best dev objective, wall
               time, GPU-hours and hyperparameters
``selected``   the protocol's choice: each search's best (trial, attempt, step) on its dev objective; in a
               seeds search, each seed's run's best step
``best``       the test scores at each selected step: one row per language and metric, with the language's
               family, genus and script
``scores``     the protocol's scores: ``best`` in each target's headline metric, a pair's seed runs where it was
               re-run with seeds (else its selected run); what every analysis averages
``searches``   each search as its sweep's manifest records it (pair, phase, state, origin)
``sweeps``     one row per sweep: its name, location, and the resources a trial held
``languages``  the language table (``trainers.languages``), with its sources in the docs
``tasks``      every known task: its kind, benchmark, headline metric and XTREME / XTREME-R task groups

``Results.sql(query)`` returns a ``pyarrow.Table`` (``.to_pandas()``, or ``polars.from_arrow``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from sweep.analysis.sweeps import QueryError, open_sweeps
from sweep.errors import ResultsError, XStiltsError, suggest
from sweep.plan.searches import SEEDS_SUFFIX
from sweep.storage.results import KNOWN_VERSIONS, VERSION_KEY, checked_schema, read_file, result_files
from trainers.languages import LANGUAGES
from trainers.tasks import TASKS

MATERIALIZE_FILES = 1000  # more files than this are read into memory once instead of at every query
VIEWS = ("rows", "trials", "selected", "best", "scores", "searches", "sweeps", "languages", "tasks")


def _duckdb() -> Any:
    try:
        import duckdb
    except ImportError as exc:  # a dependency of xstilts; absent only in a broken environment
        raise XStiltsError("DuckDB is not installed: run `pip install duckdb` (or `make setup`)") from exc
    return duckdb


class Results:
    """The results of one or more sweeps, as DuckDB views (see the module docstring).

    ``skip_bad``: a damaged or foreign results file is left out with a warning instead of stopping the query.

    Example::

        results = Results(["sweeps/xstilts-xlmr", "sweeps/xstilts-mbert"])
        results.sql("SELECT model, intermediate, avg(value) FROM best GROUP BY ALL").to_pandas()
    """

    def __init__(
        self,
        locations: Sequence[str | Path],
        *,
        skip_bad: bool = False,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.sweeps = open_sweeps(locations)
        self._warn = warn or (lambda text: print(f"warning: {text}", file=sys.stderr))
        self._skip_bad = skip_bad
        self._open()

    def _open(self) -> None:
        """List the files and define the views (again, after a compaction changed the files under a query)."""
        self.skipped: list[str] = []

        def damaged(path: Path, exc: ResultsError) -> None:
            self._bad(exc, path, skip_bad=self._skip_bad)

        self.con = _duckdb().connect()
        self.con.execute("SET threads TO 2")
        try:
            files = [f for s in self.sweeps for f in result_files(s.root / "results", on_damaged=damaged)]
        except FileNotFoundError:  # a compaction merged files while they were listed: list again
            files = [f for s in self.sweeps for f in result_files(s.root / "results", on_damaged=damaged)]
        current, older = self._check(files, skip_bad=self._skip_bad)
        self.hp_columns = self._define_rows(current, older)
        self._define_tables()
        self._define_views()

    # -- reading ------------------------------------------------------------------------------------------
    def _check(self, files: list[Path], *, skip_bad: bool) -> tuple[list[str], list[Path]]:
        """Split the files into those of the current schema version and older ones; each bad file raises, or
        with ``skip_bad`` is left out with a warning."""
        versions: dict[str, str] = {}
        if files:
            try:
                found = self.con.execute(
                    "SELECT file_name, decode(value) FROM parquet_kv_metadata(?) WHERE decode(key) = ?",
                    [[str(f) for f in files], VERSION_KEY.decode()],
                ).fetchall()
                versions = dict(found)
            except Exception:  # noqa: BLE001 - some file is unreadable: find which, with pyarrow's own checks
                versions = {}
                for path in files:
                    try:
                        versions[str(path)] = (checked_schema(path).metadata or {})[VERSION_KEY].decode()
                    except ResultsError as exc:
                        self._bad(exc, path, skip_bad=skip_bad)
        current, older = [], []
        for path in files:
            version = versions.get(str(path))
            if version is None and str(path) not in self.skipped:
                try:
                    checked_schema(path)  # names what is wrong: not an xstilts file, or damaged
                except ResultsError as exc:
                    self._bad(exc, path, skip_bad=skip_bad)
                    continue
            if version is None:
                continue
            if version not in {str(v) for v in KNOWN_VERSIONS}:
                self._bad(
                    ResultsError(
                        f"{path} has results schema version {version}, but this xstilts reads versions "
                        f"{sorted(KNOWN_VERSIONS)}; upgrade xstilts to read it"
                    ),
                    path,
                    skip_bad=skip_bad,
                )
            elif version == str(max(KNOWN_VERSIONS)):
                current.append(str(path))
            else:
                older.append(path)
        return current, older

    def _bad(self, exc: ResultsError, path: Path, *, skip_bad: bool) -> None:
        if not skip_bad:
            raise ResultsError(f"{exc} (or pass --skip-bad to leave such files out of the query)") from exc
        self.skipped.append(str(path))
        self._warn(f"skipped {path}: {exc}")

    def _define_rows(self, current: list[str], older: list[Path]) -> list[str]:
        from sweep.storage.results import results_schema

        base = results_schema(sweep="-", hp_types={})
        parts = []
        by_sweep: dict[Path, list[str]] = {}
        for path in current:
            by_sweep.setdefault(next(s.root for s in self.sweeps if path.startswith(f"{s.root}/")), []).append(path)
        for paths in by_sweep.values():
            # Every file of one sweep has the same schema (the store's contract), so DuckDB binds each sweep
            # from one file's footer; sweeps declare different hyperparameters and are unioned by column name,
            # so no column depends on the order of files.
            listed = ", ".join("'" + path.replace("'", "''") + "'" for path in paths)
            parts.append(f"SELECT * FROM read_parquet([{listed}])")
        for i, path in enumerate(older):  # an older version lacks columns; what they hold follows from others
            table = read_file(path, checked_schema(path), _older_target(path, base))
            self.con.register(f"_older_{i}", table)
            parts.append(f"SELECT * FROM _older_{i}")
        self.con.register("_empty", base.empty_table())
        parts.append("SELECT * FROM _empty")
        query = " UNION ALL BY NAME ".join(parts)
        # Many small files (searches still running, or a sweep not yet compacted): opening each costs more than
        # its rows, so they are read once into memory; a compacted study is queried in place.
        kind = "TABLE" if len(current) > MATERIALIZE_FILES else "VIEW"
        if kind == "TABLE":
            self._warn(
                f"{len(current)} results files: reading them takes seconds; `sweep compact SWEEP_DIR` merges each "
                "finished search's files into one (the driver does so as searches end) and queries take well "
                "under a second"
            )
        try:
            self.con.execute(f"CREATE {kind} _raw AS {query}")
        except _duckdb().Error as exc:
            raise ResultsError(
                f"the results files could not be read together ({_first_line(exc)}); within one sweep every "
                "file has the same columns: move a file written by something else out of the results folder"
            ) from None
        names = [row[0] for row in self.con.execute("DESCRIBE _raw").fetchall()]
        return sorted(n for n in names if n.startswith("hp_"))

    def _define_tables(self) -> None:
        from sweep.analysis import catalog

        tables = {kind: catalog.table(kind, self.sweeps) for kind in catalog.SCHEMAS}
        tables["languages"] = pa.Table.from_pylist([vars(language) for language in LANGUAGES.values()])
        from sweep.analysis.benchmark import task_groups

        groups = {version: task_groups(version) for version in ("xtreme", "xtreme-r")}
        tables["tasks"] = pa.Table.from_pylist(
            [
                {
                    "task": t.name,
                    "kind": t.kind,
                    "benchmark": t.benchmark,
                    "metric": t.metric,
                    # the benchmarks' task groups (evaluate.py's): XCOPA is in two of XTREME-R's, LAReQA in none
                    "xtreme_groups": list(groups["xtreme"].get(t.name, ())),
                    "xtreme_r_groups": list(groups["xtreme-r"].get(t.name, ())),
                }
                for t in TASKS.values()
            ],
            schema=pa.schema(
                [
                    ("task", pa.string()),
                    ("kind", pa.string()),
                    ("benchmark", pa.string()),
                    ("metric", pa.string()),
                    ("xtreme_groups", pa.list_(pa.string())),
                    ("xtreme_r_groups", pa.list_(pa.string())),
                ]
            ),
        )
        for name, table in tables.items():
            self.con.register("_arrow", table)
            self.con.execute(
                f"CREATE TABLE {'_' + name if name in ('entries', 'resources') else name} AS SELECT * FROM _arrow"
            )
            self.con.unregister("_arrow")

    def _define_views(self) -> None:
        hp = "".join(f", any_value({c}) AS {c}" for c in self.hp_columns)
        self.con.execute(
            """CREATE VIEW rows AS
            SELECT r.*, e.mixture, e.english_share FROM _raw r LEFT JOIN _entries e USING (sweep, intermediate)"""
        )
        self.con.execute(
            f"""CREATE VIEW _trials AS
            SELECT sweep, search, trial_id, attempt, any_value(pair) AS pair, any_value(model) AS model,
                   any_value(intermediate) AS intermediate, any_value(target) AS target,
                   any_value(regime) AS regime, any_value(phase) AS phase, any_value(seed) AS seed,
                   arg_max(status, reported_at) AS status, max(step) AS last_step,
                   max(value) FILTER (metric = 'objective' AND split = 'dev' AND NOT isnan(value)) AS best_objective,
                   max(wall_s) AS wall_s, min(started_at) AS started_at, max(reported_at) AS ended_at,
                   any_value(node) AS node, any_value(error) FILTER (error IS NOT NULL) AS error,
                   any_value(origin) AS origin{hp}
            FROM _raw GROUP BY sweep, search, trial_id, attempt"""
        )
        # Cost: trial-seconds always; GPU-hours where the trial held GPUs (each worker its share).
        self.con.execute(
            """CREATE VIEW trials AS
            SELECT t.*, t.wall_s * coalesce(r.gpus_per_worker, 0) * coalesce(r.workers_per_trial, 1) / 3600
                   AS gpu_hours
            FROM _trials t LEFT JOIN _resources r ON r.sweep = t.sweep AND r.model = t.model"""
        )
        run = f"CASE WHEN ends_with(search, '{SEEDS_SUFFIX}') THEN trial_id END"
        self.con.execute(
            f"""CREATE VIEW selected AS
            SELECT * EXCLUDE (rank) FROM (
                SELECT sweep, search, trial_id, attempt, step, layer, value AS objective, {run} AS run,
                       row_number() OVER (PARTITION BY sweep, search, {run}
                                          ORDER BY value DESC, step DESC, trial_id, attempt DESC) AS rank
                FROM _raw
                WHERE metric = 'objective' AND split = 'dev' AND value IS NOT NULL AND NOT isnan(value)
            ) WHERE rank = 1"""
        )
        # Ties: the highest objective, then the latest step (the checkpoint Tune keeps when scores are equal),
        # then the smallest trial id: the same choice as sweep.storage.select.best_trial.
        hp_best = "".join(f", r.{c}" for c in self.hp_columns)
        self.con.execute(
            f"""CREATE VIEW best AS
            SELECT r.sweep, r.search, r.pair, r.model, r.intermediate, r.target, r.regime, e.mixture,
                   e.english_share, r.seed, s.run IS NOT NULL AS seeds_run, r.task, r.language, l.family,
                   l.genus, l.script, r.metric, r.value, s.objective, r.trial_id, r.attempt, r.step, r.layer,
                   r.origin{hp_best}
            FROM selected s
            JOIN _raw r ON r.sweep = s.sweep AND r.search = s.search AND r.trial_id = s.trial_id
                AND r.attempt = s.attempt AND r.step = s.step AND r.split = 'test'
                AND (s.layer IS NULL OR r.layer = s.layer)
            LEFT JOIN _entries e ON e.sweep = r.sweep AND e.intermediate = r.intermediate
            LEFT JOIN languages l ON l.code = r.language"""
        )

        # The protocol's scores: a pair's seed runs where it has them, else its selected run; headline metrics.
        self.con.execute(
            """CREATE VIEW scores AS
            WITH seeded AS (SELECT DISTINCT sweep, model, intermediate, target, regime FROM best WHERE seeds_run),
            headline AS (
                SELECT b.*, coalesce(t.metric, min(b.metric) OVER (PARTITION BY b.target)) AS headline
                FROM best b LEFT JOIN tasks t ON t.task = b.target
            )
            SELECT h.* EXCLUDE (headline) FROM headline h
            LEFT JOIN seeded s ON s.sweep = h.sweep AND s.model IS NOT DISTINCT FROM h.model
                AND s.intermediate = h.intermediate AND s.target = h.target
                AND s.regime IS NOT DISTINCT FROM h.regime
            WHERE h.metric = h.headline AND h.seeds_run = (s.sweep IS NOT NULL)"""
        )

    # -- querying -----------------------------------------------------------------------------------------
    def sql(self, query: str, params: Sequence[Any] | None = None) -> pa.Table:
        """Run SQL over the views; return a ``pyarrow.Table``. Unknown columns or views are named with what
        exists, e.g. ``results.sql("SELECT language, avg(value) FROM best GROUP BY language")``."""
        duckdb = _duckdb()
        try:
            try:
                return self.con.sql(query, params=params or None).to_arrow_table()
            except duckdb.IOException as exc:
                if "No such file" not in str(exc):
                    raise
                self._open()  # the driver merged files this listing named: list them again
                return self.con.sql(query, params=params or None).to_arrow_table()
        except duckdb.CatalogException as exc:
            raise QueryError(f"{_first_line(exc)}; the views are {', '.join(VIEWS)}") from None
        except duckdb.BinderException as exc:
            raise QueryError(f"{_first_line(exc)}{self._columns_hint(query)}") from None
        except duckdb.Error as exc:
            raise QueryError(f"the query failed: {_first_line(exc)}") from None

    def columns(self, view: str) -> list[str]:
        """The columns of one view, e.g. ``results.columns("best")``."""
        if view not in VIEWS:
            raise QueryError(f"unknown view `{view}`{suggest(view, VIEWS)}; the views are {', '.join(VIEWS)}")
        return [row[0] for row in self.con.execute(f"DESCRIBE {view}").fetchall()]

    def column_type(self, view: str, column: str) -> str:
        """The SQL type of one column of a view, e.g. ``DOUBLE``."""
        types = {row[0]: row[1] for row in self.con.execute(f"DESCRIBE {view}").fetchall()}
        return types[column]

    def _columns_hint(self, query: str) -> str:
        lowered = query.lower()
        named = [v for v in VIEWS if f" {v}" in lowered]
        return "".join(f"; columns of {v}: {', '.join(self.columns(v))}" for v in named[:2])

    @property
    def names(self) -> list[str]:
        """The sweeps' names, in the order given."""
        return [s.name for s in self.sweeps]


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0]


def _older_target(path: Path, base: pa.Schema) -> pa.Schema:
    """What an older file is read as: the current base columns, then its own hp columns."""
    schema = checked_schema(path)
    hp = [schema.field(n) for n in schema.names if n.startswith("hp_")]
    return pa.schema([*base, *hp], metadata=base.metadata)


def to(table: pa.Table, kind: str) -> Any:
    """``table`` as ``arrow`` (itself), ``pandas`` or ``polars`` (the library must be installed)."""
    if kind == "arrow":
        return table
    if kind == "pandas":
        return table.to_pandas()
    if kind == "polars":
        try:
            import polars
        except ImportError:
            raise XStiltsError("polars is not installed: run `pip install polars`") from None
        return polars.from_arrow(table)
    raise XStiltsError(f"unknown kind {kind!r}: use arrow, pandas or polars")
