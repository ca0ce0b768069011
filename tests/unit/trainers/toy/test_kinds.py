"""The toy QA, tagging and multiple-choice tasks: every split goes through its real reader and its
kind's features, gold spans and tags line up with the tokens, and they add no word to the quickstart."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from trainers import kinds
from trainers.data import load_examples
from trainers.examples import ChoiceExample, SpanExample, TagExample
from trainers.kinds import qa
from trainers.model import load_tokenizer
from trainers.spec import ModelSpec
from trainers.tasks import get_task
from trainers.toy import data as toydata
from trainers.toy import kinds as toykinds
from trainers.toy.words import LANGUAGES, NAMES

TOY_DIR = Path(__file__).resolve().parents[4] / "data" / "toy"
MAX_LENGTH = 64  # the quickstart's and configs/kinds.yaml's

SPLITS = [
    (task, lang, role)
    for task in toykinds.TASKS
    for lang in LANGUAGES
    for role in ("train", "dev", "test")
    if role != "train" or lang == "en"
]


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(ModelSpec(tokenizer=str(TOY_DIR / "tokenizer.json")))


def _examples(task: str, lang: str, role: str) -> list:
    return load_examples(get_task(task), language=lang, role=role, data_dir=TOY_DIR)


def test_generation_is_deterministic_and_seeded(monkeypatch: pytest.MonkeyPatch) -> None:
    def records(task: str, seed: int = 0) -> dict:
        return toydata._task_records(task, seed)

    for task in toykinds.TASKS:
        first = records(task)
        assert first == records(task) and first != records(task, seed=1)
        # Every split has its own stream: a bigger train split leaves the evaluation splits as they were.
        monkeypatch.setitem(toydata.SPLIT_SIZES, task, {**toydata.SPLIT_SIZES[task], "train": 7})
        resized = records(task)
        assert len(resized[("en", "train")]) == 7
        assert {k: v for k, v in resized.items() if k[1] != "train"} == {
            k: v for k, v in first.items() if k[1] != "train"
        }


def test_registry_gives_each_task_its_kind_reader_and_scorer() -> None:
    expected = {
        "toy_qa": ("qa", "squad", "squad_v1", "em_f1_avg"),
        "toy_ner": ("tagging", "panx", "seqeval", "f1"),
        "toy_choice": ("multiple_choice", "hellaswag", "mc_accuracy", "accuracy"),
    }
    for name, (kind, reader, scorer, metric) in expected.items():
        task = get_task(name)
        assert (task.kind, task.source.reader, task.scorer, task.metric) == (kind, reader, scorer, metric)
        assert task.languages == LANGUAGES and set(task.source.splits) == {"train", "dev", "test"}
    assert get_task("toy_ner").labels == ("O", "B-PER", "B-QTY", "I-QTY")


@pytest.mark.parametrize(("task", "lang", "role"), SPLITS)
def test_every_split_loads_through_its_reader_and_featurizes(tokenizer, task: str, lang: str, role: str) -> None:
    examples = _examples(task, lang, role)
    split = get_task(task).source.splits[role]
    assert len(examples) == toydata.SPLIT_SIZES[task][split]
    kind = get_task(task).kind
    # train=True checks every gold QA span against its context (GoldSpanError otherwise).
    features = kinds.featurize(kind, examples, tokenizer=tokenizer, max_length=MAX_LENGTH, train=True)
    assert len(features) == len(examples), "every example fits one window / row at the configured length"
    ids = features.input_ids if kind != "multiple_choice" else [seq for ex in features.input_ids for seq in ex]
    assert all(tokenizer.unk_token_id not in seq for seq in ids), "a word outside the shared tokenizer"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_qa_answers_round_trip_through_token_offsets(tokenizer, lang: str) -> None:
    examples: list[SpanExample] = _examples("toy_qa", lang, "test")
    query, stride = kinds.qa_lengths(MAX_LENGTH)  # as the trainer cuts windows
    features = qa.featurize(
        examples, tokenizer=tokenizer, max_length=MAX_LENGTH, doc_stride=stride, max_query_length=query, train=True
    )
    for i, example in enumerate(examples):
        (answer,) = example.answers
        assert example.context[answer.start :].startswith(answer.text)
        start, end = features.start_positions[i], features.end_positions[i]
        span = example.context[features.offsets[i][start][0] : features.offsets[i][end][1]]  # type: ignore[index]
        assert span == answer.text, example.id
        # The quantity: a number and a thing, the thing first in Swahili; the only digits in the context.
        number = r"\d+ \w+" if lang != "sw" else r"\w+ \d+"
        assert re.fullmatch(number, answer.text), answer.text
        assert re.findall(r"\d+", example.context) == re.findall(r"\d+", answer.text)
        assert example.question.split()[0] in NAMES and example.question.split()[0] in example.context.split()


def test_qa_first_example_reads_as_documented() -> None:
    (first, *_) = _examples("toy_qa", "sw", "test")
    assert (first.question, first.answers[0].text) == ("juan ana", "chupa 3")
    assert first.context == "anna anamiliki mbuzi kwa jumla juan ana chupa 3 lena ana maembe"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_tags_are_iob2_and_land_on_their_words(tokenizer, lang: str) -> None:
    examples: list[TagExample] = _examples("toy_ner", lang, "test")
    labels = get_task("toy_ner").labels
    features = kinds.featurize("tagging", examples, tokenizer=tokenizer, max_length=MAX_LENGTH, train=False)
    for example, row in zip(examples, features.labels, strict=True):
        tags = [labels[t] for t in example.tags]
        assert row == [-100, *example.tags, -100, -100], "word-level tokenizer: one first sub-token per word"
        for k, (word, tag) in enumerate(zip(example.tokens, tags, strict=True)):
            assert (tag == "B-PER") == (word in NAMES), (example.id, word, tag)
            if tag == "I-QTY":
                assert tags[k - 1] == "B-QTY"
                # One of the pair is the number: "7 goats" in most languages, "mbuzi 7" in Swahili.
                assert (word if lang == "sw" else example.tokens[k - 1]).isdigit()
        facts = tags.count("B-PER")
        assert facts in (1, 2) and tags.count("B-QTY") == facts == tags.count("I-QTY")


def test_choices_differ_only_in_the_number_and_one_keeps_it() -> None:
    for lang in LANGUAGES:
        examples: list[ChoiceExample] = _examples("toy_choice", lang, "test")
        for example in examples:
            assert len(example.choices) == toykinds.ENDINGS
            (number,) = re.findall(r"\d+", example.context)
            numbers = [re.findall(r"\d+", c)[0] for c in example.choices]
            assert numbers.count(number) == 1 and numbers.index(number) == example.label
            assert len({re.sub(r"\d+", "N", c) for c in example.choices}) == 1
            assert re.sub(r"\d+", "N", example.choices[0]) != re.sub(r"\d+", "N", example.context)


def _entities(example: TagExample) -> list[int]:
    return sorted(t for t in example.tags if t != 0)  # 0 is "O"


def test_evaluation_splits_are_parallel_across_languages() -> None:
    for task in toykinds.TASKS:
        for role in ("dev", "test"):
            per_lang = {lang: _examples(task, lang, role) for lang in LANGUAGES}
            for lang, examples in per_lang.items():
                english = per_lang["en"]
                assert [e.id for e in examples] == [e.id for e in english], (task, lang)
                if task == "toy_ner":  # the same entities, in each language's word order
                    assert [_entities(e) for e in examples] == [_entities(e) for e in english]
                elif task == "toy_choice":
                    assert [e.label for e in examples] == [e.label for e in english]
                else:
                    assert [re.findall(r"\d+", e.answers[0].text) for e in examples] == [
                        re.findall(r"\d+", e.answers[0].text) for e in english
                    ]


def test_balanced_draws_spread_answers_labels_and_lengths() -> None:
    train = {task: _examples(task, "en", "train") for task in toykinds.TASKS}
    # The asked fact's place in the context: its name's rank among the context's names.
    asked = Counter([w for w in e.context.split() if w in NAMES].index(e.question.split()[0]) for e in train["toy_qa"])
    assert asked == {0: 334, 1: 333, 2: 333}
    assert Counter(e.label for e in train["toy_choice"]) == {0: 128, 1: 128, 2: 128, 3: 128}
    b_per = get_task("toy_ner").labels.index("B-PER")
    assert Counter(e.tags.count(b_per) for e in train["toy_ner"]) == {1: 128, 2: 128}


def test_kind_tasks_add_no_word_so_the_quickstart_tokenizer_stays_as_it_was() -> None:
    def words(tasks: tuple[str, ...]) -> set[str]:
        out = set()
        for task in tasks:
            for records in toydata._task_records(task, 0).values():
                for r in records:
                    for field in toydata.TASK_FIELDS[task]:
                        value = r[field]
                        out.update(" ".join(value if isinstance(value, list) else [value]).lower().split())
        return out

    classification = tuple(t for t in (*toydata.INTERMEDIATE_TASKS, *toydata.TARGET_TASKS) if t not in toykinds.TASKS)
    assert words(toykinds.TASKS) <= words(classification)
