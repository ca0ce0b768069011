"""Deterministic synthetic multilingual toy tasks for the quickstart, in the local hub-mirror layout.

Layout written by :func:`generate`: ``<out>/<task>.<lang>/<split>.jsonl`` plus ``<out>/tokenizer.json``.

Why transfer can happen at all: a tiny randomly initialised model has no multilingual
pretraining, so the only tokens shared across languages are the digits (numbers are written as
digits in every language) and the first names (written the same everywhere, like named
entities). Every target label is decided by the numbers, so what a model learns in English
about comparing digits carries over to the other languages, whose words it never sees in
training. Swahili puts the number after the noun, so it gets less of that benefit.

* ``toy_nli`` (intermediate, related): premise "NAME has N / more than N / fewer than N THINGS",
  hypothesis "NAME has more than K THINGS" -> entailment / neutral / contradiction, decided by
  comparing N with K. Teaches which number is larger, the skill the targets need.
* ``toy_topic`` (intermediate, unrelated): which of 4 topics a sentence is about; no numbers.
* ``toy_order`` (target): is the quantity in sentence 1 larger than in sentence 2?
* ``toy_paws`` (target): do two differently worded sentences state the same quantity?
* ``toy_qa``, ``toy_ner``, ``toy_choice``: extractive QA, tagging and multiple choice over the same
  facts, in the SQuAD, PAN-X and HellaSwag schemas (see trainers.toy.kinds); ``toy_qa`` is a
  target and can also be an intermediate task.

Target tasks have a small English train split and parallel validation/test splits in every
language (one abstract example rendered in each language, like XNLI / PAWS-X).
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import TYPE_CHECKING

from trainers.tasks import get_task
from trainers.tasks.toy import TOY_INTERMEDIATE
from trainers.toy import kinds as toykinds
from trainers.toy.words import HAVE_TEMPLATES, LANGUAGES, NAMES, NLI_HYPOTHESIS, NUMBERS, THINGS, TOPIC_WORDS

if TYPE_CHECKING:
    from tokenizers import Tokenizer

__all__ = [
    "INTERMEDIATE_TASKS",
    "LANGUAGES",
    "SPLIT_SIZES",
    "TARGET_TASKS",
    "TASK_FIELDS",
    "TASK_LABELS",
    "TASK_READERS",
    "build_tokenizer",
    "generate",
]

INTERMEDIATE_TASKS: tuple[str, ...] = TOY_INTERMEDIATE
TRANSLATED_TRAIN = ("toy_order", "toy_paws")
# Classification targets first (files are written in this order); the tasks of the other kinds
# use no word the classification tasks lack, so the tokenizer is the quickstart's, id for id.
TARGET_TASKS: tuple[str, ...] = ("toy_order", "toy_paws", *toykinds.TASKS)

# Labels and schemas are the registry's (trainers.tasks.toy); the topics are TOPIC_WORDS' keys, in order.
TASK_LABELS: dict[str, tuple[str, ...]] = {name: get_task(name).labels for name in (*INTERMEDIATE_TASKS, *TARGET_TASKS)}
# The fields holding text (what the tokenizer is built from); list fields hold words or endings.
TASK_FIELDS: dict[str, tuple[str, ...]] = {
    "toy_nli": ("sentence1", "sentence2"),
    "toy_topic": ("sentence",),
    "toy_order": ("sentence1", "sentence2"),
    "toy_paws": ("sentence1", "sentence2"),
    **toykinds.TEXT_FIELDS,
}
# The hub schema each task is written in: a reader in trainers.readers.
TASK_READERS: dict[str, str] = {name: get_task(name).source.reader for name in TASK_LABELS}

# Intermediate tasks: English only. Target train is English only and deliberately small, so a
# randomly initialised model learns little from it alone; validation/test exist per language.
SPLIT_SIZES: dict[str, dict[str, int]] = {
    "toy_nli": {"train": 2000, "validation": 200},
    "toy_topic": {"train": 2000, "validation": 200},
    "toy_order": {"train": 256, "validation": 200, "test": 200},
    "toy_paws": {"train": 256, "validation": 200, "test": 200},
    # QA doubles as an intermediate task, so it trains on more. Evaluation splits of 100: a target
    # evaluates ten per epoch, and multiple choice encodes four pairs per example.
    "toy_qa": {"train": 1000, "validation": 100, "test": 100},
    "toy_ner": {"train": 256, "validation": 100, "test": 100},
    "toy_choice": {"train": 512, "validation": 100, "test": 100},
}

SPECIAL_TOKENS: tuple[str, ...] = ("<s>", "<pad>", "</s>", "<unk>")  # XLM-R ids 0..3
MASK_TOKEN = "<mask>"  # last id, as in XLM-R


def _rng(seed: int, task: str, split: str) -> random.Random:
    # A str seed is hashed with SHA-512 by `random`, so this is stable across runs, machines and
    # PYTHONHASHSEED, and every split has its own stream (changing one split leaves the others).
    return random.Random(f"xstilts-toy:{seed}:{task}:{split}")


def _balanced_labels(rng: random.Random, n_labels: int, size: int) -> list[int]:
    labels = [i % n_labels for i in range(size)]
    rng.shuffle(labels)
    return labels


def _have(lang: str, template: int, name: int, n: int | str, thing: int) -> str:
    return HAVE_TEMPLATES[lang][template].format(p=NAMES[name], n=n, t=THINGS[lang][thing])


# Which premise forms each NLI label can come from (see `_nli`); two per label, and each form
# yields two labels, so the premise's wording alone never decides the label.
_NLI_PREMISES: dict[int, tuple[str, str]] = {0: ("exact", "more"), 1: ("more", "fewer"), 2: ("exact", "fewer")}


def _nli_label(form: str, n: int, k: int) -> int:
    """Gold label of premise (form, N) against hypothesis "... more than K ...", for whole numbers."""
    if form == "exact":  # has N: more than K holds iff N > K
        return 0 if n > k else 2
    if form == "more":  # has more than N, i.e. at least N + 1: entailed iff N >= K, else unknown
        return 0 if n >= k else 1
    return 2 if n <= k + 1 else 1  # has fewer than N, i.e. at most N - 1: false iff N - 1 <= K


def _nli(rng: random.Random, label: int) -> dict[str, object]:
    """One English NLI pair about one quantity; label indexes TASK_LABELS["toy_nli"].

    The premise states the quantity exactly ("anna has 7 goats") or bounds it ("... more than 7
    ..." / "... fewer than 7 ..."); the hypothesis is always "anna has more than K goats". Every
    label, neutral included, is decided by comparing the two numbers, so the task teaches number
    comparison. (A neutral marked by a word or by another name/thing lets a tiny model stall at
    a shortcut or learn too slowly, and then nothing useful transfers to the targets.)
    """
    name, thing = rng.randrange(len(NAMES)), rng.randrange(len(THINGS["en"]))
    form = rng.choice(_NLI_PREMISES[label])
    n, k = rng.choice(NUMBERS), rng.choice(NUMBERS)
    while _nli_label(form, n, k) != label:  # rejection sampling keeps n, k uniform given the label
        n, k = rng.choice(NUMBERS), rng.choice(NUMBERS)
    quantity = n if form == "exact" else f"{form} than {n}"
    premise = _have("en", rng.randrange(len(HAVE_TEMPLATES["en"])), name, quantity, thing)
    hypothesis = NLI_HYPOTHESIS.format(p=NAMES[name], k=k, t=THINGS["en"][thing])
    return {"sentence1": premise, "sentence2": hypothesis}


def _topic(rng: random.Random, label: int) -> dict[str, object]:
    """One English topic sentence: three of its four slots from the label's topic, one from another."""
    topics = list(TOPIC_WORDS)
    slots = [rng.choice(options) for options in TOPIC_WORDS[topics[label]]]
    # One distractor slot, so no single word position gives the topic away.
    other = rng.choice([t for i, t in enumerate(topics) if i != label])
    slot = rng.randrange(len(slots))
    slots[slot] = rng.choice(TOPIC_WORDS[other][slot])
    return {"sentence": " ".join(slots)}


def _abstract_pair(rng: random.Random, task: str, label: int) -> dict[str, int]:
    """Language-free content of one target pair, rendered per language by `_render_pair`."""
    n_templates = len(HAVE_TEMPLATES["en"])
    t1 = rng.randrange(n_templates)
    t2 = rng.choice([t for t in range(n_templates) if t != t1])  # always different wording
    p1 = rng.randrange(len(NAMES))
    thing = rng.randrange(len(THINGS["en"]))
    n1, n2 = rng.sample(NUMBERS, 2)  # distinct
    if task == "toy_order":
        p2 = rng.choice([p for p in range(len(NAMES)) if p != p1])
        if (n1 > n2) != (label == 1):
            n1, n2 = n2, n1
    else:  # toy_paws: same name and thing; paraphrase iff the quantity is the same
        p2 = p1
        if label == 1:
            n2 = n1
    return {"t1": t1, "t2": t2, "p1": p1, "p2": p2, "thing": thing, "n1": n1, "n2": n2}


def _render_pair(lang: str, ex: dict[str, int]) -> dict[str, object]:
    return {
        "sentence1": _have(lang, ex["t1"], ex["p1"], ex["n1"], ex["thing"]),
        "sentence2": _have(lang, ex["t2"], ex["p2"], ex["n2"], ex["thing"]),
    }


def _task_records(task: str, seed: int) -> dict[tuple[str, str], list[dict[str, object]]]:
    """All records of one task keyed by (lang, split), in the schema its reader reads, ids included."""
    out: dict[tuple[str, str], list[dict[str, object]]] = {}
    names = TASK_LABELS[task]
    for split, size in SPLIT_SIZES[task].items():
        rng = _rng(seed, task, split)
        labels = _balanced_labels(rng, toykinds.BALANCED.get(task, len(names)), size)
        # toy_order and toy_paws also have training sets in every language (the English one rendered in
        # each, as XNLI's translate-train is MNLI translated): the regimes other than zero-shot train on them.
        multilingual_train = split == "train" and task in TRANSLATED_TRAIN
        langs = LANGUAGES if task in TARGET_TASKS and (split != "train" or multilingual_train) else ("en",)
        for lang in langs:
            out[(lang, split)] = []
        for i, label in enumerate(labels):
            if task in toykinds.TASKS:  # SQuAD / PAN-X / HellaSwag records; `label` is a balanced draw
                records = toykinds.example(task, rng, draw=label, split=split, index=i, languages=langs)
                for lang, record in records.items():
                    out[(lang, split)].append(record)
                continue
            if task == "toy_nli":
                rendered = {"en": _nli(rng, label)}
            elif task == "toy_topic":
                rendered = {"en": _topic(rng, label)}
            else:
                ex = _abstract_pair(rng, task, label)
                rendered = {lang: _render_pair(lang, ex) for lang in langs}
            for lang in langs:
                # Same id in every language: the rows are translations of each other.
                out[(lang, split)].append({"id": f"{task}-{split}-{i:05d}", **rendered[lang], "label": names[label]})
    return out


def build_tokenizer(texts: list[str]) -> Tokenizer:
    """Word-level tokenizer over the words of ``texts`` plus the digits, in XLM-R's special-token layout.

    Example: ``build_tokenizer(["anna has 7 goats"]).encode("anna has", "7 goats").tokens``
    -> ``['<s>', 'anna', 'has', '</s>', '</s>', '7', 'goats', '</s>']``.
    """
    from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordLevel

    words = {w for text in texts for w in text.lower().split()} | {str(d) for d in range(10)}
    words -= set(SPECIAL_TOKENS) | {MASK_TOKEN}
    vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS)}
    for word in sorted(words):  # sorted: ids do not depend on generation or set order
        vocab[word] = len(vocab)
    vocab[MASK_TOKEN] = len(vocab)
    tok = Tokenizer(WordLevel(vocab, unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    # WhitespaceSplit, not Whitespace: a token is exactly a space-separated word of the data.
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    bos, eos = SPECIAL_TOKENS[0], SPECIAL_TOKENS[2]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",  # XLM-R pair layout
        special_tokens=[(bos, vocab[bos]), (eos, vocab[eos])],
    )
    tok.add_special_tokens([*SPECIAL_TOKENS, MASK_TOKEN])
    return tok


def _text(value: object) -> str:
    return " ".join(map(str, value)) if isinstance(value, list) else str(value)


def generate(out_dir: Path, *, seed: int = 0) -> list[Path]:
    """Write every task split and ``tokenizer.json`` under ``out_dir``; return the paths written.

    Example: ``generate(Path("data/toy"))`` -> ``[Path("data/toy/toy_nli.en/train.jsonl"), ...]``.
    """
    out_dir = Path(out_dir)
    written: list[Path] = []
    texts: list[str] = []
    for task in (*INTERMEDIATE_TASKS, *TARGET_TASKS):
        for (lang, split), records in _task_records(task, seed).items():
            path = out_dir / f"{task}.{lang}" / f"{split}.jsonl"
            path.parent.mkdir(parents=True, exist_ok=True)
            lines = [json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in records]
            # newline="\n" and utf-8: byte-identical files on every platform.
            path.write_text("".join(lines), encoding="utf-8", newline="\n")
            written.append(path)
            texts.extend(_text(r[f]) for r in records for f in TASK_FIELDS[task])
    tok_path = out_dir / "tokenizer.json"
    tok_path.write_text(build_tokenizer(texts).to_str(pretty=True) + "\n", encoding="utf-8", newline="\n")
    written.append(tok_path)
    return written
