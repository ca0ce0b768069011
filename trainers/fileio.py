"""Files, read and written safely: records from JSON-lines or Parquet, and atomic writes.

``write_atomic`` is the one way xstilts writes a file that someone may read at the same time (results,
the manifest and config copy, encoders, cached features, data mirrors): the content goes to a
``.``-prefixed temporary name in the same folder (readers such as ``pyarrow.dataset`` skip those),
is flushed to disk, then takes the final name in one step. A reader sees the old file or the new
one, never half of one; a crash leaves at most a temporary file behind.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from trainers.errors import DataError, StorageError


def fsync_dir(path: Path) -> None:
    """Flush folder ``path`` so that entries just created or renamed in it survive a crash."""
    # Some platforms cannot open or fsync folders; there a rename is as durable as it gets.
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})  # a full disk, or the user's quota on it


def no_space(exc: BaseException | None, folder: Path | str) -> StorageError | None:
    """The error to raise for ``exc`` (or an error it was raised from) if it is a full disk while writing
    under ``folder``, naming the folder and the fix; None for any other error."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in NO_SPACE:
            at = f": {exc.filename}" if exc.filename and str(exc.filename) != str(folder) else ""
            return StorageError(
                f"no space left on the disk holding {folder} ({exc.strerror}{at}); free "
                f"space there (`df -h {folder}` shows how much is left) or move the sweep to a larger disk, then "
                "run `sweep resume` on the sweep: everything written before is kept, and what was being "
                "written is written again"
            )
        exc = exc.__cause__ or exc.__context__
    return None


@contextlib.contextmanager
def space_checked(folder: Path | str) -> Any:
    """Turn a full disk met inside into ``no_space``'s error for ``folder``."""
    try:
        yield
    except OSError as exc:
        if (full := no_space(exc, folder)) is not None:
            raise full from exc
        raise


def write_atomic(
    path: Path, content: str | bytes | Callable[[IO[bytes]], Any], *, overwrite: bool = True, durable: bool = True
) -> bool:
    """Write ``content`` (text, bytes, or a function that writes to a binary file) to ``path`` atomically.

    With ``overwrite=False`` an existing file is kept and nothing is written (the first writer wins,
    even among racing processes: the final name is claimed with a hard link, which fails if it exists).
    ``durable`` fsyncs the file and its folder, for records that must survive a power loss. Returns
    whether this call wrote the file. Example: ``write_atomic(Path("out.json"), json.dumps(data))``. A full disk
    raises a StorageError naming the folder (``no_space``), the file left as it was.
    """
    path = Path(path)
    with space_checked(path.parent):
        return _write_atomic(path, content, overwrite=overwrite, durable=durable)


