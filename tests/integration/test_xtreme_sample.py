"""Real XTREME / XTREME-R data (the shared sample) through the local-mirror path: every set loads,
alternative published schemas agree, the original releases say the same, and scorers run on it.

Skipped when ../shared/data/xtreme-sample is absent (a fresh clone has none).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from trainers.data import load_examples
from trainers.examples import BitextExample, ChoiceExample, SpanExample, TagExample, TextExample
from trainers.predictions import render
from trainers.scoring import SCORERS
from trainers.tasks import get_task

pytestmark = pytest.mark.integration


def only(sample: Path, tmp_path: Path, *folders: str) -> Path:
    """A mirror holding just ``folders`` of the sample, to read one published schema on purpose."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    for folder in folders:
        (tmp_path / folder).symlink_to(sample / "hf" / folder)
    return tmp_path


@pytest.mark.parametrize(
    ("task", "language", "role", "count", "kind"),
    [
        ("xnli", "de", "test", 5010, TextExample),
        ("pawsx", "de", "test", 2000, TextExample),
        ("xcopa", "et", "dev", 100, ChoiceExample),
        ("xcopa", "zh", "test", 500, ChoiceExample),
        ("copa", "en", "train", 400, ChoiceExample),
        ("copa", "en", "dev", 100, ChoiceExample),
        ("udpos", "de", "test", 150, TagExample),
        ("udpos", "zh", "test", 150, TagExample),
        ("xquad", "zh", "test", 426, SpanExample),
        ("squad", "en", "dev", 1057, SpanExample),
        ("tatoeba", "de", "test", 1000, BitextExample),
        ("tatoeba", "sw", "test", 390, BitextExample),
        ("cosmos_qa", "en", "dev", 1000, ChoiceExample),
        ("commonsense_qa", "en", "dev", 1221, ChoiceExample),
        ("hellaswag", "en", "dev", 2, ChoiceExample),
    ],
)
def test_every_set_loads_from_the_mirror(
    xtreme_sample: Path, task: str, language: str, role: str, count: int, kind: type
) -> None:
    examples = load_examples(get_task(task), language=language, role=role, data_dir=xtreme_sample / "hf")
    assert len(examples) == count
    assert all(isinstance(e, kind) for e in examples)
    labels = [e.label for e in examples if hasattr(e, "label")]
    assert all(0 <= label < max(get_task(task).num_labels, 1) for label in labels)


@pytest.mark.parametrize(
    ("task", "language", "role", "first", "second"),
    [
        ("xnli", "de", "test", "xnli.de", "XNLI"),
        ("pawsx", "de", "test", "PAWS-X.de", "paws-x.de"),
        ("xquad", "de", "test", "XQuAD.de", "xquad.de"),
        ("squad", "en", "dev", "squad", "SQuAD"),
    ],
)
def test_published_schemas_agree(
    xtreme_sample: Path, tmp_path: Path, task: str, language: str, role: str, first: str, second: str
) -> None:
    a = load_examples(get_task(task), language=language, role=role, data_dir=only(xtreme_sample, tmp_path / "a", first))
    b = load_examples(
        get_task(task), language=language, role=role, data_dir=only(xtreme_sample, tmp_path / "b", second)
    )
    assert len(a) == len(b)

    def content(e: object) -> tuple:
        if isinstance(e, TextExample):
            return (tuple(t.strip() for t in e.texts), e.label)
        # XTREME's config strips question text; the stand-alone datasets keep it as published.
        return (e.question.strip(), e.context, tuple((x.text, x.start) for x in e.answers))

    assert [content(e) for e in a] == [content(e) for e in b]


def test_copa_labels_match_the_superglue_release(xtreme_sample: Path) -> None:
    """The hub names SuperGLUE COPA's classes `choice1` and `choice2`; they are XCOPA's 0 and 1."""
    original = (xtreme_sample / "original" / "superglue" / "COPA" / "train.jsonl").read_text().splitlines()
    examples = load_examples(get_task("copa"), language="en", role="train", data_dir=xtreme_sample / "hf")
    assert [e.label for e in examples] == [json.loads(line)["label"] for line in original]


def test_ud_pos_matches_the_conllu_release(xtreme_sample: Path) -> None:
    conllu = xtreme_sample / "original" / "ud-treebanks-v2.5" / "UD_German-GSD" / "de_gsd-ud-test.conllu"
    sentences, current = [], []
    for line in conllu.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            if current:
                sentences.append(current)
            current = []
        elif not line.startswith("#"):
            cols = line.split("\t")
            if cols[0].isdigit():  # skip multi-word ranges (1-2) and empty nodes (1.1), as XTREME does
                current.append((cols[1], cols[3]))
    task = get_task("udpos")
    examples = load_examples(task, language="de", role="test", data_dir=xtreme_sample / "hf")
    for example, sentence in zip(examples, sentences, strict=False):
        assert list(example.tokens) == [w for w, _ in sentence]
        assert [task.labels[t] for t in example.tags] == [tag for _, tag in sentence]


