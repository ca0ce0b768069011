"""Benchmark: preparing a trial's data with the feature cache cold (tokenize) and warm (load).

Prints the seconds of each and their ratio, measured in the same run. Uses SQuAD and UD-POS from
../shared/data/xtreme-sample when present (real text, sub-word tokenizer trained here), else the
project's toy data. Run: ``.venv/bin/python bench/feature_cache.py``.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.unit.trainers.tokenizer_helpers import XLMR_SPECIALS, xlmr_fast  # noqa: E402
from trainers.model import load_tokenizer  # noqa: E402
from trainers.spec import ModelSpec, TrainingSpec, TrialSpec  # noqa: E402
from trainers.tasks import get_task  # noqa: E402
from trainers.trial_data import prepare  # noqa: E402

SAMPLE = ROOT.parent / "shared" / "data" / "xtreme-sample" / "hf"


def main() -> None:
    """Time cold and warm preparation of a few splits and print the ratio."""
    work = Path(tempfile.mkdtemp(prefix="xstilts-bench-"))
    if SAMPLE.is_dir():
        data_dir = SAMPLE
        splits = [("squad", "en", "dev"), ("udpos", "en", "test"), ("udpos", "de", "test")]
        from tokenizers import Tokenizer, models, pre_tokenizers, trainers

        tok = Tokenizer(models.BPE(unk_token="<unk>"))
        tok.pre_tokenizer = pre_tokenizers.Metaspace()
        texts = [
            line
            for folder in ("squad", "udpos.English", "udpos.German")
            for path in (SAMPLE / folder).glob("*.jsonl")
            for line in path.read_text().splitlines()
        ]
        tok.train_from_iterator(
            texts, trainers.BpeTrainer(vocab_size=4000, special_tokens=[*XLMR_SPECIALS, "<mask>"], show_progress=False)
        )
        xlmr_fast(tok)
        tok.save(str(work / "tokenizer.json"))
        tokenizer_path = work / "tokenizer.json"
    else:
        data_dir = ROOT / "data" / "toy"
        splits = [("toy_nli", "en", "train"), ("toy_order", "de", "test")]
        tokenizer_path = data_dir / "tokenizer.json"
    model = ModelSpec(tokenizer=str(tokenizer_path), max_length=256)
    spec = TrialSpec(
        sweep="bench",
        search="bench",
        phase="target",
        task="squad",
        train_languages=("en",),
        eval_languages=("en",),
        eval_splits=("test",),
        select_on="english_dev",
        data_dir=str(data_dir),
        epochs=1,
        seed=0,
        model=model,
        training=TrainingSpec(feature_cache=str(work / "cache")),
    )
    tokenizer = load_tokenizer(model)
    timings = {}
    for state in ("cold", "warm"):
        started = time.perf_counter()
        count = 0
        for task_name, language, role in splits:
            task = get_task(task_name)
            examples, _ = prepare(
                task,
                spec=spec,
                kind=task.kind,
                tokenizer=tokenizer,
                data_dir=data_dir,
                languages=(language,),
                role=role,
                train=False,
                limit=None,
            )
            count += len(examples)
        timings[state] = time.perf_counter() - started
    print(f"data: {data_dir}  examples: {count}  splits: {len(splits)}")
    print(f"cold (tokenize and store): {timings['cold']:.3f} s")
    print(f"warm (load from cache):    {timings['warm']:.3f} s")
    print(f"cold / warm: {timings['cold'] / timings['warm']:.1f}x")


if __name__ == "__main__":
    main()
