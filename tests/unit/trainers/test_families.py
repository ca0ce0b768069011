"""Pretrained models of every family load from a local folder and train each kind of head (classification,
multiple choice, QA, tagging) through the trainer's DeepSpeed engine, the loss going down: dropout goes into
each family's own config fields, and a decoder's tokenizer gets a pad token its head can use."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from trainers import kinds
from trainers.engine import run_trial
from trainers.errors import ModelError
from trainers.examples import Answer, ChoiceExample, SpanExample, TagExample, TextExample
from trainers.families import is_decoder_only
from trainers.model import build_model, encoder_state, load_tokenizer
from trainers.spec import HyperParameters, ModelSpec, TrainingSpec, TrialSpec
from trainers.tiny import FAMILIES, save_tiny_model, train_tokenizer

TOY = Path(__file__).resolve().parents[3] / "data" / "toy"

EXAMPLES = [
    TextExample(id="0", texts=("Three students read forty books.", "More books than students."), label=0),
    TextExample(id="1", texts=("Die Katze saß auf der Matte.", "Zwei Hunde schliefen."), label=1),
    TextExample(id="2", texts=("El gato.", "Dos perros."), label=2),
]
#: The dropout fields of each family's config, as transformers names them.
DROPOUT_FIELDS = {
    "bert": ("hidden_dropout_prob", "attention_probs_dropout_prob"),
    "xlm-roberta": ("hidden_dropout_prob", "attention_probs_dropout_prob"),
    "deberta-v2": ("hidden_dropout_prob", "attention_probs_dropout_prob"),
    "llama": ("attention_dropout",),
}


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("families")
    # The tokenizers learn the toy tasks' words too: from the tiny corpus alone, WordPiece and Unigram have
    # no digits, and toy_choice's endings, which differ only in their number, would all read `<unk>`.
    from trainers.toy.words import HAVE_TEMPLATES, NAMES, NUMBERS, THINGS

    names, things = NAMES, THINGS["en"]
    texts = [
        template.format(p=names[i % len(names)], n=n, t=things[i % len(things)])
        for template in HAVE_TEMPLATES["en"]
        for i, n in enumerate(NUMBERS)
    ]
    return {
        family: save_tiny_model(family, root / family, tokenizer=train_tokenizer(family, texts)) for family in FAMILIES
    }


def _spec(folder: Path, family: str) -> ModelSpec:
    return ModelSpec(name=f"tiny-{family}", init="pretrained", architecture=family, path=str(folder), max_length=96)


#: The toy task (data/toy, shipped with the project) that trains each kind of head.
TOY_TASKS = {"classification": "toy_paws", "multiple_choice": "toy_choice", "qa": "toy_qa", "tagging": "toy_ner"}
STEPS = 16  # optimizer steps, each on the same BATCH examples: a learnable batch that the loss must fall on
BATCH = 8


class Losses:
    """A reporter that keeps each evaluation's training loss (and lets the checkpoints go)."""

    def __init__(self) -> None:
        self.values: list[float] = []

    def report(self, metrics: dict[str, Any], *, checkpoint_dir: Path) -> None:
        self.values.append(metrics["train/en/loss"])


def _train(family: str, folder: Path, kind: str) -> list[float]:
    """Train a ``kind`` head of ``family``'s model on its toy task through ``run_trial`` (the DeepSpeed
    engine, as every trial does): STEPS epochs of one step each on the same BATCH examples, an evaluation on
    four dev examples after each. Return each step's loss."""
    spec = TrialSpec(
        sweep="families",
        search=f"{family}-{kind}",
        phase="target",
        task=TOY_TASKS[kind],
        train_languages=("en",),
        eval_languages=("en",),
        eval_splits=("dev",),
        select_on="english_dev",
        data_dir=str(TOY),
        epochs=STEPS,
        seed=0,
        model=_spec(folder, family),
        training=TrainingSpec(max_train_examples=BATCH, max_eval_examples=4),
        # No warmup or dropout: every step counts, and each sees the same batch the same way.
        hparams=HyperParameters(learning_rate=1e-2, warmup_ratio=0.0, dropout=0.0, micro_batch_size=BATCH),
    )
    losses = Losses()
    run_trial(spec, reporter=losses)
    assert len(losses.values) == STEPS
    return losses.values


