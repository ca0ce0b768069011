"""Prediction files in the layout XTREME / XTREME-R's ``evaluate.py`` reads, one file per task and language.

``evaluate.py`` reads ``<task>/test-<lang>.<suffix>``, by task:

- classification (XNLI, PAWS-X): one label per line (``.tsv``; ``read_label``);
- multiple choice (XCOPA): one JSON object ``{"label": <index>}`` per line (``.jsonl``; ``read_xcopa``);
- QA (XQuAD, MLQA, TyDiQA-GoldP): a JSON object of question id to answer text (``.json``; ``read_squad``);
- tagging (UD-POS, PAN-X): one tag per line, a blank line between sentences (``.tsv``; ``read_tag``);
- Tatoeba: one retrieved English sentence index per line (``.tsv``); BUCC 2018: one mined pair
  ``<lg> id<TAB>en id`` per line, any number of lines (``.tsv``);
- Mewsli-X: a JSON object of each mention's ``example_id`` to its ranked entity ids (``.json``; a mention
  left out scores 0, as in ``utils_mewslix.evaluate``). LAReQA has no official submission file; xstilts
  reads the Mewsli-X layout: question id (XQuAD's ``id``) to ranked candidate sentence ids,
  ``<lang>_<paragraph>_<sentence>`` as ``utils_lareqa`` names them.

``write`` writes them (a trial keeps its test predictions with each checkpoint; a retrieval evaluation
keeps its own in the sweep directory);
``read`` reads any of them back, checked against the gold examples, into a form
``trainers.scoring.score`` takes. Multiple-choice files written before the ``.jsonl`` layout, one
choice index per line in a ``.tsv``, are read too.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from trainers.errors import PredictionsError
from trainers.fileio import write_atomic

SUFFIX = {"classification": "tsv", "multiple_choice": "jsonl", "qa": "json", "tagging": "tsv"}
_RETRIEVAL_SUFFIX = {"tatoeba": "tsv", "bucc": "tsv", "lareqa": "json", "mewslix": "json"}


def file_name(task: Any, language: str, *, split: str = "test") -> str:
    """``test-de.tsv``, ``test-et.jsonl`` and the like, as ``evaluate.py`` names submission files."""
    suffix = SUFFIX.get(task.kind) or _RETRIEVAL_SUFFIX[task.scorer]
    return f"{split}-{language}.{suffix}"


def render(task: Any, examples: Sequence[Any], predictions: Any) -> str:
    """The text of one prediction file for ``examples`` in file order (retrieval files need no examples)."""
    if task.kind == "classification":
        return "".join(f"{task.labels[p]}\n" for p in predictions)
    if task.kind == "multiple_choice":
        return "".join(json.dumps({"label": int(p)}) + "\n" for p in predictions)
    if task.kind == "qa":
        return json.dumps({e.id: predictions.get(e.id, "") for e in examples}, ensure_ascii=False, indent=0) + "\n"
    if task.kind == "tagging":
        return "\n".join("".join(f"{task.labels[t]}\n" for t in sentence) for sentence in predictions)
    if task.scorer == "tatoeba":
        return "".join(f"{int(i)}\n" for i in predictions)
    if task.scorer == "bucc":
        return "".join(f"{src}\t{trg}\n" for src, trg in sorted(predictions))
    if task.scorer in ("lareqa", "mewslix"):
        return json.dumps({key: list(ranked) for key, ranked in predictions.items()}, ensure_ascii=False) + "\n"
    raise ValueError(f"task {task.name} ({task.kind}) has no prediction file layout")


def write(folder: Path, task: Any, language: str, examples: Sequence[Any], predictions: Any) -> Path:
    """Write one language's prediction file under ``folder`` and return its path."""
    path = Path(folder) / file_name(task, language)
    write_atomic(path, render(task, examples, predictions), durable=False)
    return path


def read(
    task: Any,
    path: Path,
    gold: Sequence[Any],
    *,
    language: str = "xx",
    corpora: tuple[Sequence[str], Sequence[str]] | None = None,
) -> Any:
    """Read one language's prediction file of ``task``, checked against the ``gold`` examples it predicts.

    For BUCC, ``corpora`` (the split's non-English and English sentence ids) lets every mined pair be
    checked to name two sentences of the split. Raises a PredictionsError that names the file, the line
    and what was expected. Example: ``read(get_task("xcopa"), Path("sub/xcopa/test-et.jsonl"), gold)``.
    """
    path = Path(path)
    if not path.is_file():
        raise PredictionsError(f"predictions file {path} does not exist")
    if task.kind == "classification":
        lines = _lines(path, count=len(gold), what="one label per line")
        return [_label(task, value, path, i) for i, value in enumerate(lines, start=1)]
    if task.kind == "multiple_choice":
        return _choices(task, path, gold)
    if task.kind == "qa":
        answers = _json_object(path, what="question id -> answer")
        if missing := [e.id for e in gold if e.id not in answers]:
            raise PredictionsError(
                f"{path} has no answer for {len(missing)} of {len(gold)} questions (e.g. {missing[0]})"
            )
        return answers
    if task.kind == "tagging":
        return _sentences(task, path, gold)
    if task.scorer == "tatoeba":
        lines = _lines(path, count=len(gold), what="one retrieved sentence index per line")
        return [_index(value, path, i) for i, value in enumerate(lines, start=1)]
    if task.scorer == "bucc":
        return _pairs(path, language=language, corpora=corpora)
    if task.scorer in ("lareqa", "mewslix"):
        return _rankings(path, gold)
    raise PredictionsError(f"task {task.name} ({task.kind}) has no prediction file layout")