def test_xcopa_matches_the_original_release(xtreme_sample: Path) -> None:
    original = [
        json.loads(line)
        for line in (xtreme_sample / "original" / "xcopa" / "data" / "et" / "test.et.jsonl").read_text().splitlines()
    ]
    examples = load_examples(get_task("xcopa"), language="et", role="test", data_dir=xtreme_sample / "hf")
    assert [(e.choices, e.label) for e in examples] == [((o["choice1"], o["choice2"]), o["label"]) for o in original]
    assert all(e.context.startswith(o["premise"]) for e, o in zip(examples, original, strict=True))


def test_simple_predictors_score_as_expected(xtreme_sample: Path) -> None:
    data = xtreme_sample / "hf"
    xnli = load_examples(get_task("xnli"), language="de", role="test", data_dir=data)
    majority = Counter(e.label for e in xnli).most_common(1)[0]
    acc = SCORERS["accuracy"]([majority[0]] * len(xnli), [e.label for e in xnli])["accuracy"]
    assert acc == pytest.approx(majority[1] / len(xnli))

    xquad = load_examples(get_task("xquad"), language="de", role="test", data_dir=data)
    gold = [[a.text for a in e.answers] for e in xquad]
    assert SCORERS["squad_v1"]([g[0] for g in gold], gold)["exact_match"] == 1.0
    mlqa_de = SCORERS["mlqa"]([g[0] for g in gold], gold, lang="de")
    assert mlqa_de["f1"] == 1.0

    task = get_task("udpos")
    pos = load_examples(task, language="en", role="test", data_dir=data)
    gold_tags = [[task.labels[t] for t in e.tags] for e in pos]
    assert SCORERS["seqeval"](gold_tags, gold_tags)["f1"] == 1.0
    # Every fifth tag wrong: XTREME's POS "F1" (seqeval over runs of equal tags) drops below 1 but not to 0.
    noisy = [[("X" if i % 5 == 0 else t) for i, t in enumerate(g)] for g in gold_tags]
    assert 0.3 < SCORERS["seqeval"](noisy, gold_tags)["f1"] < 0.95

    # Character trigram hashing: names and numbers shared across translations make it beat chance.
    pairs = load_examples(get_task("tatoeba"), language="de", role="test", data_dir=data)
    src = np.stack([_trigram_vector(p.source) for p in pairs])
    tgt = np.stack([_trigram_vector(p.target) for p in pairs])
    assert SCORERS["tatoeba"](src, tgt)["accuracy"] > 20 / len(pairs)


def _trigram_vector(text: str, dim: int = 2048) -> np.ndarray:
    vector = np.zeros(dim, dtype=np.float32)
    padded = f"  {text.lower()}  "
    for i in range(len(padded) - 2):
        vector[int(hashlib.md5(padded[i : i + 3].encode()).hexdigest(), 16) % dim] += 1.0
    return vector


def _run(*args: str) -> tuple[int, str, str]:
    import contextlib
    import io

    from sweep.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def test_sweep_score_on_submission_files(xtreme_sample: Path, tmp_path: Path) -> None:
    data = str(xtreme_sample / "hf")
    xnli = load_examples(get_task("xnli"), language="de", role="test", data_dir=Path(data))
    labels = get_task("xnli").labels
    perfect = tmp_path / "test-de.tsv"
    perfect.write_text(render(get_task("xnli"), xnli, [e.label for e in xnli]))  # the writer trials use
    code, out, _ = _run(
        "score", "xnli", "--language", "de", "--predictions", str(perfect), "--data-dir", data, "--format", "json"
    )
    assert code == 0 and json.loads(out) == {"accuracy": 1.0}

    half = tmp_path / "half.tsv"
    half.write_text("\n".join(labels[e.label] if i % 2 else "entailment" for i, e in enumerate(xnli)))
    expected = sum(1 for i, e in enumerate(xnli) if i % 2 or e.label == 0) / len(xnli)
    code, out, _ = _run(
        "score", "xnli", "--language", "de", "--predictions", str(half), "--data-dir", data, "--format", "json"
    )
    assert json.loads(out)["accuracy"] == pytest.approx(expected)

    short = tmp_path / "short.tsv"
    short.write_text("entailment\n" * 10)
    code, _, err = _run("score", "xnli", "--language", "de", "--predictions", str(short), "--data-dir", data)
    assert code == 2 and "has 10 lines but the gold data has 5010 examples" in err

    xquad = load_examples(get_task("xquad"), language="zh", role="test", data_dir=Path(data))
    answers = tmp_path / "test-zh.json"
    answers.write_text(render(get_task("xquad"), xquad, {e.id: e.answers[0].text for e in xquad}))
    code, out, _ = _run(
        "score", "xquad", "--language", "zh", "--predictions", str(answers), "--data-dir", data, "--format", "json"
    )
    assert json.loads(out)["exact_match"] == 1.0

    task = get_task("udpos")
    pos = load_examples(task, language="fr", role="test", data_dir=Path(data))
    tags = tmp_path / "test-fr.tsv"
    tags.write_text(render(task, pos, [list(e.tags) for e in pos]))
    code, out, _ = _run(
        "score", "udpos", "--language", "fr", "--predictions", str(tags), "--data-dir", data, "--format", "json"
    )
    assert json.loads(out)["f1"] == 1.0


