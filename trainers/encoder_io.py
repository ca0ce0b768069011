"""The exported encoder of an intermediate task: safetensors shards with an index, as ``save_pretrained``
writes them, written atomically and read one shard at a time.

Layout of an encoder folder (``SWEEP_DIR/encoders/<task>/encoder/``)::

    model.safetensors                      one file, when the encoder fits in one shard
    model-00001-of-00003.safetensors ...   or shards of at most ``max_shard_bytes``,
    model.safetensors.index.json           with the index that maps each tensor to its shard

Keys are those of the model's ``base_model`` (the encoder without its task head), fp32.

* **Atomic.** The shards are written to a temporary folder beside the target, flushed, and the folder
  is renamed into place; a crash leaves the temporary folder (never a folder named like a finished
  encoder) and the previous encoder untouched. On shared storage the index (or the single file) is
  uploaded last, and readers go by it.
* **One copy.** Writing takes tensors one shard at a time from a mapping whose values may be lazy
  (DeepSpeed's ZeRO consolidation in ``lazy_mode``); reading loads one shard at a time into the model,
  so a process never holds the encoder twice.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainers.errors import CheckpointError, DataError
from trainers.fileio import fsync_dir, is_uri, join, local_copy, upload

if TYPE_CHECKING:
    from huggingface_hub import StateDictSplit

#: save_pretrained's names: ``model.safetensors`` alone, or ``model-00001-of-00003.safetensors``... with the index.
FILE_PATTERN = "model{suffix}.safetensors"
SINGLE = FILE_PATTERN.format(suffix="")
INDEX = "model.safetensors.index.json"
MAX_SHARD_BYTES = 5 * 1024**3  # save_pretrained's long-standing default


def plan_shards(like: Mapping[str, Any], *, max_shard_bytes: int) -> StateDictSplit:
    """Which file each tensor of an encoder goes to, as ``save_pretrained`` plans it (huggingface_hub's
    ``split_torch_state_dict_into_shards``): tensors in order, a new shard when the next one would pass
    ``max_shard_bytes``, and a bigger tensor in a shard of its own.

    ``like`` holds, by name, tensors of the shapes and dtypes that will be written; only those are read,
    so tensors on the meta device (a model's skeleton) do, and nothing is allocated.

    >>> import torch
    >>> like = {name: torch.empty(n, device="meta") for name, n in [("a", 1), ("b", 1), ("c", 3), ("d", 1)]}
    >>> split = plan_shards(like, max_shard_bytes=8)  # float32: 4 bytes each
    >>> list(split.filename_to_tensors.values()), split.tensor_to_filename["c"]
    ([['c'], ['a', 'b'], ['d']], 'model-00001-of-00003.safetensors')
    """
    import torch
    from huggingface_hub import split_torch_state_dict_into_shards

    # Real tensors are planned on the meta device too: the splitter sizes a tensor by its storage (a view
    # into a flat buffer would count the whole buffer), and there it sees no shared storage, so tied
    # weights are planned as the separate tensors ``write_encoder`` writes (it clones them).
    meta = {name: torch.empty(tensor.shape, dtype=tensor.dtype, device="meta") for name, tensor in like.items()}
    return split_torch_state_dict_into_shards(meta, filename_pattern=FILE_PATTERN, max_shard_size=max_shard_bytes)


def write_encoder(
    tensors: Mapping[str, Any],
    out_dir: Path,
    *,
    like: Mapping[str, Any] | None = None,
    materialize: Callable[[Any], Any] = lambda t: t,
    max_shard_bytes: int = MAX_SHARD_BYTES,
) -> None:
    """Write ``tensors`` (name -> tensor, or a lazy value that ``materialize`` turns into one) as an
    encoder folder at ``out_dir``, replacing any there, atomically. The shards are planned from ``like``
    (``plan_shards``: tensors of the shapes and dtypes written, such as a meta-device skeleton's); by
    default from ``tensors`` themselves, which must then be tensors.

    Example: ``write_encoder(model.base_model.state_dict(), Path("enc"))``.
    """
    from safetensors.torch import save_file

    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = out_dir.parent / f".{out_dir.name}.tmp-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        split = plan_shards(tensors if like is None else like, max_shard_bytes=max_shard_bytes)
        for name, keys in (split.filename_to_tensors or {SINGLE: []}).items():
            # One shard in memory at a time; clone() parts tensors that share storage (tied weights).
            part = {key: materialize(tensors[key]).detach().to("cpu").contiguous().clone() for key in keys}
            save_file(part, str(staging / name), metadata={"format": "pt"})
            del part
        if split.is_sharded:
            index = {"metadata": split.metadata, "weight_map": split.tensor_to_filename}
            (staging / INDEX).write_text(json.dumps(index, indent=2, sort_keys=True))
        for path in staging.iterdir():
            with path.open("rb") as f:
                os.fsync(f.fileno())
        fsync_dir(staging)
        if out_dir.exists():
            retired = out_dir.parent / f".{out_dir.name}.old-{uuid.uuid4().hex[:8]}"
            out_dir.rename(retired)
            staging.rename(out_dir)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            staging.rename(out_dir)
        fsync_dir(out_dir.parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def encoder_files(folder: Path) -> list[str]:
    """The files of a written encoder folder, in upload order: shards first, the index last."""
    folder = Path(folder)
    if (folder / INDEX).is_file():
        shards = sorted(set(json.loads((folder / INDEX).read_text())["weight_map"].values()))
        return [*shards, INDEX]
    return [SINGLE]


def publish_encoder(folder: Path, location: str) -> None:
    """Upload an encoder folder to ``location`` on shared storage, the file readers go by last."""
    for name in encoder_files(folder):
        upload(Path(folder) / name, join(location, name))


def encoder_shards(location: str | Path) -> Iterator[Path]:
    """Local paths of an encoder's shards, one at a time (fetched from shared storage as needed)."""
    missing = CheckpointError(
        f"intermediate encoder {location} does not exist or is incomplete; rerun the intermediate search "
        "(`sweep resume` re-exports it from the best checkpoint)"
    )

    def fetch(name: str) -> Path:
        where = join(str(location), name) if is_uri(location) else str(Path(location) / name)
        try:
            path = local_copy(where)
        except (DataError, OSError) as exc:
            raise missing from exc
        if not path.is_file():
            raise missing
        return path

    try:
        index = json.loads(fetch(INDEX).read_text())
    except CheckpointError:
        yield fetch(SINGLE)
        return
    except ValueError as exc:
        raise CheckpointError(f"the index of encoder {location} is damaged ({exc}); rerun the export") from exc
    for name in sorted(set(index["weight_map"].values())):
        yield fetch(name)


def load_encoder_into(module: Any, location: str | Path) -> set[str]:
    """Load an encoder folder's tensors into ``module`` one shard at a time; return the keys loaded.

    A module built in parts (ZeRO-3, ``trainers.partition``) is loaded in place: rank 0 reads each shard, and
    each parameter is gathered, written and partitioned again in turn, so no worker holds the whole encoder.
    Every worker of the trial must call it.
    """
    from safetensors import safe_open
    from safetensors.torch import load_file

    loaded: set[str] = set()
    own = module.state_dict().keys()
    parameters = dict(module.named_parameters())
    in_parts = any(hasattr(p, "ds_id") for p in parameters.values())
    writer = not in_parts or _rank() == 0
    unexpected: list[str] = []
    for shard in encoder_shards(location):
        if writer:
            part = load_file(str(shard))
            names = list(part)
        else:  # its values come from rank 0: the names are enough
            with safe_open(str(shard), framework="pt") as f:
                part, names = {}, list(f.keys())
        # A pooler may be on one side only (XLM-R's multiple-choice head has one, its tagging head none).
        unexpected += [k for k in names if k not in own and not k.startswith("pooler.")]
        load_tensors_into(module, part, names=[k for k in names if k in own])
        loaded.update(names)
        del part
    if unexpected:
        raise CheckpointError(
            f"encoder {location} does not fit the model: unexpected {sorted(unexpected)[:5]}; the intermediate "
            "and target phases must use the same model"
        )
    return loaded


def _rank() -> int:
    import torch.distributed as dist

    return dist.get_rank() if dist.is_initialized() else 0


def load_tensors_into(module: Any, tensors: dict[str, Any], *, names: list[str] | None = None) -> None:
    """Write ``tensors`` (keyed as ``module.state_dict()``) into ``module``. A module built in parts (ZeRO-3)
    takes rank 0's tensors (other ranks pass their names only, with ``names``), each parameter gathered,
    written and partitioned again in turn; buffers, never partitioned, are sent whole from rank 0."""
    import torch

    from trainers.partition import gathered

    parameters = dict(module.named_parameters())
    if not any(hasattr(p, "ds_id") for p in parameters.values()):
        module.load_state_dict(tensors if names is None else {k: tensors[k] for k in names}, strict=False)
        return
    import torch.distributed as dist

    write = _rank() == 0
    buffers = dict(module.named_buffers())
    with torch.no_grad():
        for name in names if names is not None else list(tensors):
            if name in parameters:
                with gathered([parameters[name]], write=True):
                    if write:
                        parameters[name].copy_(tensors[name])
            elif name in buffers:
                value = tensors[name].to(buffers[name].device) if write else torch.empty_like(buffers[name])
                dist.broadcast(value, src=0)
                buffers[name].copy_(value)


def read_encoder(location: str | Path) -> dict[str, Any]:
    """Every tensor of an encoder folder in one dict (for inspection and tests: the whole encoder in memory).

    Example: ``read_encoder("sweeps/NAME/encoders/mnli/encoder")["embeddings.word_embeddings.weight"]``.
    """
    from safetensors.torch import load_file

    tensors: dict[str, Any] = {}
    for shard in encoder_shards(location):
        tensors.update(load_file(str(shard)))
    return tensors
