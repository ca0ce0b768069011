"""Benchmark: training throughput (examples/s) of the xstilts trainer (DeepSpeed) against a plain PyTorch
AdamW loop and against ``transformers.Trainer``, on the same model, data and batch, in one run.

All three train the same scratch XLM-R-shaped encoder (built from config, seed 0) on the toy NLI training
set, micro-batches of 16, fp32, AdamW with linear warmup and decay, gradient clipping at 1.0, with the same
number of torch threads. What each figure covers:

* xstilts: ``trainers.engine.run_trial``'s own ``train/en/examples_per_s`` (forward, backward, step and
  batching; its per-epoch evaluation and checkpoint are timed apart and printed);
* plain: the same batches through ``model(**batch)``, ``loss.backward()``, clipping and ``optimizer.step()``;
* transformers.Trainer: ``train()`` wall time with evaluation, saving and logging off (its data loader
  pads with ``DataCollatorWithPadding``).

Each is measured ``--repeats`` times, alternating, and the best run is kept. Goals: xstilts >= 0.95x the
plain loop, >= 1.0x transformers.Trainer. Run: ``.venv/bin/python bench/trainer_throughput.py``.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DS_ACCELERATOR", "cpu")

from trainers import kinds  # noqa: E402
from trainers.engine import run_trial, warmup_then_linear_decay  # noqa: E402
from trainers.model import build_model, load_tokenizer  # noqa: E402
from trainers.spec import HyperParameters, ModelSpec, TrainingSpec, TrialSpec  # noqa: E402

TOY = ROOT / "data" / "toy"
HP = HyperParameters(learning_rate=1e-3, warmup_ratio=0.1, dropout=0.1, micro_batch_size=16)


def _spec(args: argparse.Namespace) -> TrialSpec:
    model = ModelSpec(
        name="bench",
        tokenizer=str(TOY / "tokenizer.json"),
        hidden_size=args.hidden,
        num_layers=args.layers,
        num_heads=args.hidden // 64,
        intermediate_size=4 * args.hidden,
        max_length=64,
    )
    return TrialSpec(
        sweep="bench",
        search="bench",
        phase="intermediate",
        task="toy_nli",
        train_languages=("en",),
        eval_languages=("en",),
        eval_splits=("dev",),
        select_on="english_dev",
        data_dir=str(TOY),
        epochs=args.epochs,
        seed=0,
        model=model,
        training=TrainingSpec(zero_stage=0, torch_threads=args.threads, max_eval_examples=64, feature_cache=None),
        hparams=HP,
    )


class _Keep:
    def __init__(self) -> None:
        self.metrics: list[dict[str, Any]] = []

    def report(self, metrics: dict[str, Any], *, checkpoint_dir: Path) -> None:
        self.metrics.append(metrics)


def xstilts(spec: TrialSpec) -> tuple[float, float]:
    """(examples/s of the training loop, seconds of the whole trial)."""
    keep = _Keep()
    started = time.perf_counter()
    run_trial(spec, reporter=keep)
    wall = time.perf_counter() - started
    rates = [m["train/en/examples_per_s"] for m in keep.metrics[1:]] or [keep.metrics[0]["train/en/examples_per_s"]]
    return sum(rates) / len(rates), wall


def _features(spec: TrialSpec) -> tuple[Any, Any]:
    from trainers.data import load_examples
    from trainers.tasks import get_task

    tokenizer = load_tokenizer(spec.model)
    examples = load_examples(get_task("toy_nli"), language="en", role="train", data_dir=TOY)
    return tokenizer, kinds.featurize("classification", examples, tokenizer=tokenizer, max_length=64, train=True)


def plain(spec: TrialSpec) -> float:
    """Examples/s of a plain PyTorch AdamW loop over the same batches (epochs after the first)."""
    import torch

    torch.set_num_threads(spec.training.torch_threads)
    tokenizer, train = _features(spec)
    model = build_model(spec.model, num_labels=3, vocab_size=len(tokenizer), dropout=HP.dropout)
    decay = [p for p in model.parameters() if p.ndim >= 2]
    keep = [p for p in model.parameters() if p.ndim < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": HP.weight_decay}, {"params": keep, "weight_decay": 0.0}],
        lr=HP.learning_rate,
        eps=HP.adam_epsilon,
    )
    total = math.ceil(len(train) / HP.micro_batch_size) * spec.epochs
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, warmup_then_linear_decay(warmup_steps=round(HP.warmup_ratio * total), total_steps=total)
    )
    model.train()
    rates = []
    for epoch in range(1, spec.epochs + 1):
        order = list(range(len(train)))
        random.Random(epoch).shuffle(order)
        seconds = 0.0
        for first in range(0, len(order), HP.micro_batch_size):
            started = time.perf_counter()
            mine = order[first : first + HP.micro_batch_size]
            (batch,) = kinds.batches("classification", train, order=mine, batch_size=len(mine), pad_id=1)
            loss = model(**batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            seconds += time.perf_counter() - started
        rates.append(len(train) / seconds)
    return sum(rates[1:]) / len(rates[1:]) if len(rates) > 1 else rates[0]


def hf_trainer(spec: TrialSpec) -> float:
    """Examples/s of ``transformers.Trainer.train()`` (wall time) on the same model and data."""
    import torch
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

    torch.set_num_threads(spec.training.torch_threads)
    tokenizer, train = _features(spec)
    rows = [{"input_ids": ids, "labels": label} for ids, label in zip(train.input_ids, train.labels, strict=True)]
    model = build_model(spec.model, num_labels=3, vocab_size=len(tokenizer), dropout=HP.dropout)
    out = tempfile.mkdtemp(prefix="xstilts-bench-hf-")
    try:
        arguments = TrainingArguments(
            output_dir=out,
            per_device_train_batch_size=HP.micro_batch_size,
            num_train_epochs=spec.epochs,
            learning_rate=HP.learning_rate,
            warmup_steps=HP.warmup_ratio,  # a float below 1: a share of the steps
            weight_decay=HP.weight_decay,
            adam_epsilon=HP.adam_epsilon,
            max_grad_norm=1.0,
            lr_scheduler_type="linear",
            eval_strategy="no",
            save_strategy="no",
            logging_strategy="no",
            report_to=[],
            dataloader_num_workers=0,
            use_cpu=True,
            seed=0,
            disable_tqdm=True,
        )
        trainer = Trainer(
            model=model,
            args=arguments,
            train_dataset=rows,
            data_collator=DataCollatorWithPadding(tokenizer),
            processing_class=tokenizer,
        )
        started = time.perf_counter()
        trainer.train()
        return len(rows) * spec.epochs / (time.perf_counter() - started)
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    spec = _spec(args)
    best = {"xstilts": 0.0, "plain": 0.0, "trainer": 0.0}
    walls = []

    def ours() -> float:
        rate, wall = xstilts(spec)
        walls.append(wall)
        return rate

    runs = [("xstilts", ours), ("plain", lambda: plain(spec)), ("trainer", lambda: hf_trainer(spec))]
    for repeat in range(args.repeats):
        # Each repeat starts with the next method, so none always runs first (or last) on a warming machine.
        for name, run in runs[repeat % 3 :] + runs[: repeat % 3]:
            rate = run()
            print(f"  repeat {repeat + 1}: {name} {rate:.1f} examples/s", flush=True)
            best[name] = max(best[name], rate)
    print(
        f"model: XLM-R-shaped, hidden {args.hidden}, {args.layers} layers, fp32, {args.threads} threads, "
        f"micro-batch {HP.micro_batch_size}, {args.epochs} epochs of toy NLI; best of {args.repeats} (CPU)"
    )
    for name, rate in best.items():
        print(f"  {name:<8} {rate:8.1f} examples/s")
    print(f"  xstilts / plain AdamW loop:     {best['xstilts'] / best['plain']:.2f}x (goal >= 0.95)")
    print(f"  xstilts / transformers.Trainer: {best['xstilts'] / best['trainer']:.2f}x (goal >= 1.0)")
    print(f"  (xstilts whole trials, evaluation and checkpoints included: {min(walls):.1f} s)")


if __name__ == "__main__":
    main()
