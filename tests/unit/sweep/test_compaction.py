"""Tests for sweep.storage.compaction: one file per finished search, with every guarantee of the results store."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from sweep.analysis import analyses
from sweep.analysis.tables import Results
from sweep.cli import main
from sweep.errors import ResultsError
from sweep.storage import compaction
from sweep.storage.compaction import COVERS_KEY, Compaction, compact_search, compact_sweep
from sweep.storage.results import ResultsStore, result_files
from tests.sweeps import SweepWriter

QUICKSTART = Path(__file__).resolve().parents[3] / "configs" / "quickstart.yaml"


def _sweep(root: Path) -> Path:
    w = SweepWriter(root / "s", name="s")
    for t in range(3):
        w.trial(intermediate="none", target="xnli", trial_id=f"b{t}", dev=[0.5 + t / 10], test={"de": [0.4 + t / 10]})
        w.trial(intermediate="mnli", target="xnli", trial_id=f"m{t}", dev=[0.6 - t / 10], test={"de": [0.7 - t / 10]})
    return w.finish()


def _everything(root: Path) -> list[dict]:
    table = ResultsStore.read(root / "results")
    return sorted(table.to_pylist(), key=lambda r: (r["search"], r["trial_id"], r["step"], r["split"]))


def test_compaction_keeps_every_row_once_and_is_idempotent(tmp_path: Path) -> None:
    root = _sweep(tmp_path)
    before = _everything(root)
    pivot = analyses.matrix(Results([root]))
    assert len(compact_sweep(root).written) == 2
    folder = root / "results" / "target-mnli-xnli"
    assert [p.name for p in folder.iterdir()] == ["search.c1.parquet"]
    covers = json.loads(pq.read_schema(folder / "search.c1.parquet").metadata[COVERS_KEY])
    assert covers == ["m0.a0.parquet", "m1.a0.parquet", "m2.a0.parquet"]
    assert _everything(root) == before
    assert analyses.matrix(Results([root])) == pivot
    assert compact_sweep(root).written == []  # nothing new: nothing written
    assert _everything(root) == before


def test_a_crash_before_the_covered_files_are_deleted_reads_no_row_twice(tmp_path: Path) -> None:
    root = _sweep(tmp_path)
    before = _everything(root)
    folder = root / "results" / "target-none-xnli"
    kept = {p.name: p.read_bytes() for p in folder.iterdir()}
    compact_search(folder)
    for name, data in kept.items():  # as if the driver died right after the rename
        (folder / name).write_bytes(data)
    assert _everything(root) == before
    assert [p.name for p in result_files(folder)] == ["search.c1.parquet"]
    compact_search(folder)  # the next compaction deletes them, writing nothing
    assert sorted(p.name for p in folder.iterdir()) == ["search.c1.parquet"]


class _Crash(BaseException):
    """A process killed between two steps of a compaction."""


def _plain_rows(results: Path) -> tuple[list[tuple], list[tuple]]:
    """The rows' keys as readers other than xstilts' read them: pyarrow.dataset over the folder, and
    DuckDB's glob."""
    import duckdb
    import pyarrow.dataset as ds

    key = ["search", "trial_id", "attempt", "step", "split", "language", "metric"]
    dataset = ds.dataset(results, format="parquet")
    if not dataset.files:  # and DuckDB's glob matches nothing either
        return [], []
    table = dataset.to_table(columns=key)
    by_pyarrow = sorted(zip(*(table[c].to_pylist() for c in key), strict=True), key=repr)
    glob = str(results / "**" / "*.parquet")
    by_duckdb = sorted(duckdb.sql(f"SELECT {', '.join(key)} FROM read_parquet('{glob}')").fetchall(), key=repr)
    return by_pyarrow, by_duckdb


