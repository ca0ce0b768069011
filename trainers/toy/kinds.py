"""Toy tasks of the trainable kinds beyond classification: extractive QA, tagging, multiple choice.

Each is written in the hub schema of a real task whose reader it goes through (SQuAD, PAN-X,
HellaSwag) and uses only the words of the classification toy tasks, so one tokenizer covers every
toy task and the quickstart's tokenizer (and random model) stay as they were. As there, digits and
first names are the only tokens shared across languages.

* ``toy_qa`` (qa, SQuAD schema): a context of three facts about different people and things, one
  with a number ("omar owns books anna has 7 goats lena has cups"), and the cloze question "anna
  has"; the answer is the quantity span ("7 goats", Swahili "mbuzi 7"). (With a number in every
  fact, the model would have to bind the question's name to its fact; the tiny model stays at
  chance on that for dozens of epochs, so nothing would show whether QA trains at all.)
* ``toy_ner`` (tagging, PAN-X schema): one or two facts tagged in IOB2: the name ``B-PER``, the
  number and its thing one quantity span (``7 goats`` -> ``B-QTY I-QTY``; Swahili ``mbuzi 7``).
* ``toy_choice`` (multiple choice, HellaSwag schema): a fact, and four rewordings of it that differ
  only in the number; the one that keeps the number is the answer.

Each has a small English train split and parallel validation/test splits in every language (one
abstract example rendered per language); ``toy_qa`` also serves as an intermediate task.
"""

from __future__ import annotations

import random
from typing import Any

from trainers.tasks import get_task
from trainers.toy.words import HAVE_QUESTIONS, HAVE_TEMPLATES, NAMES, NUMBERS, THINGS

TASKS: tuple[str, ...] = ("toy_qa", "toy_ner", "toy_choice")

#: Which hub schema (a reader in trainers.readers) each task's files are written in: SQuAD, PAN-X and
#: HellaSwag, as the registry says.
READERS: dict[str, str] = {name: get_task(name).source.reader for name in TASKS}

#: Label names the reader maps gold values to: PAN-X-style IOB2 tags, HellaSwag's ending indices.
LABELS: dict[str, tuple[str, ...]] = {name: get_task(name).labels for name in TASKS}

#: The fields holding text, for the tokenizer (lists are lists of words or of endings).
TEXT_FIELDS: dict[str, tuple[str, ...]] = {
    "toy_qa": ("question", "context"),
    "toy_ner": ("tokens",),
    "toy_choice": ("ctx", "endings"),
}

FACTS = 3  # facts in a QA context: one is asked (the only one with a number), two are distractors
ENDINGS = len(LABELS["toy_choice"])

#: The number of values of each task's balanced draw (see `example`): which fact a QA question
#: asks, how many facts (1 or 2) a tagged sentence has, which ending of a choice is right.
BALANCED: dict[str, int] = {"toy_qa": FACTS, "toy_ner": 2, "toy_choice": ENDINGS}

Word = tuple[str, str]  # a word and its IOB2 tag


def fact(lang: str, template: int, *, name: int, n: int | None, thing: int) -> list[Word]:
    """The words of "NAME has N THINGS" in one wording of ``lang``, each with its IOB2 tag.

    ``n=None`` leaves the number out ("omar owns books"). Example: ``fact("sw", 0, name=0, n=7,
    thing=0)`` -> ``[("anna", "B-PER"), ("ana", "O"), ("mbuzi", "B-QTY"), ("7", "I-QTY")]``.
    """
    words: list[Word] = []
    for slot in HAVE_TEMPLATES[lang][template].split():
        if slot == "{n}" and n is None:
            continue
        if slot == "{p}":
            words.append((NAMES[name], "B-PER"))
        elif slot in ("{n}", "{t}"):
            # Number and thing are adjacent in every wording, in either order: one quantity span.
            inside = bool(words) and words[-1][1] == "B-QTY"
            words.append((str(n) if slot == "{n}" else THINGS[lang][thing], "I-QTY" if inside else "B-QTY"))
        else:
            words.append((slot, "O"))
    return words


def _text(words: list[Word]) -> str:
    return " ".join(w for w, _ in words)


def _abstract(rng: random.Random, task: str, draw: int) -> dict[str, Any]:
    """Language-free content of one example; ``draw`` is its balanced value (see BALANCED)."""
    n_templates = len(HAVE_TEMPLATES["en"])
    if task == "toy_qa":
        count = FACTS  # different names and things; only the asked one gets a number (below)
    elif task == "toy_ner":
        count = draw + 1
    else:  # toy_choice: one fact, reworded in another template for every ending
        t1 = rng.randrange(n_templates)
        t2 = rng.choice([t for t in range(n_templates) if t != t1])
        name, thing, n = rng.randrange(len(NAMES)), rng.randrange(len(THINGS["en"])), rng.choice(NUMBERS)
        numbers = rng.sample([k for k in NUMBERS if k != n], ENDINGS - 1)
        numbers.insert(draw, n)
        return {"t1": t1, "t2": t2, "name": name, "thing": thing, "n": n, "numbers": numbers, "label": draw}
    names = rng.sample(range(len(NAMES)), count)
    things = rng.sample(range(len(THINGS["en"])), count)
    numbers: list[int | None] = list(rng.sample(NUMBERS, count))
    templates = [rng.randrange(n_templates) for _ in range(count)]
    if task == "toy_qa":
        numbers = [n if k == draw else None for k, n in enumerate(numbers)]
    return {"facts": list(zip(templates, names, things, numbers, strict=True)), "asked": draw}


def _render(task: str, lang: str, ex: dict[str, Any], *, ident: str, index: int) -> dict[str, Any]:
    if task == "toy_choice":
        ctx = fact(lang, ex["t1"], name=ex["name"], n=ex["n"], thing=ex["thing"])
        endings = [_text(fact(lang, ex["t2"], name=ex["name"], n=k, thing=ex["thing"])) for k in ex["numbers"]]
        return {"ind": index, "ctx": _text(ctx), "endings": endings, "label": str(ex["label"])}
    facts = [fact(lang, t, name=p, n=n, thing=th) for t, p, th, n in ex["facts"]]
    if task == "toy_ner":
        words = [w for f in facts for w in f]
        return {"tokens": [w for w, _ in words], "ner_tags": [tag for _, tag in words], "langs": [lang] * len(words)}
    context, start, answer = "", -1, []
    for k, words in enumerate(facts):
        for word, tag in words:
            context += " " if context else ""
            if k == ex["asked"] and tag.endswith("QTY"):  # the number and its thing, in either order
                start = start if answer else len(context)
                answer.append(word)
            context += word
    return {
        "id": ident,
        "title": "toy_qa",
        "context": context,
        "question": HAVE_QUESTIONS[lang].format(p=NAMES[ex["facts"][ex["asked"]][1]]),
        "answers": {"text": [" ".join(answer)], "answer_start": [start]},
    }


def example(
    task: str, rng: random.Random, *, draw: int, split: str, index: int, languages: tuple[str, ...]
) -> dict[str, dict[str, Any]]:
    """One abstract example of ``task`` rendered in every language, keyed by language.

    Example: ``example("toy_qa", rng, draw=0, split="test", index=3, languages=("en", "de"))["de"]["id"]``
    is ``"toy_qa-test-00003"``, the same id as the English record (the rows are translations).
    """
    ex = _abstract(rng, task, draw)
    ident = f"{task}-{split}-{index:05d}"
    return {lang: _render(task, lang, ex, ident=ident, index=index) for lang in languages}