def _write_atomic(
    path: Path, content: str | bytes | Callable[[IO[bytes]], Any], *, overwrite: bool, durable: bool
) -> bool:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not overwrite and path.exists():
        return False
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    # Not tempfile.mkstemp: its 0600 mode would keep shared results from the user's group.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            if isinstance(content, str):
                f.write(content.encode("utf-8"))
            elif isinstance(content, bytes):
                f.write(content)
            else:
                content(f)
            f.flush()
            if durable:
                os.fsync(f.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                return False
            except OSError:  # a file system without hard links: check, then rename (a narrow race)
                if path.exists():
                    return False
                os.replace(tmp, path)
            finally:
                tmp.unlink(missing_ok=True)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(path.parent)
    return True


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON, atomically and durably."""
    write_atomic(path, json.dumps(data, indent=2, sort_keys=True))


def read_records(path: Path) -> list[dict[str, Any]]:
    """Read one data file, JSON lines or Parquet, into records; a damaged file raises a DataError naming it."""
    path = Path(path)
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            return pq.read_table(path).to_pylist()
        except Exception as exc:  # pyarrow raises several types for damaged files
            raise DataError(f"cannot read {path}: {exc}; replace it with a valid Parquet file") from exc
    records = []
    with path.open(encoding="utf-8") as f:
        try:
            lines = list(f)
        except UnicodeDecodeError as exc:
            raise DataError(
                f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start}); write it as UTF-8 JSON lines, one "
                "record in the hub's schema a line"
            ) from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(
                f"{path} line {number} is not valid JSON ({exc.msg}); each line must be one record in the hub's schema"
            ) from exc
        if not isinstance(record, dict):
            raise DataError(
                f"{path} line {number} is a JSON {type(record).__name__}, not an object; each line must be one "
                'record in the hub\'s schema, e.g. {"sentence1": ..., "label": ...}'
            )
        records.append(record)
    return records


# ----------------------------------------------------------------------------- shared storage (URIs)


def is_uri(location: str | Path) -> bool:
    """Whether ``location`` names shared storage (``s3://bucket/prefix``, ``gs://...``) rather than a path."""
    text = str(location)
    return "://" in text and not text.startswith("file://")


def filesystem(location: str | Path) -> tuple[Any, str]:
    """pyarrow's file system for ``location`` (the ones Ray Tune uses) and the path in it. S3 honours the
    usual AWS settings, ``AWS_ENDPOINT_URL`` included (an S3-compatible server)."""
    import pyarrow as pa
    import pyarrow.fs as pafs

    if is_uri(location):
        try:
            return pafs.FileSystem.from_uri(str(location))
        except pa.ArrowInvalid as exc:  # an unknown scheme, or no bucket: before any request is made
            raise StorageError(
                f"cannot open {location} ({exc}); name a local folder or a URI of shared storage, such as "
                "s3://bucket/prefix or gs://bucket/prefix"
            ) from None
    return pafs.LocalFileSystem(), str(Path(str(location).removeprefix("file://")).resolve())


def join(location: str, *parts: str) -> str:
    """``location`` / parts, for a URI or a path."""
    return "/".join([str(location).rstrip("/"), *parts])


def exists(location: str) -> bool:
    """Whether a file or folder exists at ``location``."""
    import pyarrow.fs as pafs

    fs, path = filesystem(location)
    return fs.get_file_info(path).type != pafs.FileType.NotFound


def remove_tree(location: str) -> None:
    """Delete the folder at ``location`` (a path or a URI) with all it holds; nothing when there is none."""
    if exists(location):
        fs, path = filesystem(location)
        fs.delete_dir(path)


def remove_file(location: str) -> None:
    """Delete the file at ``location`` (a path or a URI); nothing when there is none."""
    import pyarrow.fs as pafs

    fs, path = filesystem(location)
    try:
        fs.delete_file(path)
    except FileNotFoundError:
        pass
    except OSError:
        if fs.get_file_info(path).type != pafs.FileType.NotFound:
            raise


def upload(local: Path, location: str) -> None:
    """Copy a local file to ``location`` (a URI). An object store writes an object whole or not at all,
    so a reader there never sees half a file either."""
    upload_bytes(Path(local).read_bytes(), location)


def upload_bytes(data: bytes, location: str) -> None:
    """Write ``data`` as the object (or file) at ``location``, whole or not at all (as ``upload``). An object
    store needs no folders: pyarrow would write an empty marker object for each level above the object, a
    request each (bench/journal_uploads.py)."""
    fs, path = filesystem(location)
    if fs.type_name == "local":
        fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
    with fs.open_output_stream(path) as out:
        out.write(data)


def download(location: str, local: Path) -> bool:
    """Copy the file or folder at ``location`` to ``local`` (what is already there is replaced file by
    file); return whether there was anything to copy."""
    fs, path = filesystem(location)
    return copy_from(fs, path, local)


def copy_from(fs: Any, path: str, local: Path) -> bool:
    """``download`` from a path in a pyarrow file system."""
    import pyarrow.fs as pafs

    info = fs.get_file_info(path)
    if info.type == pafs.FileType.NotFound:
        return False
    local = Path(local)
    if info.type == pafs.FileType.File:
        local.parent.mkdir(parents=True, exist_ok=True)
        with fs.open_input_stream(path) as f:
            write_atomic(local, f.read(), durable=False)
        return True
    local.mkdir(parents=True, exist_ok=True)
    for entry in fs.get_file_info(pafs.FileSelector(path, recursive=True)):
        if entry.type == pafs.FileType.File:
            with fs.open_input_stream(entry.path) as f:
                write_atomic(local / entry.path[len(path) :].lstrip("/"), f.read(), durable=False)
    return True


def local_copy(location: str | Path, *, cache: Path | None = None) -> Path:
    """A local path holding the file at ``location``: the path itself, or for a URI a copy in ``cache``
    (default: a folder in the temporary directory), fetched again when the object changed."""
    if not is_uri(location):
        return Path(location)
    import hashlib

    import pyarrow.fs as pafs

    fs, path = filesystem(location)
    info = fs.get_file_info(path)
    if info.type != pafs.FileType.File:
        raise DataError(f"{location} does not exist (or is not a file)")
    stamp = f"{location}|{info.size}|{info.mtime_ns}"
    folder = cache or Path(os.environ.get("TMPDIR", "/tmp")) / f"xstilts-{os.getuid()}" / "fetched"
    local = folder / hashlib.sha256(stamp.encode()).hexdigest()[:24] / Path(path).name
    if not local.is_file():
        download(location, local)
    return local