def test_sweep_data_inspect(xtreme_sample: Path) -> None:
    code, out, _ = _run(
        "data",
        "inspect",
        "udpos",
        "--language",
        "ru",
        "--split",
        "test",
        "--data-dir",
        str(xtreme_sample / "hf"),
        "--limit",
        "1",
    )
    assert code == 0
    assert out.startswith("udpos ru test: 150 examples")
    code, _, err = _run("data", "inspect", "udpos", "--language", "qu", "--data-dir", str(xtreme_sample / "hf"))
    assert code == 2 and "task `udpos` has no data in `qu`" in err


# (task, language, split in the sample, how evaluate.py's reader returns each gold example, headline metric)
EVALUATE_PY_LAYOUTS = [
    ("xnli", "de", "test", lambda task, e: task.labels[e.label], "accuracy"),
    ("xcopa", "et", "test", lambda task, e: e.label, "accuracy"),
    ("udpos", "fr", "test", lambda task, e: [task.labels[t] for t in e.tags], "f1"),
    ("panx", "de", "dev", lambda task, e: [task.labels[t] for t in e.tags], "f1"),
    ("xquad", "zh", "test", None, "exact_match"),
]


@pytest.mark.parametrize(
    ("name", "language", "role", "gold_as_read", "metric"), EVALUATE_PY_LAYOUTS, ids=[t[0] for t in EVALUATE_PY_LAYOUTS]
)
def test_evaluate_py_reads_the_files_xstilts_writes(
    xtreme_sample: Path, tmp_path: Path, name: str, language: str, role: str, gold_as_read: Any, metric: str
) -> None:
    """A trial's prediction file is named and laid out as XTREME-R's evaluate.py finds and reads it (its
    own get_suffix and READER_FUNCTION, from ../shared/oracles), and `sweep score` scores it."""
    from tests.oracles import load_official
    from trainers.predictions import write

    official = load_official("xtreme/evaluate.py", "get_suffix", "XTREME_R_GROUP2TASK", "READER_FUNCTION")
    task = get_task(name)
    data = xtreme_sample / "hf"
    gold = load_examples(task, language=language, role=role, data_dir=data)
    if task.kind == "qa":
        predictions: Any = {e.id: e.answers[0].text for e in gold}
    elif task.kind == "tagging":
        predictions = [list(e.tags) for e in gold]
    else:
        predictions = [e.label for e in gold]
    path = write(tmp_path / name, task, language, gold, predictions)
    assert path.name == f"test-{language}.{official['get_suffix'](name, official['XTREME_R_GROUP2TASK'])}"
    as_read = official["READER_FUNCTION"][name](str(path))
    assert as_read == (predictions if gold_as_read is None else [gold_as_read(task, e) for e in gold])
    args = ["score", name, "--language", language, "--predictions", str(path), "--data-dir", str(data)]
    code, out, _ = _run(*args, "--split", role, "--format", "json")
    assert code == 0 and json.loads(out)[metric] == 1.0


def test_splits_are_named_as_the_hub_names_them(xtreme_sample: Path, tmp_path: Path) -> None:
    data = str(xtreme_sample / "hf")
    # XQuAD's test set is the hub's validation split; XNLI's validation split is its dev set.
    code, out, _ = _run("data", "inspect", "xquad", "--language", "de", "--split", "validation", "--data-dir", data)
    assert code == 0 and out.startswith("xquad de validation: ")
    assert int(out.split(": ")[1].split()[0]) == len(
        load_examples(get_task("xquad"), language="de", role="test", data_dir=Path(data))
    )
    xnli_dev = load_examples(get_task("xnli"), language="de", role="dev", data_dir=Path(data))
    path = tmp_path / "dev-de.tsv"
    path.write_text(render(get_task("xnli"), xnli_dev, [e.label for e in xnli_dev]))
    args = ["score", "xnli", "--language", "de", "--predictions", str(path), "--data-dir", data, "--format", "json"]
    assert _run(*args, "--split", "validation")[:2] == (0, '{\n  "accuracy": 1.0\n}\n')
    assert _run(*args, "--split", "dev")[:2] == (0, '{\n  "accuracy": 1.0\n}\n')
    code, _, err = _run(*args, "--split", "valdation")
    assert code == 2 and "task `xnli` has no split `valdation`" in err and "dev reads validation" in err
