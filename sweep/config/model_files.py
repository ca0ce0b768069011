"""What a pretrained model's files say, read without loading the model: its ``config.json`` (from a local
folder or the local hub cache, never downloaded), whether it is a decoder, its depth and its positions.

The config's checks (``sweep.preflight``), the smoke runs and a stage one's identity all read them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from trainers.spec import ModelSpec

#: Families whose position ids start after the pad id, so two of their position embeddings are never used.
_OFFSET_POSITIONS = ("roberta", "xlm-roberta", "xlm-roberta-xl", "camembert")


def usable_positions(model: ModelSpec) -> int | None:
    """How many tokens a sequence of the model may have, where its config can be read locally: its
    position embeddings (for XLM-R-style families, two fewer: positions start after the pad id)."""
    if model.init == "scratch":
        return None  # built with max_length + 2 positions
    data = model_config_data(model)
    positions = data.get("max_position_embeddings", data.get("n_positions"))
    if not isinstance(positions, int) or positions <= 0:
        return None
    return positions - 2 if data.get("model_type") in _OFFSET_POSITIONS else positions


def model_config_data(model: ModelSpec) -> dict[str, Any]:
    """A pretrained model's ``config.json``, where it can be read locally ({} where not, or for scratch)."""
    if model.init == "scratch" or not model.path:
        return {}
    folder = Path(model.path)
    path = folder / "config.json" if folder.is_dir() else hub_cache_file(model.path, "config.json")
    try:
        data = json.loads(Path(path).read_text()) if path else {}
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def decoder_only(data: dict[str, Any]) -> bool:
    """Whether a model's ``config.json`` describes a decoder-only family (``trainers.families``)."""
    from types import SimpleNamespace

    from trainers.families import is_decoder_only

    return "model_type" in data and is_decoder_only(SimpleNamespace(**data))


def model_depth(model: ModelSpec) -> int | None:
    """The number of layers of the model, where its config can be read locally (None where not)."""
    if model.init == "scratch":
        return model.num_layers
    data = model_config_data(model)
    depth = next((data[key] for key in ("num_hidden_layers", "n_layer", "num_layers") if key in data), None)
    return depth if isinstance(depth, int) else None


def in_hub_cache(repo_id: str) -> bool:
    return hub_cache_file(repo_id, "config.json") is not None


def hub_cache_file(repo_id: str, name: str) -> str | None:
    """The path of a file of ``repo_id`` in the local hub cache, or None (never downloads)."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    try:
        found = try_to_load_from_cache(repo_id, name)
    except ValueError:  # not a valid repo id
        return None
    return found if isinstance(found, str) else None