#: The first and last of the STEPS losses of each family's heads, seed 0, fp32 on CPU through torch's AVX2
#: kernels (tests/conftest.py; torch 2.13, transformers 5.25, DeepSpeed 0.19.8). Every family's tiny tokenizer
#: is the same in every process (trainers/tiny.py), so the losses are too; their last is 0.02-0.44 of the first.
PINNED = {
    "bert": {
        "classification": (0.696891, 0.076365),
        "multiple_choice": (1.386299, 0.614301),
        "qa": (3.160212, 0.225791),
        "tagging": (1.396804, 0.093873),
    },
    "xlm-roberta": {
        "classification": (0.685748, 0.134848),
        "multiple_choice": (1.386294, 0.216438),
        "qa": (4.046993, 0.597287),
        "tagging": (1.415580, 0.255198),
    },
    "deberta-v2": {
        "classification": (0.693155, 0.143526),
        "multiple_choice": (1.386293, 0.435442),
        "qa": (4.004694, 0.435650),
        "tagging": (1.367592, 0.271474),
    },
    "llama": {
        "classification": (0.707239, 0.011529),
        "multiple_choice": (1.388328, 0.584108),
        "qa": (3.396182, 0.406251),
        "tagging": (1.369313, 0.113486),
    },
}


def _assert_trains(family: str, kind: str, losses: list[float]) -> None:
    assert (losses[0], losses[-1]) == pytest.approx(PINNED[family][kind], abs=1e-5), losses
    assert losses[-1] < 0.6 * losses[0], (family, kind, losses)  # clearly down, with a margin over 0.44


@pytest.mark.parametrize("family", FAMILIES)
def test_a_pretrained_model_of_each_family_trains_a_classification_head(family: str, folders: dict[str, Path]) -> None:
    import torch

    spec = _spec(folders[family], family)
    tokenizer = load_tokenizer(spec)
    assert tokenizer.pad_token_id is not None  # Llama's tokenizer has none: its end-of-sequence token pads
    model = build_model(
        spec, num_labels=3, vocab_size=len(tokenizer), dropout=0.25, pad_token_id=tokenizer.pad_token_id
    )
    assert model.config.model_type == family
    assert is_decoder_only(model.config) == (family == "llama")
    for name in DROPOUT_FIELDS[family]:
        assert getattr(model.config, name) == 0.25, name
    assert model.config.pad_token_id == tokenizer.pad_token_id

    features = kinds.featurize("classification", EXAMPLES, tokenizer=tokenizer, max_length=96, train=True)
    batch = next(
        kinds.batches("classification", features, order=[0, 1, 2], batch_size=3, pad_id=tokenizer.pad_token_id)
    )
    assert (batch["attention_mask"] == 0).any(), "the batch should need padding"
    model.train()
    out = model(**batch)
    assert out.logits.shape == (3, 3) and torch.isfinite(out.loss)

    # The head reads each sequence's own last token (a decoder) or first token (an encoder), whatever the
    # padding: an example scores the same alone as in the padded batch.
    model.eval()
    with torch.no_grad():
        batched = model(**{k: v for k, v in batch.items() if k != "labels"}).logits
        for row in range(3):
            alone = next(
                kinds.batches("classification", features, order=[row], batch_size=1, pad_id=tokenizer.pad_token_id)
            )
            single = model(input_ids=alone["input_ids"], attention_mask=alone["attention_mask"]).logits
            assert torch.allclose(single[0], batched[row], atol=1e-5), (family, row)

    _assert_trains(family, "classification", _train(family, folders[family], "classification"))


CHOICES = [
    ChoiceExample(
        id="0", context="The cat sat on the mat.", choices=("It slept.", "Two dogs read forty books."), label=0
    ),
    ChoiceExample(
        id="1", context="Drei Studenten lasen.", choices=("Bücher.", "Die Katze saß auf der Matte."), label=1
    ),
]