def _lines(path: Path, *, count: int, what: str) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if len(lines) != count:
        raise PredictionsError(
            f"{path} has {len(lines)} lines but the gold data has {count} examples; expected "
            f"{what}, in the gold file's order"
        )
    return [line.strip() for line in lines]


def _label(task: Any, value: str, path: Path, line: int) -> int:
    if value in task.labels:
        return task.labels.index(value)
    if value.isdigit() and int(value) < task.num_labels:
        return int(value)
    raise PredictionsError(f"{path} line {line}: {value!r} is not a label of {task.name} {task.labels}")


def _index(value: str, path: Path, line: int) -> int:
    try:
        return int(value)
    except ValueError:
        raise PredictionsError(f"{path} line {line}: {value!r} is not a sentence index") from None


def _choices(task: Any, path: Path, gold: Sequence[Any]) -> list[int]:
    """XTREME-R's ``{"label": i}`` per line (``.jsonl``), or one index per line in a ``.tsv``."""
    if path.suffix != ".jsonl":
        lines = _lines(path, count=len(gold), what="one choice index per line")
        return [_label(task, value, path, i) for i, value in enumerate(lines, start=1)]
    lines = _lines(path, count=len(gold), what='one JSON object {"label": <choice index>} per line')
    choices = []
    for number, line in enumerate(lines, start=1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise PredictionsError(f'{path} line {number} is not JSON ({exc.msg}); expected {{"label": 0}}') from exc
        label = record.get("label") if isinstance(record, dict) else None
        if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < task.num_labels:
            raise PredictionsError(
                f'{path} line {number}: {line!r} is not {{"label": <index>}} with an index below {task.num_labels}'
            )
        choices.append(label)
    return choices


def _sentences(task: Any, path: Path, gold: Sequence[Any]) -> list[list[str]]:
    blocks = path.read_text(encoding="utf-8").strip("\n").split("\n\n")
    sentences = [[line.strip() for line in block.splitlines()] for block in blocks] if blocks != [""] else []
    if len(sentences) != len(gold):
        raise PredictionsError(
            f"{path} has {len(sentences)} sentences but the gold data has {len(gold)}; expected "
            "one tag per line and a blank line between sentences"
        )
    for number, (predicted, example) in enumerate(zip(sentences, gold, strict=True), start=1):
        if len(predicted) != len(example.tokens):
            raise PredictionsError(
                f"{path} sentence {number} has {len(predicted)} tags for {len(example.tokens)} words"
            )
    # Tags stay strings, as evaluate.py's read_tag gives them to seqeval: one outside the task's tag
    # set is simply wrong (or, for NER, a span of a type the gold never has).
    return sentences


def _pairs(path: Path, *, language: str, corpora: tuple[Sequence[str], Sequence[str]] | None) -> set[tuple[str, str]]:
    src, trg = (set(ids) for ids in corpora) if corpora else (None, None)
    pairs = set()
    for number, line in enumerate(path.read_text(encoding="utf-8").split("\n"), start=1):
        if not line.strip():
            continue
        fields = tuple(line.strip().split("\t"))
        # A pair of another split or language would only count as wrong, silently: refuse it.
        if len(fields) != 2 or (src is not None and (fields[0] not in src or fields[1] not in trg)):
            example = f" (e.g. {corpora[0][0]}<TAB>{corpora[1][0]})" if corpora else ""
            raise PredictionsError(
                f"{path} line {number}: {line.strip()!r} is not `<{language} id><TAB><en id>`"
                + (" of two sentences in its corpora" if corpora else "")
                + example
            )
        pairs.add(fields)
    return pairs


def _json_object(path: Path, *, what: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise PredictionsError(f"{path} is not JSON ({exc.msg}); expected an object of {what}") from exc
    if not isinstance(data, dict):
        raise PredictionsError(f"{path} holds a {type(data).__name__}; expected an object of {what}")
    return data


def _rankings(path: Path, gold: Sequence[Any]) -> dict[str, list[str]]:
    ranked = _json_object(path, what="query id -> ranked ids")
    known = {e.id for e in gold}
    if unknown := [k for k in ranked if k not in known]:
        raise PredictionsError(
            f"{path} ranks {len(unknown)} queries that are not in this language's gold data (e.g. {unknown[0]}); "
            "is it another language's file?"
        )
    if not ranked:
        raise PredictionsError(f"{path} ranks none of the {len(gold)} queries")
    for key, value in ranked.items():
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise PredictionsError(f"{path}: the value of {key} is not a list of ids, best first")
    return ranked
