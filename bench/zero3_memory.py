"""Benchmark: each train worker's peak host memory for one trial of a 200M-parameter Llama-shaped model, at
1, 2 and 4 workers, ZeRO-2 and ZeRO-3, with the model built whole on every worker, DeepSpeed's default
buffers, glibc's moving mmap threshold and DeepSpeed's second fp32 copy of fp32 weights ("before",
``XSTILTS_WHOLE_MODEL_BUILD=1 XSTILTS_MMAP_THRESHOLD=0 XSTILTS_FP32_MASTER_COPY=1``) and built in parts under
ZeRO-3 with its buffers sized by the model's width, a fixed mmap threshold and the weights as their own master
copy ("after", ``trainers.partition``, ``trainers.engine.stage3_buffers``, ``trainers.hostmem``), in one run.

The workload, the same for every case: a pretrained Llama-shaped decoder saved to a local folder (seed 0,
``--hidden`` x ``--layers``, the tiny tokenizer's 400-token vocabulary), one epoch of ``2 x workers`` toy NLI
examples (one per worker per step, fp32, AdamW) and an evaluation of 4 dev examples, with its checkpoint, by
``trainers.engine.run_trial`` on ``workers`` gloo processes of this machine (what Ray Train runs in a
sweep). The same trial of the tiny Llama (``trainers.tiny.SIZES``) at the same workers and stage gives what a
worker holds besides the model (Python, torch, DeepSpeed, tokenizer, data): its baseline.

The checkpoint is saved in eight shard files with an index (``--shards``), as released checkpoints of big
models are (LLaMA-30B's bf16 weights come in seven); transformers loads them one at a time.

Measured: each worker's peak resident memory (``VmHWM`` of ``/proc/self/status``, the kernel's count, the
same for every case), the maximum over the workers, ``--repeats`` times (median, min, max), twice: as the
worker ends (the whole trial), and when it calls ``deepspeed.initialize`` (the model built and loaded: what
the partitioned build changes, and on a GPU cluster what host memory must hold, DeepSpeed's weights,
gradients and optimizer state living on the GPU after it). Compared with the ZeRO share of one worker in
fp32 with Adam (weights, gradients and two moments: 16 bytes x parameters / workers at ZeRO-3; at ZeRO-2
the weights are whole, 4 + 12 / workers bytes a parameter), and for the build with the weights' share (4
bytes x parameters / workers at ZeRO-3, whole below): the excess is peak - baseline - share, in fp32
copies of the model (4 bytes x parameters). Goal: at ZeRO-3, after, the excess stays below half of one copy.

Run: ``.venv/bin/python bench/zero3_memory.py [--workers 1 2 4 --repeats 1]`` (about 12 minutes at
``--repeats 2`` on 2 cores, 24 GB; 4 workers of the whole build need about 10 GB).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DS_ACCELERATOR", "cpu")

GB = 1e9


class _Quiet:
    """A reporter that keeps nothing: the checkpoint is written (its memory counts), then dropped."""

    def report(self, metrics: dict[str, Any], *, checkpoint_dir: Path) -> None:
        pass


def _worker(rank: int, world: int, port: int, spec_data: dict, out: str, whole: bool) -> None:
    os.environ.update(LOCAL_RANK=str(rank), RANK=str(rank), WORLD_SIZE=str(world), DS_ACCELERATOR="cpu")
    if whole:  # the way before: the whole model, DeepSpeed's buffers, glibc's moving mmap threshold
        os.environ.update(XSTILTS_WHOLE_MODEL_BUILD="1", XSTILTS_MMAP_THRESHOLD="0", XSTILTS_FP32_MASTER_COPY="1")
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    from trainers import ops

    ops.ready()  # DeepSpeed's compiled ops, built once per environment
    import deepspeed

    from trainers.engine import run_trial
    from trainers.spec import TrialSpec

    built: list[int] = []
    initialize = deepspeed.initialize

    def timed_initialize(*args: Any, **kwargs: Any) -> Any:  # the peak of the build and load, from outside
        built.append(_peak_bytes())
        return initialize(*args, **kwargs)

    deepspeed.initialize = timed_initialize
    run_trial(TrialSpec.from_dict(spec_data), reporter=_Quiet())
    dist.barrier()  # no rank tears gloo down while another still talks to it
    dist.destroy_process_group()
    Path(out).with_suffix(f".{rank}").write_text(json.dumps({"build": built[0], "trial": _peak_bytes()}))


def _peak_bytes() -> int:
    status = Path("/proc/self/status").read_text()
    return 1024 * next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _spec(model: Path, *, stage: int, workers: int) -> dict[str, Any]:
    from trainers.spec import HyperParameters, ModelSpec, TrainingSpec, TrialSpec

    return TrialSpec(
        sweep="bench",
        search="zero3-memory",
        phase="intermediate",
        task="toy_nli",
        train_languages=("en",),
        eval_languages=("en",),
        eval_splits=("dev",),
        select_on="english_dev",
        data_dir=str(ROOT / "data" / "toy"),
        epochs=1,
        seed=0,
        model=ModelSpec(name="bench-llama", init="pretrained", path=str(model), max_length=32),
        training=TrainingSpec(zero_stage=stage, max_train_examples=2 * workers, max_eval_examples=4, eval_batch_size=4),
        hparams=HyperParameters(learning_rate=1e-4, warmup_ratio=0.0, dropout=0.0, micro_batch_size=1),
    ).to_dict()


def _peak(model: Path, *, stage: int, workers: int, whole: bool) -> dict[str, int]:
    """The largest over the workers of each peak resident memory (``build``, ``trial``), in bytes, for one
    trial."""
    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "peak"
        args = (workers, _free_port(), _spec(model, stage=stage, workers=workers), str(out), whole)
        mp.start_processes(_worker, args=args, nprocs=workers, join=True, start_method="spawn")
        found = [json.loads(out.with_suffix(f".{rank}").read_text()) for rank in range(workers)]
        return {key: max(peaks[key] for peaks in found) for key in ("build", "trial")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=1024)
    parser.add_argument("--layers", type=int, default=16)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--stages", type=int, nargs="+", default=[2, 3])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--shards", type=int, default=8, help="shard files of the checkpoint")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    from safetensors import safe_open

    from trainers.tiny import save_tiny_model

    with tempfile.TemporaryDirectory() as tmp:
        inner = 11 * args.hidden // 4  # Llama's ratio, rounded as its configs do
        sizes = {"hidden_size": args.hidden, "num_layers": args.layers, "num_heads": args.hidden // 64}
        sizes |= {"intermediate_size": inner, "max_positions": 128}
        # Parameters of the shape: 4 h^2 + 3 h x inner a layer, the embeddings and norms are small.
        shard_mb = max(1, round(4 * args.layers * (4 * args.hidden**2 + 3 * args.hidden * inner) / args.shards / 1e6))
        big = save_tiny_model("llama", Path(tmp) / "big", seed=0, sizes=sizes, max_shard_size=f"{shard_mb}MB")
        tiny = save_tiny_model("llama", Path(tmp) / "tiny", seed=0)
        files = sorted(big.glob("*.safetensors"))
        params = 0
        for file in files:
            with safe_open(str(file), framework="pt") as f:
                params += sum(_numel(f.get_slice(k).get_shape()) for k in f.keys())
        copy = 4 * params
        print(
            f"model: Llama-shaped, {params / 1e6:.0f}M parameters, one fp32 copy {copy / GB:.2f} GB, "
            f"in {len(files)} shard files"
        )
        print(
            f"{'stage':>5} {'workers':>7} {'build':>6} | {'trial peak GB (med, min-max)':>28} {'base':>5} "
            f"{'share':>5} {'excess':>6} {'copies':>6} | {'build peak GB (med, min-max)':>28} {'base':>5} "
            f"{'share':>5} {'excess':>6} {'copies':>6}"
        )
        rows = []
        for stage in args.stages:
            for workers in args.workers:
                shares = {
                    "trial": 16 * params / workers if stage == 3 else (4 + 12 / workers) * params,
                    "build": 4 * params / workers if stage == 3 else 4 * params,
                }
                for whole in (True, False):
                    if stage != 3 and not whole:
                        continue  # below ZeRO-3 both builds are one whole copy a worker: one row
                    bases = [_peak(tiny, stage=stage, workers=workers, whole=whole) for _ in range(args.repeats)]
                    peaks = [_peak(big, stage=stage, workers=workers, whole=whole) for _ in range(args.repeats)]
                    row: dict[str, Any] = {"stage": stage, "workers": workers, "build": "whole" if whole else "parts"}
                    line = f"{stage:>5} {workers:>7} {row['build']:>6}"
                    for phase in ("trial", "build"):
                        found = [p[phase] for p in peaks]
                        median, base = statistics.median(found), statistics.median(b[phase] for b in bases)
                        excess = median - base - shares[phase]
                        row[phase] = {
                            "peaks": found,
                            "baseline": base,
                            "share": shares[phase],
                            "excess": excess,
                            "copies": excess / copy,
                        }
                        line += (
                            f" | {median / GB:>12.2f} ({min(found) / GB:.2f}-{max(found) / GB:.2f}){'':>3} "
                            f"{base / GB:>5.2f} {shares[phase] / GB:>5.2f} {excess / GB:>6.2f} {excess / copy:>6.2f}"
                        )
                    rows.append(row)
                    print(line, flush=True)
        after = [r for r in rows if r["stage"] == 3 and r["build"] == "parts"]
        for phase in ("trial", "build"):
            if after:
                worst = max(r[phase]["copies"] for r in after)
                goal = f"largest excess {worst:.2f} fp32 copies (goal: below 0.50)"
                print(f"ZeRO-3, built in parts, {phase}: {goal}", flush=True)
        if args.json:
            args.json.write_text(json.dumps({"parameters": params, "shard_files": len(files), "rows": rows}, indent=1))


def _numel(shape: list[int]) -> int:
    count = 1
    for size in shape:
        count *= size
    return count


if __name__ == "__main__":
    main()