@pytest.mark.parametrize("generation", [1, 2])
def test_a_crash_at_any_step_of_a_compaction_never_shows_a_row_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, generation: int
) -> None:
    """Killed before each delete and each naming step in turn: plain pyarrow and DuckDB readers may miss rows of the
    search being merged but never read one twice, xstilts' readers read every row once, and the next
    compaction (as ``sweep resume`` and ``sweep compact`` run it) leaves every reader every row."""
    import shutil

    original = _sweep(tmp_path / "original")
    folder = Path("results") / "target-none-xnli"
    if generation == 2:  # a second generation also deletes the first one
        compact_search(original / folder)
        SweepWriter(original, name="s").trial(
            intermediate="none", target="xnli", trial_id="b9", dev=[0.1], test={"de": [0.1]}
        )
    before = _everything(original)
    whole = _plain_rows(original / "results")
    assert whole[0] == whole[1] and len(whole[0]) == len(before)
    steps = {"unlink": Path.unlink, "claim": compaction._claim}
    crashed_at = []
    for k in range(20):
        root = tmp_path / f"k{k}"
        shutil.copytree(original, root)
        done = []

        def step(name: str, k: int = k, done: list = done):  # noqa: ANN202 - the patched function
            def run(self: Path, *args: object, **kwargs: object) -> object:
                if not self.name.endswith(".tmp"):  # write_atomic's own temporary file is no step
                    if len(done) == k:
                        raise _Crash
                    done.append(self.name)
                return steps[name](self, *args, **kwargs)

            return run

        with monkeypatch.context() as m:
            m.setattr(Path, "unlink", step("unlink"))
            m.setattr(compaction, "_claim", step("claim"))
            try:
                compact_search(root / folder)
            except _Crash:
                crashed_at.append(k)
        seen = _plain_rows(root / "results")
        for rows in seen:
            assert len(rows) == len(set(rows)), f"a row read twice after a crash at step {k}"
            assert set(rows) <= set(whole[0])
        assert _everything(root) == before  # xstilts reads the pending merged file
        compact_search(root / folder)  # what resume and `sweep compact` run
        assert _plain_rows(root / "results") == whole
        assert _everything(root) == before
        assert [p.name for p in (root / folder).iterdir()] == [f"search.c{generation}.parquet"]
        if k not in crashed_at:
            break
    # A crash before each delete (three attempts; or the new attempt and the first generation), before the
    # name is claimed and before the pending name is let go, then a run that went through.
    assert crashed_at == list(range({1: 5, 2: 4}[generation]))


