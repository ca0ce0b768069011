"""Benchmark: one pair's hyperparameter search end to end, xstilts (``sweep launch``) against
``transformers.Trainer.hyperparameter_search(backend="ray")``, same model, data and number of trials.

The workload is the quickstart's baseline pair ``none->toy_order``: its tiny XLM-R-shaped encoder built
from config, English training data, ``--trials`` trials (12) of ``--epochs`` epochs (3) each, learning rate and
warmup ratio searched over the quickstart's ranges, two trials at a time on one CPU each, no early
stopping (FIFO) on either side. xstilts also scores German and English test sets and checkpoints every
epoch; the Trainer scores English dev only. Each side runs in a fresh process, so the wall time includes
imports and starting Ray, as a user sees it. The goal is xstilts <= 0.5x the Trainer's wall time.

Printed for each: the wall time, the seconds its trials spent in their training function (summed over
trials, from the Tune results), and what is left (start-up, scheduling, trial processes).
Run: ``.venv/bin/python bench/pair_search.py``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOY = ROOT / "data" / "toy"
LR, WARMUP = (5.0e-4, 3.0e-3), [0.0, 0.1]  # search_spaces/quickstart_target.yaml


def run_xstilts(args: argparse.Namespace, work: Path) -> dict[str, float]:
    import pyarrow.dataset as ds

    command = [
        sys.executable,
        "-m",
        "sweep.cli",
        "launch",
        str(ROOT / "configs" / "quickstart.yaml"),
        "intermediate_tasks=[]",
        "target_tasks=[toy_order]",
        "languages=[en,de]",
        f"target.num_samples={args.trials}",
        f"target.epochs={args.epochs}",
        "search.scheduler=fifo",
        "--name",
        "bench",
        "--storage",
        str(work),
    ]
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - started
    rows = ds.dataset(work / "bench" / "results").to_table().to_pylist()
    last = {}
    for row in rows:  # wall_s is the trial's time when it reported; its last report has the total
        last[row["trial_id"]] = max(last.get(row["trial_id"], 0.0), row["wall_s"] or 0.0)
    return {"wall": wall, "trials": sum(last.values()), "count": len(last)}


def run_trainer(args: argparse.Namespace, work: Path) -> dict[str, float]:
    out = work / "trainer.json"
    started = time.perf_counter()
    command = [sys.executable, __file__, "--trainer-worker", str(out), "--trials", str(args.trials)]
    subprocess.run([*command, "--epochs", str(args.epochs)], cwd=ROOT, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - started
    return {"wall": wall, **json.loads(out.read_text())}


def trainer_worker(out: Path, *, trials: int, epochs: int) -> None:
    """Run the Trainer's own Ray search (in this fresh process) and write its trials' times to ``out``."""
    import os

    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    sys.path.insert(0, str(ROOT))
    import numpy as np
    import ray
    from ray import tune
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

    from trainers import kinds
    from trainers.data import load_examples
    from trainers.model import build_model, load_tokenizer
    from trainers.spec import ModelSpec
    from trainers.tasks import get_task

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    spec = ModelSpec(
        name="tiny-xlmr",
        tokenizer=str(TOY / "tokenizer.json"),
        hidden_size=64,
        num_layers=2,
        num_heads=2,
        intermediate_size=128,
        max_length=64,
    )
    tokenizer = load_tokenizer(spec)
    task = get_task("toy_order")

    def rows(role: str) -> list[dict]:
        examples = load_examples(task, language="en", role=role, data_dir=TOY)
        features = kinds.featurize(task.kind, examples, tokenizer=tokenizer, max_length=64, train=True)
        return [{"input_ids": i, "labels": y} for i, y in zip(features.input_ids, features.labels, strict=True)]

    def accuracy(prediction) -> dict[str, float]:
        return {"accuracy": float((np.argmax(prediction.predictions, axis=-1) == prediction.label_ids).mean())}

    arguments = TrainingArguments(
        output_dir=str(out.parent / "trainer"),
        per_device_train_batch_size=16,
        per_device_eval_batch_size=128,
        num_train_epochs=epochs,
        weight_decay=0.01,
        max_grad_norm=1.0,
        eval_strategy="epoch",
        save_strategy="epoch",
        logging_strategy="no",
        report_to=[],
        use_cpu=True,
        disable_tqdm=True,
        seed=0,
    )
    trainer = Trainer(
        model_init=lambda: build_model(spec, num_labels=task.num_labels, vocab_size=len(tokenizer), dropout=0.1),
        args=arguments,
        train_dataset=rows("train"),
        eval_dataset=rows("dev"),
        data_collator=DataCollatorWithPadding(tokenizer),
        processing_class=tokenizer,
        compute_metrics=accuracy,
    )
    best = trainer.hyperparameter_search(
        # transformers 5 names the warmup share `warmup_steps` (a float below 1).
        hp_space=lambda _: {"learning_rate": tune.loguniform(*LR), "warmup_steps": tune.choice(WARMUP)},
        backend="ray",
        n_trials=trials,
        direction="maximize",
        compute_objective=lambda metrics: metrics["eval_accuracy"],
        resources_per_trial={"cpu": 1},
        storage_path=str(out.parent / "ray"),
        verbose=0,
    )
    analysis = best.run_summary
    seconds = [t.last_result.get("time_total_s", 0.0) for t in analysis.trials]
    out.write_text(json.dumps({"trials": sum(seconds), "count": len(seconds)}))
    ray.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--trainer-worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.trainer_worker:
        trainer_worker(args.trainer_worker, trials=args.trials, epochs=args.epochs)
        return
    work = Path(tempfile.mkdtemp(prefix="xstilts-bench-pair-"))
    ours = run_xstilts(args, work / "xstilts")
    theirs = run_trainer(args, work)
    print(f"one pair's search: {args.trials} trials x {args.epochs} epochs, 2 at a time (CPU, tiny model)")
    for name, result in (("xstilts", ours), ("Trainer.hyperparameter_search(ray)", theirs)):
        rest = result["wall"] - result["trials"] / 2
        print(
            f"  {name:<36} {result['wall']:6.1f} s wall; trials ran {result['trials']:6.1f} s in all "
            f"({result['count']:.0f} trials); start-up, scheduling and trial processes ~{max(rest, 0):.1f} s"
        )
    print(f"  xstilts / Trainer.hyperparameter_search: {ours['wall'] / theirs['wall']:.2f}x wall time (goal <= 0.5)")


if __name__ == "__main__":
    main()
