"""Synthetic stand-ins for any task's data, in the layout and schema its default source reads.

A smoke run (``sweep launch --smoke``) takes real data wherever the data folder has it and one of these
where it has not, so that any study runs end to end offline. The records are random pseudo-words with
labels spread over the task's label set: they exercise every reader, featurizer, head and scorer, and say
nothing about any model (their scores are chance-level by construction).
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from trainers.data import parse_split
from trainers.tasks import Source, Task

_SYLLABLES = "ka lo mi ne su ta ri po va de zu ba fe gi ho ju".split()
_CCG_TAGS = ("N", "NP", "S/NP", "(S\\NP)/NP", "NP/N", ".")


def _words(rng: random.Random, language: str, n: int) -> list[str]:
    # A per-language prefix keeps languages apart, as real ones are, with digits shared by all.
    return [
        f"{language}{rng.choice(_SYLLABLES)}{rng.choice(_SYLLABLES)}"
        if rng.random() > 0.15
        else str(rng.randint(1, 99))
        for _ in range(n)
    ]


def _sentence(rng: random.Random, language: str, n: int = 8) -> str:
    return " ".join(_words(rng, language, rng.randint(max(3, n - 3), n + 3))) + "."


def _record(task: Task, reader: str, rng: random.Random, language: str, i: int) -> dict[str, Any]:
    labels = task.labels
    label = labels[i % len(labels)] if labels else None
    text = lambda n=8: _sentence(rng, language, n)  # noqa: E731
    if reader in ("xnli", "nli"):
        return {"premise": text(), "hypothesis": text(), "label": label}
    if reader == "xtreme_xnli":
        return {"sentence1": text(), "sentence2": text(), "gold_label": label, "language": language}
    if reader in ("paws", "toy_pair"):
        return {"id": i, "sentence1": text(), "sentence2": text(), "label": label}
    if reader == "qqp":
        return {"idx": i, "question1": text(), "question2": text(), "label": label}
    if reader in ("sst2", "toy_single"):
        return {"idx": i, "sentence": text(), "label": label}
    if reader == "copa":
        return {
            "idx": i,
            "premise": text(),
            "choice1": text(5),
            "choice2": text(5),
            "question": ("cause", "effect")[i % 2],
            "label": i % 2,
        }
    if reader == "siqa":
        return {
            "context": text(),
            "question": text(4),
            **{f"answer{c}": text(4) for c in "ABC"},
            "label": str(i % 3 + 1),
        }
    if reader == "hellaswag":
        ctx = text()
        return {
            "ind": i,
            "ctx": ctx,
            "ctx_a": ctx,
            "ctx_b": "",
            "endings": [text(5) for _ in range(4)],
            "label": str(i % 4),
        }
    if reader == "cosmos_qa":
        return {
            "id": f"c{i}",
            "context": text(),
            "question": text(4),
            **{f"answer{k}": text(4) for k in range(4)},
            "label": i % 4,
        }
    if reader == "commonsense_qa":
        keys = list("ABCDE")
        return {
            "id": f"q{i}",
            "question": text(),
            "question_concept": text(1),
            "choices": {"label": keys, "text": [text(2) for _ in keys]},
            "answerKey": keys[i % 5],
        }
    if reader == "squad":
        context = " ".join(text() for _ in range(3))
        words = context.split()
        answer = words[rng.randrange(len(words) - 1)]
        start = context.index(answer)
        return {
            "id": f"{language}-{i}",
            "title": "fixture",
            "context": context,
            "question": text(5) + "?",
            "answers": {"text": [answer], "answer_start": [start]},
        }
    if reader in ("udpos", "panx"):
        tokens = _words(rng, language, rng.randint(4, 12))
        field = "pos_tags" if reader == "udpos" else "ner_tags"
        tags = [labels[rng.randrange(len(labels))] for _ in tokens]
        if reader == "panx":  # IOB2: an entity starts with B-
            tags = [
                t if not t.startswith("I-") or k and tags[k - 1][2:] == t[2:] else "B-" + t[2:]
                for k, t in enumerate(tags)
            ]
            return {"tokens": tokens, field: tags, "langs": [language] * len(tokens)}
        return {"tokens": tokens, field: tags}
    if reader == "ccg":
        tokens = _words(rng, language, rng.randint(4, 10))
        return {"text": " ".join(tokens), "tags": " ".join(rng.choice(_CCG_TAGS) for _ in tokens)}
    if reader == "bitext":
        return {"source_sentence": text(), "target_sentence": text(), "source_lang": language, "target_lang": "en"}
    raise ValueError(f"no fixture for reader {reader!r} (task {task.name})")


def write_split(
    task: Task,
    *,
    language: str,
    role: str,
    data_dir: Path,
    examples: int = 48,
    seed: int = 0,
    source: Source | None = None,
) -> list[Path]:
    """Write synthetic records for ``task``'s ``role`` split in ``language`` where ``source`` (default: the
    task's first) reads them under ``data_dir``, in its schema; return the files written (none where they
    exist already)."""
    if task.source.files:
        return _write_release(task, language=language, data_dir=data_dir, examples=examples, seed=seed)
    source = source or task.source
    names = source.splits[role]
    folder = Path(data_dir) / source.mirror_for(language)
    written = []
    for name in (names,) if isinstance(names, str) else names:
        split = parse_split(name)[0]
        path = folder / f"{split}.jsonl"
        code, field = source.code(language), source.language_field
        if path.exists() and (field is None or _has_language(path, field, code)):
            continue
        rng = random.Random(f"{seed}:{task.name}:{language}:{split}")
        # A split cut into roles (TyDiQA's train[:90%] and train[90%:]) holds enough for each part.
        count = examples * (5 if "%" in name else 1)
        rows = [_record(task, source.reader, rng, language, i) for i in range(count)]
        for i, row in enumerate(rows):  # all languages in one file: each record says its own
            if field == "id":
                row["id"] = f"{code}-{i}"
            elif field is not None:
                row[field] = code
        folder.mkdir(parents=True, exist_ok=True)
        if path.is_symlink():  # real data linked in (a smoke run's): append to a copy, never to the original
            content = path.read_bytes()
            path.unlink()
            path.write_bytes(content)
        with open(path, "a", encoding="utf-8") as f:
            f.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        written.append(path)
    if task.labels_file and not (folder / task.labels_file).exists():
        (folder / task.labels_file).write_text(json.dumps({tag: k for k, tag in enumerate(_CCG_TAGS)}))
        written.append(folder / task.labels_file)
    return written


def _has_language(path: Path, field: str, code: str) -> bool:
    with open(path, encoding="utf-8") as f:
        for line in f:
            value = json.loads(line).get(field, "")
            if str(value).startswith(f"{code}-") if field == "id" else value == code:
                return True
    return False


def _write_release(task: Task, *, language: str, data_dir: Path, examples: int, seed: int) -> list[Path]:
    """BUCC 2018, XQuAD-R (LAReQA) and Mewsli-X files in their release formats."""
    rng = random.Random(f"{seed}:{task.name}:{language}")
    root = Path(data_dir)
    if task.name == "bucc2018":
        folder = root / "bucc2018"
        written = []
        for split, base in (("dev", 0), ("test", 100_000)):
            if (folder / f"{language}-en.{split}.gold").exists():
                continue
            folder.mkdir(parents=True, exist_ok=True)
            src = [f"{language}-{base + k:09d}" for k in range(1, examples + 1)]
            trg = [f"en-{base + k:09d}" for k in range(1, examples + 1)]
            sides = {
                language: [f"{i}\t{_sentence(rng, language)}" for i in src],
                "en": [f"{i}\t{_sentence(rng, 'en')}" for i in trg],
                "gold": [f"{s}\t{t}" for s, t in list(zip(src, trg, strict=True))[: examples // 2]],
            }
            for side, rows in sides.items():
                path = folder / f"{language}-en.{split}.{side}"
                path.write_text("\n".join(rows) + "\n", encoding="utf-8")
                written.append(path)
        return written
    if task.name == "lareqa":
        folder = root / "lareqa" / "xquad-r"
        path = folder / f"{language}.json"
        if path.exists():
            return []
        paragraphs = []
        for p in range(max(2, examples // 8)):
            # The same questions in every language (XQuAD-R is parallel): ids depend on the paragraph only.
            sentences = [_sentence(rng, language) for _ in range(3)]
            context = " ".join(sentences)
            starts = [context.index(s) for s in sentences]
            qas = [
                {
                    "id": f"p{p}q{k}",
                    "question": _sentence(rng, language, 5),
                    "answers": [{"answer_start": st, "text": s}],
                }
                for k, (s, st) in enumerate(zip(sentences, starts, strict=True))
            ]
            paragraphs.append(
                {
                    "context": context,
                    "qas": qas,
                    "sentence_breaks": [[st, st + len(s)] for s, st in zip(sentences, starts, strict=True)],
                    "sentences": sentences,
                }
            )
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"data": [{"title": "fixture", "paragraphs": paragraphs}], "version": "1.1"}))
        return [path]
    if task.name == "mewslix":
        folder = root / "mewslix"
        if (folder / "candidate_set_entities.jsonl").exists():
            return []
        folder.mkdir(parents=True, exist_ok=True)
        entities = [(f"Q{k}", f"{language}entity{k}", _sentence(rng, "en")) for k in range(1, examples + 1)]
        written = []
        for split in ("dev", "test"):
            rows = []
            for n, (qid, title, _) in enumerate(entities):
                text = f"{title} {_sentence(rng, language)}"
                context = {
                    "document_title": f"Article {n}",
                    "document_url": f"https://example.org/{split}/{n}",
                    "document_id": f"{split}-{n}",
                    "language": task.languages[n % len(task.languages)],
                    "text": text,
                    "sentence_spans": [{"start": 0, "end": len(text)}],
                }
                mention = {
                    "example_id": f"{split}-m{n}",
                    "mention_span": {"start": 0, "end": len(title), "text": title},
                }
                rows.append(json.dumps({"context": context, "mentions": [{**mention, "entity_id": qid}]}))
            path = folder / f"wikinews_mentions-{split}.jsonl"
            path.write_text("\n".join(rows) + "\n", encoding="utf-8")
            written.append(path)
        lines = [
            json.dumps(
                {
                    "entity_id": qid,
                    "title": title,
                    "description": description,
                    "description_language": "en",
                    "description_url": f"https://example.org/wiki/{title}",
                    "sentence_spans": [{"start": 0, "end": len(description)}],
                }
            )
            for qid, title, description in entities
        ]
        path = folder / "candidate_set_entities.jsonl"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return [*written, path]
    raise ValueError(f"no fixture for the release files of task {task.name}")