def test_resume_and_compact_finish_a_merge_a_crash_left_pending(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from sweep.run.driver import _finish_merges
    from sweep.storage import layout
    from sweep.storage.compaction import pending_merges

    root = _sweep(tmp_path)
    before = _everything(root)
    with monkeypatch.context() as m:
        m.setattr(compaction, "_claim", lambda *a: (_ for _ in ()).throw(_Crash()))
        for folder in sorted((root / "results").iterdir()):
            with pytest.raises(_Crash):
                compact_search(folder)
    assert [p.name for p in pending_merges(root / "results")] == ["target-mnli-xnli", "target-none-xnli"]
    assert _plain_rows(root / "results") == ([], [])  # every covered file deleted, nothing named yet
    assert _everything(root) == before
    _finish_merges(layout.open_sweep(root))
    assert "finished merging target-mnli-xnli's results into search.c1.parquet" in capsys.readouterr().out
    assert pending_merges(root / "results") == [] and len(_plain_rows(root / "results")[0]) == len(before)
    with monkeypatch.context() as m:  # and `sweep compact` finishes one in a search not yet done
        m.setattr(compaction, "_claim", lambda *a: (_ for _ in ()).throw(_Crash()))
        SweepWriter(root, name="s").trial(
            intermediate="none", target="xnli", trial_id="b9", dev=[0.1], test={"de": [0.1]}
        )
        with pytest.raises(_Crash):
            compact_search(root / "results" / "target-none-xnli")
    assert [p.name for p in compact_sweep(root).written] == ["search.c2.parquet"]
    assert len(_plain_rows(root / "results")[1]) == len(before) + 2


def test_a_merge_that_lost_the_race_for_its_name_is_merged_again(tmp_path: Path) -> None:
    """Two compactions raced (a `sweep compact` beside the driver): the other one named its merge of the
    generation first, and this one's merge, left pending, holds an attempt the named one lacks (and whose own
    file this one deleted). The next compaction merges that attempt's rows once, and deletes both."""
    import shutil

    root = _sweep(tmp_path / "a")
    folder = root / "results" / "target-none-xnli"
    w = SweepWriter(tmp_path / "b" / "s", name="s")  # the same trials' rows, and one more: b9
    w.trial(intermediate="none", target="xnli", trial_id="b2", dev=[0.7], test={"de": [0.6]})
    w.trial(intermediate="none", target="xnli", trial_id="b9", dev=[0.1], test={"de": [0.1]})
    other = tmp_path / "b" / "s" / "results" / "target-none-xnli"
    shutil.copy(folder / "b2.a0.parquet", other / "b2.a0.parquet")  # this search's own b2
    compact_search(other)  # covers b2 and b9
    compact_search(folder)  # the one named first: covers b0, b1 and b2
    shutil.copy(other / "search.c1.parquet", folder / ".search.c1.pending")
    # xstilts reads b0-b2 from the named merge (the newest) and not b9 yet; the next compaction adds it.
    assert {r["trial_id"] for r in ResultsStore.read(folder).to_pylist()} == {"b0", "b1", "b2"}
    before = _everything(root)
    assert compact_search(folder).name == "search.c2.parquet"
    assert sorted(p.name for p in folder.iterdir()) == ["search.c2.parquet"]
    after = _everything(root)
    assert [r for r in after if r["trial_id"] != "b9"] == before
    assert len([r for r in after if r["trial_id"] == "b9"]) == 2  # its dev and test rows, once
    assert covers_of(folder / "search.c2.parquet") == [
        "b0.a0.parquet",
        "b1.a0.parquet",
        "b2.a0.parquet",
        "b9.a0.parquet",
    ]


def covers_of(path: Path) -> list[str]:
    return json.loads(pq.read_schema(path).metadata[COVERS_KEY])


def test_a_compacted_attempt_is_never_written_again(tmp_path: Path) -> None:
    root = _sweep(tmp_path)
    store = ResultsStore(root / "results", sweep="s", hp_types={"lr": "float"})
    compact_sweep(root)
    assert store.has_attempt(search="target-none-xnli", trial_id="b1", attempt=0)
    assert not store.has_attempt(search="target-none-xnli", trial_id="b1", attempt=1)
    statuses = store.attempt_table(search="target-none-xnli", trial_id="b1", attempt=0, columns=["status"])
    assert set(statuses["status"].to_pylist()) == {"completed"}
    row = _everything(root)[0]
    again = [{k: v for k, v in row.items() if not k.startswith("hp_")} | {"hp": {"lr": 1e-5}}]
    assert store.write_attempt(again, search=row["search"], trial_id=row["trial_id"], attempt=0) is None


def test_a_later_attempt_goes_into_the_next_generation(tmp_path: Path) -> None:
    root = _sweep(tmp_path)
    folder = root / "results" / "target-none-xnli"
    compact_search(folder)
    w = SweepWriter(tmp_path / "s", name="s")  # the same folder: one more trial's file
    w.trial(intermediate="none", target="xnli", trial_id="b9", dev=[0.1], test={"de": [0.1]})
    assert compact_search(folder).name == "search.c2.parquet"
    assert sorted(p.name for p in folder.iterdir()) == ["search.c2.parquet"]
    assert {r["trial_id"] for r in ResultsStore.read(folder).to_pylist()} == {"b0", "b1", "b2", "b9"}


def test_cli_compact(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _sweep(tmp_path)
    assert main(["compact", str(root)]) == 0
    out = capsys.readouterr().out
    assert "compacted 2 finished searches" in out and "wrote 2 finished searches' trial counts" in out
    assert main(["compact", str(root)]) == 0
    assert capsys.readouterr().out == "nothing to compact: every finished search's results are one file already\n"


def test_a_listing_taken_before_a_newer_compaction_still_reads_every_row(tmp_path: Path) -> None:
    from sweep.storage.results import search_files

    root = _sweep(tmp_path)
    before = _everything(root)
    folder = root / "results" / "target-none-xnli"
    first = sorted(folder.iterdir())
    compact_search(folder)
    listed = sorted(folder.iterdir())  # [c1]
    w = SweepWriter(tmp_path / "s", name="s")
    w.trial(intermediate="none", target="xnli", trial_id="b9", dev=[0.1], test={"de": [0.1]})
    snapshot = sorted(folder.iterdir())  # a reader's listing: [b9, c1]
    assert search_files(snapshot) == snapshot  # c1 is the newest it saw; b9 is not covered by it
    compact_search(folder)  # c2 covers everything; c1 and b9 are deleted under the reader
    with pytest.raises(FileNotFoundError):  # c1 is gone: what the reader listed cannot be read whole
        search_files(snapshot)
    rows = ResultsStore.read(root / "results")  # reading lists again when a listed file is gone
    assert len(rows) == len(before) + 2
    assert len(Results([root]).sql("SELECT * FROM rows")) == len(before) + 2
    assert first and listed


def test_a_damaged_compacted_file_is_named_or_skipped(tmp_path: Path) -> None:
    root = _sweep(tmp_path)
    compact_sweep(root)
    victim = root / "results" / "target-mnli-xnli" / "search.c1.parquet"
    victim.write_bytes(b"not parquet")
    with pytest.raises(ResultsError, match=r"search.c1.parquet is damaged.*--skip-bad"):
        Results([root])
    warnings: list[str] = []
    results = Results([root], skip_bad=True, warn=warnings.append)
    assert results.skipped == [str(victim)] and "search.c1.parquet" in warnings[0]
    assert {r["intermediate"] for r in analyses.pair_scores(results)} == {"none"}


def test_attempt_rows_by_trial_from_a_compacted_file(tmp_path: Path) -> None:
    root = _sweep(tmp_path)
    compact_sweep(root)
    store = ResultsStore(root / "results", sweep="s", hp_types={"lr": "float"})
    table = store.attempt_table(search="target-mnli-xnli", trial_id="m2", attempt=0, columns=["trial_id", "value"])
    assert set(table["trial_id"].to_pylist()) == {"m2"} and table.num_rows == 2
    with pytest.raises(ResultsError, match="no stored rows"):
        store.attempt_table(search="target-mnli-xnli", trial_id="m2", attempt=1, columns=["value"])


def test_a_compaction_that_loses_the_race_deletes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import trainers.fileio

    root = _sweep(tmp_path)
    folder = root / "results" / "target-none-xnli"
    names = sorted(p.name for p in folder.iterdir())
    monkeypatch.setattr(trainers.fileio, "write_atomic", lambda *a, **k: False)  # the name was taken
    assert compact_search(folder) is None
    assert sorted(p.name for p in folder.iterdir()) == names


# ------------------------------------------------------------------------------------- trial counts

BASELINE, PAIR = "target-none-toy_paws", "target-toy_nli-toy_paws"  # two of the quickstart's searches


def _set(path: Path, out: Path | None = None, **values: object) -> None:
    """Rewrite an attempt file (or write it as ``out``) with columns set to one value each."""
    import pyarrow as pa

    table = pq.read_table(path)
    for name, value in values.items():
        index = table.schema.get_field_index(name)
        table = table.set_column(index, table.schema.field(name), pa.array([value] * table.num_rows, table[name].type))
    pq.write_table(table, out or path)


def _older_sweep(root: Path) -> Path:
    """A quickstart sweep whose manifest has each finished search's best trial and test scores but no trial
    counts, as the driver wrote them before it recorded counts. The baseline's trials: b0 completed, b1
    stopped, b2 errored, b3 errored and then completed on its retry; the pair's: m0 and m1 completed."""
    import yaml

    from sweep.preflight.validate import load_config
    from sweep.storage.select import best_trial, test_summary

    w = SweepWriter(root / "old", name="quickstart")
    for t in range(4):
        w.trial(
            intermediate="none",
            target="toy_paws",
            trial_id=f"b{t}",
            dev=[0.5, 0.5 + t / 10],
            test={"de": [0.4, 0.4 + t / 10]},
        )
    for t in range(2):
        w.trial(
            intermediate="toy_nli",
            target="toy_paws",
            trial_id=f"m{t}",
            dev=[0.6, 0.7 - t / 10],
            test={"de": [0.6, 0.7]},
        )
    folder = root / "old" / "results" / BASELINE
    _set(folder / "b1.a0.parquet", status="stopped")
    _set(folder / "b2.a0.parquet", status="errored", error="ValueError: bad")
    _set(folder / "b3.a0.parquet", folder / "b3.a1.parquet", attempt=1)
    _set(folder / "b3.a0.parquet", status="errored", error="ValueError: bad")
    sweep = w.finish()
    config = load_config(QUICKSTART, check_data=False)
    (sweep / "config.yaml").write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))  # as `sweep launch`
    manifest = json.loads((sweep / "manifest.json").read_text())
    for search, entry in manifest["searches"].items():
        table = ResultsStore.read(sweep / "results" / search)
        entry["best"] = best = best_trial(table, search=search)
        entry["test"] = test_summary(table, best=best)
    (sweep / "manifest.json").write_text(json.dumps(manifest))
    return sweep