@pytest.mark.parametrize("family", FAMILIES)
def test_a_pretrained_model_of_each_family_trains_a_multiple_choice_head(family: str, folders: dict[str, Path]) -> None:
    """transformers' head where the family has one; the project's own, from each choice's last real
    token, for decoders."""
    import torch

    spec = _spec(folders[family], family)
    tokenizer = load_tokenizer(spec)
    model = build_model(
        spec,
        kind="multiple_choice",
        num_labels=2,
        vocab_size=len(tokenizer),
        dropout=0.0,
        pad_token_id=tokenizer.pad_token_id,
    )
    assert (type(model).__name__ == "DecoderForMultipleChoice") == (family == "llama")
    features = kinds.featurize("multiple_choice", CHOICES, tokenizer=tokenizer, max_length=96, train=True)
    pad = tokenizer.pad_token_id
    batch = next(kinds.batches("multiple_choice", features, order=[0, 1], batch_size=2, pad_id=pad))
    assert (batch["attention_mask"] == 0).any(), "the batch should need padding"
    out = model(**batch)
    assert out.logits.shape == (2, 2) and torch.isfinite(out.loss)
    assert encoder_state(model).keys() == model.base_model.state_dict().keys()  # what stage one exports
    model.eval()
    with torch.no_grad():
        batched = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        for row in range(2):
            alone = next(kinds.batches("multiple_choice", features, order=[row], batch_size=1, pad_id=pad))
            single = model(input_ids=alone["input_ids"], attention_mask=alone["attention_mask"]).logits
            assert torch.allclose(single[0], batched[row], atol=1e-5), (family, row)

    _assert_trains(family, "multiple_choice", _train(family, folders[family], "multiple_choice"))


def test_a_folder_without_a_model_config_is_refused_with_the_fix(tmp_path: Path) -> None:
    spec = ModelSpec(name="missing", init="pretrained", path=str(tmp_path / "nowhere"))
    with pytest.raises(
        ModelError, match=r"model `missing`: no usable config.json .* set model.path to a local model folder"
    ):
        build_model(spec, num_labels=2, vocab_size=10, dropout=0.1)


@pytest.mark.parametrize("side", ["right", "left"])
def test_last_token_pooling_reads_each_sentences_last_real_token_on_either_padding_side(
    side: str, folders: dict[str, Path]
) -> None:
    """Retrieval embeddings of a decoder: a sentence's vector is the same alone as in a padded batch."""
    import numpy as np

    from trainers.retrieval.embed import sentence_embeddings

    spec = _spec(folders["llama"], "llama")
    tokenizer = load_tokenizer(spec)
    tokenizer.padding_side = side
    model = build_model(spec, num_labels=2, vocab_size=len(tokenizer), dropout=0.0, pad_token_id=tokenizer.pad_token_id)
    sentences = ["Die Katze saß auf der Matte, während zwei Hunde schliefen.", "El gato."]
    options = {"layer": 1, "pooling": "last", "max_length": 96}
    batched = sentence_embeddings(model.base_model, tokenizer, sentences, batch_size=2, **options)
    alone = np.concatenate(
        [sentence_embeddings(model.base_model, tokenizer, [s], batch_size=1, **options) for s in sentences]
    )
    np.testing.assert_allclose(batched, alone, atol=1e-5)
    assert not np.allclose(batched[0], batched[1])


SPANS = [
    SpanExample(
        id="q0",
        question="Where did the cat sit?",
        context="The cat sat on the mat while two dogs slept.",
        answers=(Answer("on the mat", 12),),
    ),
    SpanExample(
        id="q1",
        question="Wie viele Bücher?",
        context="Drei Studenten lasen letztes Jahr vierzig Bücher.",
        answers=(Answer("vierzig", 34),),
    ),
]
TAGGED = [
    TagExample(id="t0", tokens=("Die", "Katze", "saß", "auf", "der", "Matte", "."), tags=(1, 0, 2, 3, 1, 0, 4)),
    TagExample(id="t1", tokens=("Trois", "étudiants", "ont", "lu", "quarante", "livres"), tags=(5, 0, 2, 2, 5, 0)),
]


