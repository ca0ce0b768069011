"""Readers: one function per hub schema, turning its records into canonical examples.

Each reader takes the records of one split (dicts with the hub dataset's own field names, as a
local mirror stores them) and the task, and returns canonical examples in file order. ClassLabel
fields may hold the class name (as a mirror written from the hub's features) or its index.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from trainers.errors import DataError
from trainers.examples import Answer, BitextExample, ChoiceExample, SpanExample, TagExample, TextExample

if TYPE_CHECKING:
    from trainers.tasks import Task

Records = Sequence[Mapping[str, Any]]


def _field(record: Mapping[str, Any], name: str, *, where: str) -> Any:
    if name not in record:
        raise DataError(f"{where}: record lacks field `{name}` (it has: {', '.join(sorted(record))})")
    return record[name]


def label_index(task: Task, value: Any, *, where: str) -> int:
    """Map a label given as a class name or index to its index; -1 for an unlabelled record."""
    if value is None or value == -1:
        return -1
    if isinstance(value, bool):
        raise DataError(f"{where}: label {value!r} is neither a class name nor an index of {task.labels}")
    if isinstance(value, int):
        if 0 <= value < len(task.labels):
            return value
    elif isinstance(value, str):
        if value in task.labels:
            return task.labels.index(value)
        if value.strip().isdigit() and task.labels and not task.labels[0].isdigit():
            return label_index(task, int(value), where=where)
    raise DataError(f"{where}: label {value!r} is not one of task `{task.name}`'s labels {task.labels}")


def _ident(record: Mapping[str, Any], index: int) -> str:
    for key in ("id", "idx", "ind", "pairID"):
        if record.get(key) not in (None, ""):
            return str(record[key])
    return str(index)


def pair(text1: str, text2: str, label: str) -> Callable[[Task, Records, str], list[TextExample]]:
    """A reader for sentence pairs stored as ``text1``/``text2``/``label`` fields."""

    def read(task: Task, records: Records, where: str) -> list[TextExample]:
        return [
            TextExample(
                id=_ident(r, i),
                texts=(str(_field(r, text1, where=where)), str(_field(r, text2, where=where))),
                label=label_index(task, _field(r, label, where=where), where=f"{where} record {i + 1}"),
            )
            for i, r in enumerate(records)
        ]

    return read


def single(text: str, label: str) -> Callable[[Task, Records, str], list[TextExample]]:
    """A reader for single sentences stored as ``text``/``label`` fields."""

    def read(task: Task, records: Records, where: str) -> list[TextExample]:
        return [
            TextExample(
                id=_ident(r, i),
                texts=(str(_field(r, text, where=where)),),
                label=label_index(task, _field(r, label, where=where), where=f"{where} record {i + 1}"),
            )
            for i, r in enumerate(records)
        ]

    return read


# The cause/effect question is appended to the premise as an English prompt, so one multiple-choice
# head serves both question types (and English COPA training transfers to every XCOPA language).
_COPA_QUESTION = {"cause": "What was the cause?", "effect": "What happened as a result?"}
_COPA_CHOICES = {"choice1": 0, "choice2": 1}


def copa(task: Task, records: Records, where: str) -> list[ChoiceExample]:
    """XCOPA / COPA records: premise, choice1, choice2, question (cause|effect), label (0 or 1)."""
    out = []
    for i, r in enumerate(records):
        question = _field(r, "question", where=where)
        if question not in _COPA_QUESTION:
            raise DataError(f"{where} record {i + 1}: question {question!r} is neither `cause` nor `effect`")
        context = f"{_field(r, 'premise', where=where)} {_COPA_QUESTION[question]}"
        label = r.get("label")
        # SuperGLUE's COPA names its classes choice1 and choice2 (the hub yields them as strings); XCOPA's are 0, 1.
        label = _COPA_CHOICES.get(label, label) if isinstance(label, str) else label
        out.append(
            ChoiceExample(
                id=_ident(r, i),
                context=context,
                choices=(str(_field(r, "choice1", where=where)), str(_field(r, "choice2", where=where))),
                label=label_index(task, label, where=f"{where} record {i + 1}"),
            )
        )
    return out


def siqa(task: Task, records: Records, where: str) -> list[ChoiceExample]:
    """Social IQa records: context, question, answerA/B/C, label ("1"-"3")."""
    out = []
    for i, r in enumerate(records):
        label = r.get("label")
        out.append(
            ChoiceExample(
                id=_ident(r, i),
                context=f"{_field(r, 'context', where=where)} {_field(r, 'question', where=where)}",
                choices=tuple(_field(r, key, where=where) for key in ("answerA", "answerB", "answerC")),
                label=label_index(
                    task, int(label) - 1 if label not in (None, "") else None, where=f"{where} record {i + 1}"
                ),
            )
        )
    return out


def hellaswag(task: Task, records: Records, where: str) -> list[ChoiceExample]:
    """HellaSwag records: ctx, endings (list of 4), label ("0"-"3"; empty on the test split)."""
    out = []
    for i, r in enumerate(records):
        endings = _field(r, "endings", where=where)
        if isinstance(endings, Mapping):  # the old `nlp` script wrapped them as {"ending": [...]}
            endings = endings.get("ending", [])
        label = r.get("label")
        out.append(
            ChoiceExample(
                id=_ident(r, i),
                context=str(_field(r, "ctx", where=where)),
                choices=tuple(endings),
                label=label_index(task, label if label not in ("", None) else None, where=f"{where} record {i + 1}"),
            )
        )
    return out


def cosmos_qa(task: Task, records: Records, where: str) -> list[ChoiceExample]:
    """Cosmos QA records: context, question, answer0-3, label (0-3)."""
    return [
        ChoiceExample(
            id=_ident(r, i),
            context=f"{_field(r, 'context', where=where)} {_field(r, 'question', where=where)}",
            choices=tuple(str(_field(r, f"answer{k}", where=where)) for k in range(4)),
            label=label_index(task, r.get("label"), where=f"{where} record {i + 1}"),
        )
        for i, r in enumerate(records)
    ]


def commonsense_qa(task: Task, records: Records, where: str) -> list[ChoiceExample]:
    """CommonsenseQA records: question, choices {label: [A-E], text: [...]}, answerKey (A-E; empty on test)."""
    out = []
    for i, r in enumerate(records):
        choices = _field(r, "choices", where=where)
        key = r.get("answerKey") or None
        label = choices["label"].index(key) if key in choices["label"] else (None if key is None else key)
        out.append(
            ChoiceExample(
                id=_ident(r, i),
                context=str(_field(r, "question", where=where)),
                choices=tuple(choices["text"]),
                label=label_index(task, label, where=f"{where} record {i + 1}"),
            )
        )
    return out


def squad(task: Task, records: Records, where: str) -> list[SpanExample]:
    """SQuAD-style records: id, context, question, answers {text: [...], answer_start: [...]}."""
    out = []
    for i, r in enumerate(records):
        answers = _field(r, "answers", where=where)
        texts, starts = answers.get("text", []), answers.get("answer_start", [])
        if len(texts) != len(starts):
            raise DataError(f"{where} record {i + 1}: {len(texts)} answer texts but {len(starts)} answer starts")
        out.append(
            SpanExample(
                id=_ident(r, i),
                question=str(_field(r, "question", where=where)),
                context=str(_field(r, "context", where=where)),
                answers=tuple(Answer(text=t, start=int(s)) for t, s in zip(texts, starts, strict=True)),
            )
        )
    return out


def tags(field: str) -> Callable[[Task, Records, str], list[TagExample]]:
    """A reader for token tagging records: ``tokens`` and one tag per token in ``field``."""

    def read(task: Task, records: Records, where: str) -> list[TagExample]:
        out = []
        for i, r in enumerate(records):
            tokens, labels = _field(r, "tokens", where=where), _field(r, field, where=where)
            if len(tokens) != len(labels):
                raise DataError(
                    f"{where} record {i + 1}: {len(tokens)} tokens but {len(labels)} tags; give each token one tag"
                )
            here = f"{where} record {i + 1}"
            out.append(
                TagExample(
                    id=_ident(r, i), tokens=tuple(tokens), tags=tuple(label_index(task, t, where=here) for t in labels)
                )
            )
        return out

    return read


def ccg(task: Task, records: Records, where: str) -> list[TagExample]:
    """CCG supertagging records as jiant's files hold them: space-tokenized ``text`` and one
    supertag per token in the space-separated ``tags``."""
    out = []
    for i, r in enumerate(records):
        tokens = str(_field(r, "text", where=where)).split(" ")
        labels = str(_field(r, "tags", where=where)).split()
        here = f"{where} record {i + 1}"
        if len(tokens) != len(labels):
            raise DataError(f"{here}: {len(tokens)} tokens but {len(labels)} tags; give each token one tag")
        out.append(
            TagExample(
                id=_ident(r, i), tokens=tuple(tokens), tags=tuple(label_index(task, t, where=here) for t in labels)
            )
        )
    return out


def bitext(task: Task, records: Records, where: str) -> list[BitextExample]:
    """Tatoeba / BUCC records: source_sentence (the evaluated language), target_sentence (English).

    The hub's Tatoeba loader keeps a trailing newline on sentences; it is stripped here.
    """
    return [
        BitextExample(
            id=_ident(r, i),
            source=str(_field(r, "source_sentence", where=where)).strip(),
            target=str(_field(r, "target_sentence", where=where)).strip(),
        )
        for i, r in enumerate(records)
    ]


READERS: dict[str, Callable[[Task, Records, str], list[Any]]] = {
    "toy_pair": pair("sentence1", "sentence2", "label"),
    "toy_single": single("sentence", "label"),
    "xnli": pair("premise", "hypothesis", "label"),
    "xtreme_xnli": pair("sentence1", "sentence2", "gold_label"),
    "nli": pair("premise", "hypothesis", "label"),
    "paws": pair("sentence1", "sentence2", "label"),
    "qqp": pair("question1", "question2", "label"),
    "sst2": single("sentence", "label"),
    "copa": copa,
    "siqa": siqa,
    "hellaswag": hellaswag,
    "cosmos_qa": cosmos_qa,
    "commonsense_qa": commonsense_qa,
    "squad": squad,
    "udpos": tags("pos_tags"),
    "panx": tags("ner_tags"),
    "ccg": ccg,
    "bitext": bitext,
}