def _driver_counts(sweep: Path) -> dict[str, dict[str, int]]:
    """What the driver writes as ``trials`` when a search ends (``sweep.run.runner.StudyRun.finalize``)."""
    from sweep.storage.select import trial_counts

    return {s: trial_counts(ResultsStore.read(sweep / "results" / s), s) for s in (BASELINE, PAIR)}


def _manifest_counts(sweep: Path) -> dict[str, object]:
    return {s: e.get("trials") for s, e in json.loads((sweep / "manifest.json").read_text())["searches"].items()}


def _status(capsys: pytest.CaptureFixture[str], sweep: str) -> list[dict]:
    assert main(["status", sweep, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def _rows_unread(monkeypatch: pytest.MonkeyPatch) -> None:
    """From here on `sweep status` fails if it reads any search's rows instead of the manifest."""
    import sweep.analysis.status

    def unread(*args: object) -> None:
        raise AssertionError("status read a finished search's rows: its counts are not in the manifest")

    monkeypatch.setattr(sweep.analysis.status, "_rows", unread)


def test_compact_writes_the_counts_the_driver_writes_and_status_reads_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sweep = _older_sweep(tmp_path)
    expected = _driver_counts(sweep)
    assert expected == {BASELINE: {"finished": 3, "errored": 1}, PAIR: {"finished": 2, "errored": 0}}
    from_rows = _status(capsys, str(sweep))
    assert [(r["finished"], r["errored"], r["pending"]) for r in from_rows] == [(3, 1, 0), (2, 0, 2)]
    assert _manifest_counts(sweep) == {BASELINE: None, PAIR: None}

    assert main(["compact", str(sweep)]) == 0
    assert "wrote 2 finished searches' trial counts into the manifest" in capsys.readouterr().out
    assert _manifest_counts(sweep) == expected
    assert not (sweep / "driver.json").exists()  # the driver's lock was held for the write only
    _rows_unread(monkeypatch)
    assert _status(capsys, str(sweep)) == from_rows  # the same, read from the manifest alone


def test_compact_of_a_compacted_sweep_without_counts_writes_them(tmp_path: Path) -> None:
    sweep = _older_sweep(tmp_path)
    expected = _driver_counts(sweep)
    for search in (BASELINE, PAIR):
        compact_search(sweep / "results" / search)  # compacted by the driver that wrote no counts
    done = compact_sweep(sweep)
    assert (done.written, sorted(done.counted), done.not_counted) == ([], [BASELINE, PAIR], None)
    assert _manifest_counts(sweep) == expected
    assert compact_sweep(sweep) == Compaction()  # nothing new: nothing written, no counts rewritten


def test_compact_beside_a_live_driver_leaves_the_counts_to_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import fcntl

    sweep = _older_sweep(tmp_path)
    (sweep / "driver.json").write_text(json.dumps({"pid": 4242, "host": "node-7"}))
    with open(sweep / "driver.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # as the live driver holds it
        assert main(["compact", str(sweep)]) == 0
        out = capsys.readouterr().out
        assert "compacted 2 finished searches" in out
        assert "trial counts not written: sweep" in out and "is being run by process 4242 on node-7" in out
        assert _manifest_counts(sweep) == {BASELINE: None, PAIR: None}
    (sweep / "driver.json").unlink()  # the driver ended
    assert main(["compact", str(sweep)]) == 0
    assert "wrote 2 finished searches' trial counts" in capsys.readouterr().out
    assert _manifest_counts(sweep) == _driver_counts(sweep)


def test_compact_of_a_sweep_on_shared_storage_publishes_the_counts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    moto = pytest.importorskip("moto.server", reason="moto[server] is installed by the project's setup")
    import socket
    import tempfile

    import pyarrow.fs as pafs

    from trainers.fileio import upload

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))  # the sweep's working copies: here
    server = moto.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        for key, value in {
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
        }.items():
            monkeypatch.setenv(key, value)
        fs = pafs.S3FileSystem(endpoint_override=f"http://127.0.0.1:{port}", allow_bucket_creation=True)
        fs.create_dir("bucket")
        sweep = _older_sweep(tmp_path)
        expected = _driver_counts(sweep)
        location = "s3://bucket/sweeps/old"
        for path in sorted(p for p in sweep.rglob("*") if p.is_file()):
            upload(path, f"{location}/{path.relative_to(sweep).as_posix()}")

        assert main(["compact", location]) == 0
        assert "wrote 2 finished searches' trial counts" in capsys.readouterr().out
        with fs.open_input_stream("bucket/sweeps/old/manifest.json") as f:
            manifest = json.loads(f.read())
        assert {s: e.get("trials") for s, e in manifest["searches"].items()} == expected
        listing = fs.get_file_info(pafs.FileSelector(f"bucket/sweeps/old/results/{BASELINE}"))
        assert [i.base_name for i in listing] == ["search.c1.parquet"]
        with fs.open_input_stream("bucket/sweeps/old/driver.json") as f:
            assert json.loads(f.read())["stopped_at"]  # the lease taken for the write, ended
        _rows_unread(monkeypatch)
        assert [(r["finished"], r["errored"]) for r in _status(capsys, location)] == [(3, 1), (2, 0)]
    finally:
        server.stop()


def test_on_shared_storage_a_plain_reader_never_reads_a_row_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On S3 (moto's server) the merged file is published under its hidden name, the covered objects deleted,
    and only then published under its own: a compaction killed before that leaves a pyarrow reader of the
    bucket fewer rows, never a row twice, and `sweep compact` of the URI finishes it."""
    import pyarrow.dataset as ds
    import pyarrow.fs as pafs

    from sweep.storage.layout import SweepDir
    from tests.s3 import s3_endpoint

    root = _sweep(tmp_path)
    before = _everything(root)
    with s3_endpoint("merged") as env:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        local = SweepDir(root, remote="s3://merged/s")
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            local.publish(path)
        fs = pafs.S3FileSystem(endpoint_override=env["AWS_ENDPOINT_URL"], access_key="testing", secret_key="testing")

        def plain() -> list[tuple]:
            table = ds.dataset("merged/s/results", filesystem=fs, format="parquet").to_table()
            key = ["search", "trial_id", "attempt", "step", "split", "language", "metric"]
            return list(zip(*(table[c].to_pylist() for c in key), strict=True))

        def keys() -> list[str]:
            found = fs.get_file_info(pafs.FileSelector("merged/s/results/target-none-xnli"))
            return sorted(info.base_name for info in found)

        whole = plain()
        assert len(whole) == len(set(whole)) == len(before)
        with monkeypatch.context() as m:
            m.setattr(compaction, "_claim", lambda *a: (_ for _ in ()).throw(_Crash()))
            with pytest.raises(_Crash):
                compact_search(root / "results" / "target-none-xnli", publish=local.publish, remove=local.unpublish)
        assert keys() == [".search.c1.pending"]
        assert len(plain()) == len(set(plain())) == len(before) // 2
        assert [p.name for p in compact_sweep("s3://merged/s").written] == ["search.c1.parquet", "search.c1.parquet"]
        assert keys() == ["search.c1.parquet"]
        assert sorted(plain()) == sorted(whole)
