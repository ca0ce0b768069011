"""Benchmark: training throughput of the xstilts trainer (DeepSpeed) against a plain PyTorch AdamW loop and
``transformers.Trainer``, on the same model, data, batches and per-epoch work, each timed the same way from
outside, in one run.

The workload, the same for all three: build a scratch XLM-R-shaped encoder (from config, seed 0) and its
features from the toy NLI training set, then for each epoch train over it in micro-batches of 16 (fp32,
AdamW with linear warmup and decay, gradient clipping at 1.0, the same number of torch threads), score the
first 64 English dev examples, and save a checkpoint of the model and the optimizer. xstilts does this in
``trainers.engine.run_trial``; the plain loop by hand (``model(**batch)``, ``backward``, clipping, ``step``,
``torch.save``); the Trainer with ``eval_strategy`` and ``save_strategy`` "epoch".

Timing: the benchmark's own clock around each whole call (setup included), never a side's own metric. Each
side runs with 1 epoch and with ``--epochs`` epochs, ``--repeats`` times, the three sides and the two lengths
alternated, after one unmeasured 1-epoch run of each (imports, DeepSpeed's first engine). Two figures per
side, from the medians: the whole run's examples/s (``epochs x N / wall``), and the steady state,
``(epochs - 1) x N / (wall(epochs) - wall(1))``, the rate of the epochs after the first, with set-up,
start-up and first-epoch costs cancelled out the same way for all three. Min and max are printed too.
Goals: xstilts >= 0.95x the plain loop and >= 1.0x the Trainer, in the steady state.

Run: ``.venv/bin/python bench/trainer_throughput.py [--repeats 3 --epochs 3]`` (about 10 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import math
import os
import random
import shutil
import statistics
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
DEV = 64  # dev examples scored after every epoch, by every side


def _spec(args: argparse.Namespace, *, epochs: int) -> TrialSpec:
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
        epochs=epochs,
        seed=0,
        model=model,
        training=TrainingSpec(zero_stage=0, torch_threads=args.threads, max_eval_examples=DEV, feature_cache=None),
        hparams=HP,
    )


class _Keep:
    def report(self, metrics: dict[str, Any], *, checkpoint_dir: Path) -> None:
        pass  # the checkpoint is written already; Tune would take it over here


def xstilts(spec: TrialSpec) -> None:
    """One trial of the xstilts trainer: train, score dev and checkpoint every epoch."""
    run_trial(spec, reporter=_Keep())


def _features(spec: TrialSpec, role: str) -> tuple[Any, Any]:
    from trainers.data import load_examples
    from trainers.tasks import get_task

    tokenizer = load_tokenizer(spec.model)
    examples = load_examples(get_task("toy_nli"), language="en", role=role, data_dir=TOY)
    if role == "dev":
        examples = examples[:DEV]
    return tokenizer, kinds.featurize("classification", examples, tokenizer=tokenizer, max_length=64, train=True)


def plain(spec: TrialSpec) -> None:
    """A plain PyTorch AdamW loop over the same batches, scoring dev and saving a checkpoint every epoch."""
    import torch

    torch.set_num_threads(spec.training.torch_threads)
    tokenizer, train = _features(spec, "train")
    _, dev = _features(spec, "dev")
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
    out = Path(tempfile.mkdtemp(prefix="xstilts-bench-plain-"))
    try:
        for epoch in range(1, spec.epochs + 1):
            model.train()
            order = list(range(len(train)))
            random.Random(epoch).shuffle(order)
            for first in range(0, len(order), HP.micro_batch_size):
                mine = order[first : first + HP.micro_batch_size]
                (batch,) = kinds.batches("classification", train, order=mine, batch_size=len(mine), pad_id=1)
                loss = model(**batch).loss
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                schedule.step()
                optimizer.zero_grad(set_to_none=True)
            model.eval()
            correct = 0
            with torch.no_grad():
                for batch in kinds.batches(
                    "classification",
                    dev,
                    order=list(range(len(dev))),
                    batch_size=spec.training.eval_batch_size,
                    pad_id=1,
                ):
                    logits = model(**{k: v for k, v in batch.items() if k != "labels"}).logits
                    correct += int((logits.argmax(-1) == batch["labels"]).sum())
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict()}, out / f"epoch{epoch}.pt")
    finally:
        shutil.rmtree(out, ignore_errors=True)


def hf_trainer(spec: TrialSpec) -> None:
    """``transformers.Trainer.train()`` on the same model and data, evaluating and saving every epoch."""
    import numpy as np
    import torch
    from transformers import DataCollatorWithPadding, PrinterCallback, Trainer, TrainingArguments

    torch.set_num_threads(spec.training.torch_threads)
    tokenizer, train = _features(spec, "train")
    _, dev = _features(spec, "dev")

    def rows(features: Any) -> list[dict[str, Any]]:
        return [{"input_ids": i, "labels": y} for i, y in zip(features.input_ids, features.labels, strict=True)]

    def accuracy(prediction: Any) -> dict[str, float]:
        return {"accuracy": float(np.mean(prediction.predictions.argmax(-1) == prediction.label_ids))}

    model = build_model(spec.model, num_labels=3, vocab_size=len(tokenizer), dropout=HP.dropout)
    out = tempfile.mkdtemp(prefix="xstilts-bench-hf-")
    try:
        arguments = TrainingArguments(
            output_dir=out,
            per_device_train_batch_size=HP.micro_batch_size,
            per_device_eval_batch_size=spec.training.eval_batch_size,
            num_train_epochs=spec.epochs,
            learning_rate=HP.learning_rate,
            warmup_steps=HP.warmup_ratio,  # a float below 1: a share of the steps
            weight_decay=HP.weight_decay,
            adam_epsilon=HP.adam_epsilon,
            max_grad_norm=1.0,
            lr_scheduler_type="linear",
            eval_strategy="epoch",
            save_strategy="epoch",
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
            train_dataset=rows(train),
            eval_dataset=rows(dev),
            data_collator=DataCollatorWithPadding(tokenizer),
            processing_class=tokenizer,
            compute_metrics=accuracy,
        )
        trainer.remove_callback(PrinterCallback)  # its per-evaluation lines; the work is the same without them
        trainer.train()
    finally:
        shutil.rmtree(out, ignore_errors=True)


SIDES = {"xstilts": xstilts, "plain": plain, "trainer": hf_trainer}


def _spread(values: list[float]) -> str:
    return f"median {statistics.median(values):6.1f} s (min {min(values):.1f}, max {max(values):.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.epochs < 2:
        parser.error("--epochs must be at least 2: the steady state is the epochs after the first")
    lengths = (1, args.epochs)
    walls: dict[tuple[str, int], list[float]] = {(s, e): [] for s in SIDES for e in lengths}
    for side, run in SIDES.items():  # unmeasured: imports, DeepSpeed's first engine, allocator warm-up
        run(_spec(args, epochs=1))
        print(f"  warm-up: {side} 1 epoch", flush=True)
    runs = [(side, epochs) for epochs in lengths for side in SIDES]
    for repeat in range(args.repeats):
        # Each repeat starts one run later, so no side always runs first (or last) on a warming machine.
        shift = repeat % len(runs)
        for side, epochs in runs[shift:] + runs[:shift]:
            started = time.perf_counter()
            SIDES[side](_spec(args, epochs=epochs))
            wall = time.perf_counter() - started
            walls[(side, epochs)].append(wall)
            print(f"  repeat {repeat + 1}: {side:8s} {epochs} epoch(s) {wall:6.1f} s", flush=True)
    examples = len(_features(_spec(args, epochs=1), "train")[1].labels)
    print(
        f"model: XLM-R-shaped, hidden {args.hidden}, {args.layers} layers, fp32, {args.threads} threads, "
        f"micro-batch {HP.micro_batch_size}; {examples} toy NLI examples per epoch, {DEV} dev examples scored "
        f"and a checkpoint saved after each; {args.repeats} runs per side and length (CPU)"
    )
    whole, steady = {}, {}
    for side in SIDES:
        short, long = walls[(side, 1)], walls[(side, args.epochs)]
        print(f"  {side:8s} 1 epoch: {_spread(short)}; {args.epochs} epochs: {_spread(long)}")
        whole[side] = args.epochs * examples / statistics.median(long)
        steady[side] = (args.epochs - 1) * examples / (statistics.median(long) - statistics.median(short))
        print(f"           whole run {whole[side]:6.1f} examples/s; steady state {steady[side]:6.1f} examples/s")
    for name, rates in (("steady state", steady), ("whole run", whole)):
        print(
            f"  {name}: xstilts / plain loop {rates['xstilts'] / rates['plain']:.2f}x (goal >= 0.95), "
            f"xstilts / transformers.Trainer {rates['xstilts'] / rates['trainer']:.2f}x (goal >= 1.0)"
        )


if __name__ == "__main__":
    main()