@pytest.mark.parametrize("family", FAMILIES)
def test_a_pretrained_model_of_each_family_trains_a_qa_head_and_offsets_round_trip(
    family: str, folders: dict[str, Path]
) -> None:
    import numpy as np
    import torch

    spec = _spec(folders[family], family)
    tokenizer = load_tokenizer(spec)
    model = build_model(
        spec, kind="qa", num_labels=2, vocab_size=len(tokenizer), dropout=0.0, pad_token_id=tokenizer.pad_token_id
    )
    features = kinds.featurize("qa", SPANS, tokenizer=tokenizer, max_length=96, train=True)
    assert all(start != 0 for start in features.start_positions), "both answers fit in one window"
    batch = next(kinds.batches("qa", features, order=[0, 1], batch_size=2, pad_id=tokenizer.pad_token_id))
    out = model(**batch)
    assert out.start_logits.shape == batch["input_ids"].shape and torch.isfinite(out.loss)

    # Logits that point at the targets decode to the gold text, through this family's offsets.
    width = max(len(ids) for ids in features.input_ids)
    start, end = np.full((len(features), width), -9.0), np.full((len(features), width), -9.0)
    for w in range(len(features)):
        start[w, features.start_positions[w]] = end[w, features.end_positions[w]] = 9.0
    assert kinds.qa.decode(SPANS, features, start, end) == {"q0": "on the mat", "q1": "vierzig"}

    _assert_trains(family, "qa", _train(family, folders[family], "qa"))


@pytest.mark.parametrize("family", FAMILIES)
def test_a_pretrained_model_of_each_family_trains_a_tagging_head_and_tags_round_trip(
    family: str, folders: dict[str, Path]
) -> None:
    import numpy as np
    import torch

    spec = _spec(folders[family], family)
    tokenizer = load_tokenizer(spec)
    model = build_model(
        spec, kind="tagging", num_labels=6, vocab_size=len(tokenizer), dropout=0.0, pad_token_id=tokenizer.pad_token_id
    )
    features = kinds.featurize("tagging", TAGGED, tokenizer=tokenizer, max_length=96, train=True)
    # Each family's own template: Llama's rows open with <s> and have no closing token; XLM-R-style ones
    # close with two separators, as XTREME's sep_token_extra.
    first = tokenizer.convert_ids_to_tokens(features.input_ids[0])
    opening, closing = {
        "bert": (["[CLS]"], ["[SEP]"]),
        "xlm-roberta": (["<s>"], ["</s>", "</s>"]),
        "deberta-v2": (["<s>"], ["</s>", "</s>"]),
        "llama": (["<s>"], []),
    }[family]
    assert first[: len(opening)] == opening and first[len(first) - len(closing) :] == closing, first
    # Every word has pieces of its own, and its first piece carries the tag.
    assert sorted({w for w in features.word_index[0] if w >= 0}) == list(range(len(TAGGED[0].tokens)))
    assert [label for label in features.labels[0] if label >= 0] == list(TAGGED[0].tags)

    batch = next(kinds.batches("tagging", features, order=[0, 1], batch_size=2, pad_id=tokenizer.pad_token_id))
    out = model(**batch)
    assert out.logits.shape[:2] == batch["input_ids"].shape and torch.isfinite(out.loss)
    model.eval()
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.numpy()
    rows = [logits[i, : len(features.input_ids[i])] for i in range(2)]
    predictions = kinds.tagging.decode(TAGGED, features, rows)
    assert [len(p) for p in predictions] == [len(ex.tokens) for ex in TAGGED]
    gold = [np.where(np.array(labels)[:, None] == np.arange(6), 50.0, 0.0) for labels in features.labels]
    assert kinds.tagging.decode(TAGGED, features, gold) == [list(ex.tags) for ex in TAGGED]

    _assert_trains(family, "tagging", _train(family, folders[family], "tagging"))


def test_a_tokenizer_whose_pad_token_the_model_lacks_is_refused_with_the_fix(tmp_path: Path) -> None:
    """A Llama tokenizer saved beside a Qwen2 model: transformers loads it as Qwen2's, which adds a pad token
    past the model's 400 embeddings. The trial says so, as a ModelError (no retry), not torch's assertion."""
    import transformers

    from trainers.errors import ModelError
    from trainers.model import build_model, load_tokenizer
    from trainers.spec import ModelSpec
    from trainers.tiny import train_tokenizer

    config = transformers.Qwen2Config(
        vocab_size=400, hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2
    )
    transformers.AutoModel.from_config(config).save_pretrained(tmp_path / "q")
    train_tokenizer("llama").save_pretrained(tmp_path / "q")
    spec = ModelSpec(name="q", init="pretrained", architecture="qwen2", path=str(tmp_path / "q"))
    tokenizer = load_tokenizer(spec)
    with pytest.raises(ModelError, match="padding token's id 400 is outside its vocabulary of 400"):
        build_model(spec, num_labels=3, vocab_size=len(tokenizer), dropout=0.1, pad_token_id=tokenizer.pad_token_id)
