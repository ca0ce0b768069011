"""The feature cache: a second trial reuses tokenized splits; any change to what they depend on misses."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from trainers import cache

ROOT = Path(__file__).resolve().parents[3]


def test_hit_miss_and_damage(tmp_path: Path) -> None:
    calls = []

    def compute() -> list[int]:
        calls.append(1)
        return [1, 2, 3]

    key = {"task": "xnli", "language": "de", "max_length": 128}
    assert cache.cached(key, compute, cache_dir=str(tmp_path)) == [1, 2, 3]
    assert cache.cached(key, compute, cache_dir=str(tmp_path)) == [1, 2, 3]
    assert len(calls) == 1
    cache.cached({**key, "max_length": 256}, compute, cache_dir=str(tmp_path))
    assert len(calls) == 2
    for entry in tmp_path.glob("*.pkl"):
        entry.write_bytes(b"damaged")
    assert cache.cached(key, compute, cache_dir=str(tmp_path)) == [1, 2, 3]  # recomputed, not an error
    assert len(calls) == 3
    cache.cached(key, compute, cache_dir=None)
    assert len(calls) == 4
    assert not list(tmp_path.glob(".*.tmp"))


def test_fingerprints_follow_content(tmp_path: Path) -> None:
    tokenizer = tmp_path / "tokenizer.json"
    shutil.copy(ROOT / "data" / "toy" / "tokenizer.json", tokenizer)
    before = cache.tokenizer_fingerprint(str(tokenizer))
    tokenizer.write_text(tokenizer.read_text().replace('"<mask>"', '"<MASK>"'))
    assert cache.tokenizer_fingerprint(str(tokenizer)) != before

    data = tmp_path / "test.jsonl"
    data.write_text("{}\n")
    first = cache.files_fingerprint([data])
    data.write_text("{}\n{}\n")
    assert cache.files_fingerprint([data]) != first


def test_default_folder_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XSTILTS_FEATURE_CACHE", str(tmp_path))
    assert cache.cache_folder("default") == tmp_path
    monkeypatch.delenv("XSTILTS_FEATURE_CACHE")
    assert cache.cache_folder("default") == Path(os.path.expanduser(cache.DEFAULT_DIR))
    assert cache.cache_folder(None) is None
