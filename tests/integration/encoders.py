"""Telling which encoder a stage-two trial started from, bit for bit.

A word a target never trains on gets no gradient, so without weight decay its embedding row stays
exactly what the trial started with: the exported intermediate encoder's in an (intermediate, target)
pair, the scratch model's in a baseline. Comparing those rows proves where phase two started.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sweep.config.records import SweepConfig


def unseen_rows(config: SweepConfig, target: str, *, limit: int | None = None) -> Any:
    """A boolean mask over the vocabulary: the tokens ``target``'s English training data never uses
    (its first ``limit`` examples, as ``training.max_train_examples`` keeps)."""
    import torch

    from trainers import kinds
    from trainers.data import load_examples
    from trainers.model import load_tokenizer
    from trainers.tasks import get_task

    task = get_task(target)
    train_task = get_task(task.train_task) if task.train_task else task
    tokenizer = load_tokenizer(config.model)
    train = load_examples(train_task, language="en", role="train", data_dir=Path(config.data_dir), limit=limit)
    features = kinds.featurize(task.kind, train, tokenizer=tokenizer, max_length=config.model.max_length, train=True)
    rows = features.input_ids
    if rows and isinstance(rows[0][0], list):  # multiple choice: [example][choice][tokens]
        rows = [sequence for example in rows for sequence in example]
    unseen = torch.ones(len(tokenizer), dtype=torch.bool)
    unseen[sorted({i for row in rows for i in row})] = False
    return unseen


def scratch_rows(config: SweepConfig, target: str) -> Any:
    """The word embeddings of the model every baseline trial starts from (built from ``model.seed``)."""
    from trainers import kinds
    from trainers.model import build_model, load_tokenizer
    from trainers.tasks import get_task

    task = get_task(target)
    vocab = len(load_tokenizer(config.model))
    model = build_model(config.model, kind=task.kind, num_labels=kinds.num_outputs(task), vocab_size=vocab, dropout=0)
    return model.base_model.embeddings.word_embeddings.weight.detach()


def encoder_rows(path: Path) -> Any:
    """The word embeddings of an exported intermediate encoder."""
    from trainers.encoder_io import read_encoder

    return read_encoder(path)["embeddings.word_embeddings.weight"]


def checkpoint_rows(checkpoint: Path) -> Any:
    """The word embeddings of a trial's ZeRO-0/1 checkpoint (those stages keep whole fp32 weights in the
    model states)."""
    import torch

    from trainers.checkpoint import TAG

    states = torch.load(checkpoint / TAG / "mp_rank_00_model_states.pt", map_location="cpu", weights_only=False)
    (key,) = [k for k in states["module"] if k.endswith("embeddings.word_embeddings.weight")]
    return states["module"][key]
