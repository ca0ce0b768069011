"""A disk cache of tokenized splits, so trials of a sweep never tokenize the same data twice.

The key covers everything the features depend on: the tokenizer's files (by content), the task
and its kind, language, split, length limits, the number of examples kept, and the data files
(path, size and modification time) or the hub dataset. Entries are written atomically; two trials
computing the same entry at once both write identical content, and either may win.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from trainers.fileio import write_atomic

T = TypeVar("T")
FORMAT = 3  # bump when the cached objects change (2: classification features in trainers.kinds; 3: tagging
# rows with each tokenizer's own special tokens)


def tokenizer_fingerprint(source: str) -> str:
    """A hash of a tokenizer's files (a tokenizer.json or a model folder), or of its hub id."""
    path = Path(source).expanduser()
    digest = hashlib.sha256()
    files = (
        [path]
        if path.is_file()
        else sorted(
            p for p in path.glob("*") if p.is_file() and ("token" in p.name or p.suffix in (".model", ".txt", ".json"))
        )
        if path.is_dir()
        else []
    )
    for file in files:
        digest.update(file.name.encode())
        digest.update(file.read_bytes())
    if not files:
        digest.update(source.encode())
    return digest.hexdigest()


def files_fingerprint(paths: list[Path]) -> list[list[Any]]:
    """Path, size and modification time of each data file: cheap, and changes when a file does."""
    return [[str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns] for p in paths]


DEFAULT_DIR = "~/.cache/xstilts/features"


def cache_folder(setting: str | None) -> Path | None:
    """The folder a ``training.feature_cache`` setting names: ``default`` is $XSTILTS_FEATURE_CACHE or
    ~/.cache/xstilts/features; None turns the cache off."""
    if setting is None:
        return None
    if setting == "default":
        setting = os.environ.get("XSTILTS_FEATURE_CACHE", DEFAULT_DIR)
    return Path(setting).expanduser()


def cached(key: dict[str, Any], compute: Callable[[], T], *, cache_dir: str | None) -> T:
    """Return the cached value for ``key``, computing and storing it on a miss (``cache_dir=None``: no cache)."""
    folder = cache_folder(cache_dir)
    if folder is None:
        return compute()
    name = hashlib.sha256(json.dumps({**key, "format": FORMAT}, sort_keys=True).encode()).hexdigest()
    path = folder / f"{name}.pkl"
    try:
        with path.open("rb") as f:
            return pickle.load(f)
    except FileNotFoundError:
        pass
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError):
        pass  # a damaged or outdated entry is recomputed and replaced
    value = compute()
    # Not durable: a cache entry lost to a crash is computed again.
    write_atomic(path, lambda f: pickle.dump(value, f, protocol=pickle.HIGHEST_PROTOCOL), durable=False)
    return value
