"""The sweep directory: where the config copy, manifest, Tune state, journal, results and encoders live.

SWEEP_DIR/config.yaml      the fully resolved config (overrides applied, paths absolute)
SWEEP_DIR/manifest.json    code version, the plan, and each search's state
SWEEP_DIR/driver.lock      locked (flock) by the live driver, so only one runs a sweep at a time
SWEEP_DIR/driver.json      who holds the lock (pid, host, start), and what it runs (resources in use, trials)
SWEEP_DIR/tune/study/      the study's Ray Tune run: trial checkpoints, searcher and scheduler state
SWEEP_DIR/tune/train/      transient Ray Train runs of multi-worker trials (cleared as they end)
SWEEP_DIR/journal/<search>/<trial>.jsonl   every reported result, as it arrived
SWEEP_DIR/results/<search>/<trial>.a<k>.parquet   the results table (search.c<n>.parquet once merged)
SWEEP_DIR/encoders/<task>/encoder/         the best intermediate encoder of each task (safetensors shards)
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import Timeout, UnixFileLock

from sweep.errors import CheckpointError, StorageError, SweepStateError
from sweep.storage.lease import LEASE_S, Renewal, alive, holder_note, read_note
from sweep.storage.publisher import INLINE, TALLY, Publisher, with_retries
from trainers.checkpoint import STATE_FILE, TAG, read_state, report_step
from trainers.encoder_io import publish_encoder
from trainers.fileio import (
    copy_from,
    download,
    exists,
    filesystem,
    is_uri,
    join,
    remove_file,
    remove_tree,
    upload_bytes,
    write_json,
)

ENCODER = "encoder"  # the folder of an exported encoder, under encoders/<task>/
OLD_ENCODER = "encoder.pt"  # the single file earlier versions exported
MANIFEST_VERSION = 2  # 2: the whole study is one Tune run (tune/study); 1: a Tune run per search
READABLE_VERSIONS = (1, 2)  # sweeps `status`, `query` and `export-predictions` read; only 2 resumes


@dataclass(frozen=True)
class SweepDir:
    """Paths inside one sweep directory.

    A sweep on shared storage (``remote``: ``s3://bucket/prefix/NAME``, ``gs://...``) is worked on through
    a local copy (``root``): every file the driver writes there (config, manifest, journal, results,
    encoders) is ``publish``ed to the same place under ``remote`` at once, Tune keeps its state and
    checkpoints under ``remote`` itself, and any machine can ``open_sweep`` the URI again (a resumed
    driver, `sweep query` on a laptop).
    """

    root: Path
    remote: str | None = None

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def manifest(self) -> Path:
        return self.root / "manifest.json"

    @property
    def lock_file(self) -> Path:
        return self.root / "driver.lock"

    @property
    def driver_info(self) -> Path:
        return self.root / "driver.json"

    @property
    def tune(self) -> str:
        """Where Tune keeps the study's run: under ``remote`` for shared storage."""
        return join(self.remote, "tune") if self.remote else str(self.root / "tune")

    @property
    def journal(self) -> Path:
        return self.root / "journal"

    @property
    def results(self) -> Path:
        return self.root / "results"

    def encoder(self, task: str) -> Path:
        """The folder the best encoder of intermediate task ``task`` is exported to (in the local copy):
        safetensors shards with an index (``trainers.encoder_io``)."""
        return self.root / "encoders" / task / ENCODER

    def encoder_location(self, task: str) -> str:
        """Where trials on any node read that encoder: its URI on shared storage, else its path. A sweep
        that an earlier version exported keeps its single ``encoder.pt`` until stage one runs again."""
        base = join(self.remote, "encoders", task) if self.remote else str(self.root / "encoders" / task)
        if not exists(join(base, ENCODER)) and exists(join(base, OLD_ENCODER)):
            return join(base, OLD_ENCODER)
        return join(base, ENCODER)

    def publish_encoder(self, task: str) -> None:
        """Upload an exported encoder folder to shared storage (no-op without), its index last."""
        if self.remote:
            to = join(self.remote, "encoders", task, ENCODER)
            with_retries(lambda: publish_encoder(self.encoder(task), to), what=f"uploading the encoder to {to}")

    def publish(self, path: Path) -> None:
        """Copy a file written in the local copy to the same place on shared storage (no-op without): as it
        is now, by the driver's publisher while it runs (in the order given, off its loop), else at once.
        Transient errors are retried (``sweep.storage.publisher``)."""
        if self.remote:
            data, to = Path(path).read_bytes(), self._remote_of(path)
            self._run(f"uploading {to}", lambda: upload_bytes(data, to))

    def publish_now(self, path: Path) -> None:
        """``publish``, done before this returns (a journal: what results are rebuilt from)."""
        if self.remote:
            data, to = Path(path).read_bytes(), self._remote_of(path)
            with_retries(lambda: upload_bytes(data, to), what=f"uploading {to}")

    def publish_bytes(self, path: Path, data: bytes) -> None:
        """Write ``data`` to the place on shared storage of ``path`` in the local copy (no-op without): an
        object of its own, with no local file behind it (a journal append's part), before this returns."""
        if self.remote:
            to = self._remote_of(path)
            with_retries(lambda: upload_bytes(data, to), what=f"uploading {to}")

    def unpublish_tree(self, path: Path) -> None:
        """Delete the folder on shared storage at the place of ``path`` in the local copy (no-op without),
        before this returns."""
        if self.remote:
            at = self._remote_of(path)
            with_retries(lambda: remove_tree(at), what=f"deleting {at}")

    def _remote_of(self, path: Path) -> str:
        return join(self.remote or "", *Path(path).relative_to(self.root).parts)

    def unpublish(self, path: Path) -> None:
        """Delete the copy on shared storage of a file deleted from the local copy (no-op without), in order
        with what was published before it (``publish``)."""
        if self.remote:
            at = self._remote_of(path)
            self._run(f"deleting {at}", lambda: remove_file(at))

    def _run(self, what: str, action: Callable[[], object]) -> None:
        publisher = _PUBLISHERS.get(self.remote or "")
        if publisher is not None:
            publisher.submit(what, action)
        else:
            with_retries(action, what=what)

    def checkpoint(self, *, search: str, trial_id: str, step: int) -> Path:
        """A local folder holding a trial's checkpoint at ``step`` (its evaluation, or epoch), as Tune kept
        it (under the study's Tune run, or its search's own run in a sweep of manifest version 1); a
        checkpoint on shared storage is fetched into the local copy first."""
        if self.remote:
            return self._fetch_checkpoint(search=search, trial_id=trial_id, step=step)
        for folder in sorted(Path(self.tune).glob(f"*/trial_{trial_id}/checkpoint_*")):
            # A folder without its state file was cut short (the driver died while Tune copied it).
            if (folder / STATE_FILE).is_file() and report_step(read_state(folder)) == step:
                return folder
        raise self._no_checkpoint(search, trial_id, step)

    def _fetch_checkpoint(self, *, search: str, trial_id: str, step: int) -> Path:
        import pyarrow.fs as pafs

        fs, base = filesystem(self.tune)
        for run in fs.get_file_info(pafs.FileSelector(base, allow_not_found=True)):
            trial = f"{run.path}/trial_{trial_id}"
            for folder in sorted(
                (i.path for i in fs.get_file_info(pafs.FileSelector(trial, allow_not_found=True))),
            ):
                if not folder.rsplit("/", 1)[-1].startswith("checkpoint_"):
                    continue
                try:
                    with fs.open_input_stream(f"{folder}/{STATE_FILE}") as f:
                        found = report_step(json.loads(f.read()))
                except (OSError, ValueError, KeyError):
                    continue  # cut short, as above
                if found == step:
                    local = self.root / ".checkpoints" / f"trial_{trial_id}" / folder.rsplit("/", 1)[-1]
                    if not (local / STATE_FILE).is_file():
                        copy_from(fs, folder, local)
                    return local
        raise self._no_checkpoint(search, trial_id, step)

    def prune_checkpoints(self, trial_ids: set[str], *, keep: tuple[str, int], keep_weights: bool = True) -> int:
        """Delete every checkpoint of ``trial_ids`` but ``keep`` (trial id, step); return how many went.
        For a finished search: Tune never reads a finished trial's checkpoints again. Without
        ``keep_weights`` the kept one loses its model and optimizer states too, keeping its test
        predictions and state file (a pair's: nothing reads its weights again)."""
        import pyarrow.fs as pafs

        fs, base = filesystem(self.tune)
        removed = 0
        for run in fs.get_file_info(pafs.FileSelector(base, allow_not_found=True)):
            for trial_id in sorted(trial_ids):
                trial = f"{run.path}/trial_{trial_id}"
                for entry in fs.get_file_info(pafs.FileSelector(trial, allow_not_found=True)):
                    # A checkpoint is a folder; a Train run's own files may share the prefix, e.g.
                    # checkpoint_manager_snapshot.json, which Ray Train can write after the trial ended.
                    if entry.type != pafs.FileType.Directory:
                        continue
                    if not entry.path.rsplit("/", 1)[-1].startswith("checkpoint_"):
                        continue
                    if trial_id == keep[0] and self._step_of(fs, entry.path) == keep[1]:
                        if not keep_weights:
                            fs.delete_dir_contents(f"{entry.path}/{TAG}", missing_dir_ok=True)
                        continue
                    fs.delete_dir(entry.path)
                    removed += 1
        return removed

    @staticmethod
    def _step_of(fs: Any, folder: str) -> int | None:
        try:
            with fs.open_input_stream(f"{folder}/{STATE_FILE}") as f:
                return report_step(json.loads(f.read()))
        except (OSError, ValueError, KeyError):
            return None  # cut short: not a checkpoint anything can use

    def _no_checkpoint(self, search: str, trial_id: str, step: int) -> CheckpointError:
        return CheckpointError(
            f"no checkpoint of trial {trial_id} of {search} at step {step} under {self.tune}; "
            "raise resources.checkpoints_to_keep so the best is kept"
        )

    def require(self) -> None:
        """Raise unless this looks like a sweep directory."""
        if not self.manifest.is_file() or not self.config.is_file():
            raise SweepStateError(
                f"{self.remote or self.root} is not a sweep directory (no manifest.json/config.yaml); "
                "give the folder `sweep launch` printed"
            )


#: What a local copy of a sweep on shared storage holds (Tune's state stays there; encoders are fetched when
#: needed). The Optuna journal (``sweep.track.optuna_journal``) is a view a resumed driver extends.
FETCHED = ("config.yaml", "manifest.json", "driver.json", "journal", "results", "optuna-journal.log")


def open_sweep(location: str | Path, *, driver: bool = False, launch: bool = False, wait_s: float = 0.0) -> SweepDir:
    """The sweep directory at ``location``: a local folder, or a sweep on shared storage (a URI) fetched into
    a local copy. That copy always starts from what the storage holds: a driver's (``driver``; empty for a
    sweep about to be ``launch``ed there) is made anew, after checking that no other driver holds the
    sweep (waiting up to ``wait_s`` seconds for another one's lease to lapse: ``driver_lock``); a reader's is a
    folder of its own, so it never disturbs a driver on the same machine.

    Example: ``open_sweep("s3://my-bucket/sweeps/xstilts-1")``.
    """
    if not is_uri(location):
        return SweepDir(Path(location).resolve())
    import hashlib
    import shutil
    import tempfile

    remote = str(location).rstrip("/")
    base = Path(tempfile.gettempdir()) / f"xstilts-{os.getuid()}" / "sweeps"
    base.mkdir(parents=True, exist_ok=True)
    if driver or launch:
        digest = hashlib.sha256(remote.encode()).hexdigest()[:16]
        root = base / f"{remote.rsplit('/', 1)[-1]}-{digest}"
        sweep_dir = SweepDir(root, remote=remote)
        if not launch:
            _refuse_if_leased(sweep_dir, wait_s=wait_s)
        shutil.rmtree(root, ignore_errors=True)  # what a killed driver left here may never have reached storage
        root.mkdir(parents=True)
    else:
        import atexit

        root = Path(tempfile.mkdtemp(prefix="read-", dir=base))
        atexit.register(shutil.rmtree, root, True)
    if not launch:
        try:
            for name in FETCHED:
                download(join(remote, name), root / name)
        except OSError as exc:
            raise SweepStateError(
                f"cannot read the sweep at {remote}: {exc}; check the URI, AWS_ENDPOINT_URL and the storage's "
                "credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE)"
            ) from exc
        from sweep.storage.journal import fold_parts

        fold_parts(root / "journal")  # each trial's whole file and its appends since (sweep.storage.journal)
    return SweepDir(root, remote=remote)


def read_manifest(sweep_dir: SweepDir, *, to_run: bool = False) -> dict[str, Any]:
    """Load the manifest, checking its version: one this xstilts reads, and with ``to_run`` one it runs."""
    sweep_dir.require()
    try:
        data = json.loads(sweep_dir.manifest.read_text())
    except ValueError as exc:  # not JSON, or not UTF-8 text
        raise SweepStateError(f"{sweep_dir.manifest} is damaged ({exc}); restore it from a backup") from exc
    if not isinstance(data, dict) or not isinstance(data.get("searches"), dict):
        what = "not a JSON object" if not isinstance(data, dict) else "it has no `searches` object"
        raise SweepStateError(f"{sweep_dir.manifest} is damaged ({what}); restore it from a backup")
    version = data.get("version")
    if version not in READABLE_VERSIONS:
        raise SweepStateError(
            f"{sweep_dir.manifest} has version {version!r}; this xstilts reads versions "
            f"{', '.join(map(str, READABLE_VERSIONS))}"
        )
    if to_run and version != MANIFEST_VERSION:
        raise SweepStateError(
            f"{sweep_dir.root} was started by an xstilts that ran each search as its own Tune run (manifest "
            f"version {version}); this one runs a study as one Tune run and cannot continue it. Finish it with "
            f"the xstilts that started it ({data.get('code', {}).get('git_commit', 'see manifest.json')}), or "
            "launch it again; its results can still be read (`sweep query`, `status`, `export-predictions`)"
        )
    return data


def set_state(sweep_dir: SweepDir, search: Any, **fields: Any) -> None:
    """Update ``search``'s row in the manifest (and publish it to shared storage)."""
    manifest = read_manifest(sweep_dir)
    manifest["searches"][search.id].update(fields)
    write_json(sweep_dir.manifest, manifest)
    sweep_dir.publish(sweep_dir.manifest)


def code_version() -> dict[str, str]:
    """The xstilts version and, when run from a git checkout, its commit and whether it had local edits."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        info = {"xstilts": version("xstilts")}
    except PackageNotFoundError:
        info = {"xstilts": "unknown"}
    repo = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        info.update(git_commit=commit, git_dirty=str(bool(dirty)).lower())
    except (OSError, subprocess.SubprocessError):
        pass
    return info


_PUBLISHERS: dict[str, Publisher] = {}  # the running driver's, by its sweep's URI (``publishing``)


@contextlib.contextmanager
def publishing(sweep_dir: SweepDir) -> Iterator[None]:
    """While inside, ``sweep_dir.publish`` and ``unpublish`` hand their uploads to a background publisher
    (``sweep.storage.publisher``); on the way out every one of them is done, or its error raised (unless
    another error is on its way out already, which it is printed beside). ``XSTILTS_PUBLISH_INLINE=1``
    publishes on the caller's thread instead, as before."""
    if not sweep_dir.remote or os.environ.get(INLINE) == "1":
        yield
        return
    publisher = _PUBLISHERS[sweep_dir.remote] = Publisher()
    failed: BaseException | None = None
    try:
        yield
    except BaseException as exc:
        failed = exc
        raise
    finally:
        del _PUBLISHERS[sweep_dir.remote]
        try:
            publisher.close()
        except StorageError as exc:
            if failed is None:
                raise
            if exc is not failed:  # the publisher's own error, raised at a hand-off, is on its way out already
                print(f"also: {exc}", flush=True)
        finally:
            if TALLY.retried or TALLY.failed:
                print(f"shared storage: {TALLY.retried} requests retried, {TALLY.failed} failed", flush=True)


def untrusted_files(root: Path, *, limit: int = 5) -> list[str]:
    """Up to ``limit`` files or folders in the sweep folder ``root`` (itself included; a link's target) that a
    user other than this one can write: writable by everyone, or owned by another user, and folders that cannot
    be listed. Group-writable ones pass (a team's shared group is its own choice: docs/security.md). Resuming
    runs code such files can hold (Ray Tune's ``tuner.pkl``, the searcher's and scheduler's pickled state,
    DeepSpeed's checkpoints)."""
    import stat

    me, found = os.getuid(), []

    def unlistable(exc: OSError) -> None:
        found.append(f"{exc.filename} (cannot be listed: {exc.strerror})")

    for folder, folders, files in os.walk(root, onerror=unlistable):
        # The folder itself, its files, and links to folders (walked as links, not followed).
        for name in ["", *files, *(d for d in folders if (Path(folder) / d).is_symlink())]:
            path = Path(folder) / name
            try:
                st = path.stat()  # a link: its target, which is what gets loaded
            except FileNotFoundError:
                continue
            if st.st_mode & stat.S_IWOTH or st.st_uid != me:
                who = "writable by everyone" if st.st_mode & stat.S_IWOTH else f"owned by user id {st.st_uid}"
                found.append(f"{path} ({who}{', through a link' if path.is_symlink() else ''})")
        if len(found) >= limit:
            return found[:limit]
        folders.sort()
    return found[:limit]


def refuse_untrusted(sweep_dir: SweepDir) -> None:
    """Refuse to run a local sweep whose files others can write (``untrusted_files``): raises SweepStateError
    naming them and the fixes. A sweep on object storage is fetched into a copy of this user's own: there the
    bucket's write permissions are the trust boundary (docs/security.md)."""
    if sweep_dir.remote:
        return
    found = untrusted_files(sweep_dir.root)
    if found:
        raise SweepStateError(
            f"sweep {sweep_dir.root} holds files other users can write: {'; '.join(found)}. Resuming loads "
            "pickled state from it (Ray Tune's, the searcher's, DeepSpeed's checkpoints), which runs whatever "
            f"code was put there: make them yours alone (e.g. `chmod -R o-w {sweep_dir.root}`, or copy the "
            "sweep to a folder of your own), or pass --trust-storage if everyone who can write there is trusted"
        )


@contextlib.contextmanager
def driver_lock(sweep_dir: SweepDir, *, wait_s: float = 0.0) -> Iterator[None]:
    """Hold the sweep for this process while the block runs; refuse if another live driver holds it.

    The lock is the operating system's (flock on ``driver.lock``, never a soft lock file that a killed
    driver would leave behind): it is released when its process ends however it ends, kill -9
    included, so a dead driver never blocks a resume. Shared storage has no such lock, so a sweep there
    also holds a lease: the driver's note, renewed every ``LEASE_RENEW_S``; a note renewed within
    ``LEASE_S`` by another driver refuses this one (a dead driver's lease lapses by itself), after waiting up to
    ``wait_s`` seconds for it to lapse: a job that its scheduler retries on a new cluster (a RayJob's
    ``backoffLimit``) may start before the dead driver's lease has run out.
    """
    if sweep_dir.remote:
        _refuse_if_leased(sweep_dir, wait_s=wait_s)
    # No silent fallback to a marker file where the file system lacks flock: a killed driver's marker would
    # refuse every resume for good.
    lock = UnixFileLock(sweep_dir.lock_file, fallback_to_soft=False)
    try:
        lock.acquire(timeout=2)  # `sweep status` holds it for an instant when it looks
    except Timeout:
        raise SweepStateError(
            f"sweep {sweep_dir.root} is being run by {_holder(sweep_dir)}; wait for it or stop it before resuming"
        ) from None
    except (OSError, NotImplementedError) as exc:
        raise SweepStateError(
            f"cannot lock sweep {sweep_dir.root}: its file system has no flock ({exc}); put the sweep on a local "
            "disk or a file system mounted with flock (Lustre: -o flock; NFS: without local_lock/nolock), or on "
            "object storage (--storage s3://bucket/sweeps)"
        ) from exc
    renewal = None
    try:
        now = time.time()
        write_json(sweep_dir.driver_info, {**holder_note(), "since": now})
        note_driver(sweep_dir, noted_at=now)
        if sweep_dir.remote:
            renewal = Renewal(lambda: note_driver(sweep_dir, noted_at=time.time()) or True, name="xstilts-lease")
            renewal.start()
        yield
    finally:
        if renewal is not None:
            renewal.stop()
        if sweep_dir.remote:
            note_driver(sweep_dir, stopped_at=time.time())
        sweep_dir.driver_info.unlink(missing_ok=True)
        lock.release()


_NOTE_LOCK = threading.Lock()  # the renewing thread and the driver both note


def _refuse_if_leased(sweep_dir: SweepDir, *, wait_s: float = 0.0) -> None:
    """Refuse a second driver of a sweep on shared storage while another one's lease is current, once
    ``wait_s`` seconds of waiting for it to lapse have passed."""
    deadline = time.monotonic() + wait_s
    waiting = False
    while _remote_driver_alive(sweep_dir):
        left = deadline - time.monotonic()
        if left <= 0:
            raise SweepStateError(
                f"sweep {sweep_dir.remote} is being run by {_holder(sweep_dir)} (its lease was renewed less than "
                f"{LEASE_S:g} s ago); wait for it or stop it before resuming"
            )
        if not waiting:
            print(
                f"sweep {sweep_dir.remote} was held by {_holder(sweep_dir)}; waiting up to {left:.0f} s for its "
                "lease to lapse (a driver that still renews it keeps the sweep)",
                flush=True,
            )
            waiting = True
        time.sleep(min(2.0, left))


def _remote_driver_alive(sweep_dir: SweepDir) -> bool:
    """Whether the sweep's note on shared storage is a live driver's lease (``sweep.storage.lease``)."""
    note = driver_note(sweep_dir)
    if sweep_dir.remote:
        note = read_note(join(sweep_dir.remote, "driver.json")) or note
    return alive(note)


def note_driver(sweep_dir: SweepDir, **fields: Any) -> None:
    """Add to the live driver's note (``driver.json``) what `sweep status` shows of it: the cluster's
    resources in use, the trials running per search, and on shared storage its lease."""
    with _NOTE_LOCK:
        try:
            info = json.loads(sweep_dir.driver_info.read_text())
        except (OSError, ValueError):
            info = {}
        write_json(sweep_dir.driver_info, {**info, **fields})
        # At once, not behind queued uploads: it is the lease, renewed every 20 s (no order to keep).
        sweep_dir.publish_now(sweep_dir.driver_info)


def driver_note(sweep_dir: SweepDir) -> dict[str, Any]:
    """The live driver's note, or {} when there is none."""
    try:
        return json.loads(sweep_dir.driver_info.read_text())
    except (OSError, ValueError):
        return {}


def driver_alive(sweep_dir: SweepDir) -> bool:
    """Whether a live driver currently holds the sweep.

    Probes the driver's flock with a shared lock on a read-only descriptor, so a user who may read
    the sweep folder but not write it gets the true answer too; on shared storage, reads its lease.
    """
    if sweep_dir.remote:
        return _remote_driver_alive(sweep_dir)
    try:
        fd = os.open(sweep_dir.lock_file, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops the probe's own lock
    return False


def _holder(sweep_dir: SweepDir) -> str:
    try:
        info = json.loads(sweep_dir.driver_info.read_text())
        return f"process {info['pid']} on {info['host']}"
    except (OSError, ValueError, KeyError):
        return "another process"
