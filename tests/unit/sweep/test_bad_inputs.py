"""Bad inputs as a new user meets them, end to end through `sweep` (``sweep.cli.main``, in this process): each
is refused with exit code 2 and one message that names what is wrong and what to do about it, never a
traceback. docs/errors.md lists every case with its message and fix.

Nothing here starts Ray, trains, or reaches past 127.0.0.1: configs are validated, data inspected, results
read, and the "object stores" are a few lines of HTTP server on 127.0.0.1 (or a port nothing listens on).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from sweep.cli import main

ROOT = Path(__file__).resolve().parents[3]
QUICKSTART = ROOT / "configs" / "quickstart.yaml"
TOY = ROOT / "data" / "toy"
SHARED = ROOT.parent / "shared" / "data"
MBERT_TOKENIZER = SHARED / "tokenizers" / "bert-base-multilingual-cased"
PRETRAINED = ["model.init=pretrained", "model.tokenizer=null", "model.max_length=32"]


def refused(capsys: pytest.CaptureFixture[str], argv: list[object]) -> str:
    """Run ``sweep ARGV``; check that it exits 2 with a message and no traceback; return the message on one line
    (problems are listed on lines of their own, and long ones wrap)."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert code == 2, f"`sweep {' '.join(map(str, argv))}` exited {code}\n{out}{err}"
    assert err.startswith("sweep ") and "Traceback" not in err, err
    return " ".join(err.split())


def says(message: str, *parts: str) -> None:
    """Each of ``parts`` (the problem, then the fix) is in ``message``."""
    for part in parts:
        assert " ".join(part.split()) in message, f"{part!r} not in:\n{message}"


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ----------------------------------------------------------------------------------------------------- configs


def _quickstart() -> str:
    """The quickstart's text with its paths absolute, so that it can be written anywhere."""
    return QUICKSTART.read_text().replace("../data/toy", str(TOY))


CONFIG_FILES = [
    pytest.param(
        lambda text: text.replace("seed: 0\n", "sede: 0\n", 1),
        ["unknown key `sede` in the config; did you mean `seed`?", "known keys: name, data_dir"],
        id="misspelt-top-level-key",
    ),
    pytest.param(
        lambda text: text.replace("zero_stage: 1", "zero_stag: 1"),
        ["unknown key `zero_stag` in training; did you mean `zero_stage`?"],
        id="misspelt-nested-key",
    ),
    pytest.param(
        lambda text: text.replace("epochs: 3", "epochs: three"),
        ["intermediate.epochs must be an integer, got 'three'"],
        id="word-for-a-number",
    ),
    pytest.param(
        lambda text: text.replace("languages: [en, de, fr, es, sw]", "languages: {en: 1}"),
        ["languages must be a list, got {'en': 1}"],
        id="mapping-for-a-list",
    ),
    pytest.param(
        lambda text: "- toy_nli\n- toy_paws\n",
        ["the top level must be a mapping of keys to values"],
        id="top-level-is-a-list",
    ),
    pytest.param(
        lambda text: text.replace("[toy_nli, toy_topic]", "[toy_nli, toy_topic"),
        ["not valid YAML", "expected ',' or ']'"],
        id="unclosed-bracket",
    ),
    pytest.param(
        None,
        ["does not exist", "a config is a YAML file, a packaged config (xstilts:quickstart"],
        id="config-file-missing",
    ),
]


@pytest.mark.parametrize(("edit", "expected"), CONFIG_FILES)
def test_a_bad_config_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], edit: Callable[[str], str] | None, expected: list[str]
) -> None:
    config = tmp_path / "study.yaml"
    if edit is not None:
        config.write_text(edit(_quickstart()))
    says(refused(capsys, ["validate", config]), *expected)


OVERRIDES = [
    pytest.param(
        ["target_tasks=[toy_pawz]"],
        ["unknown task `toy_pawz`; did you mean `toy_paws`?", "`sweep tasks` lists the known tasks"],
        id="unknown-task",
    ),
    pytest.param(
        ["target_tasks=[toy_paws@de]"],
        ["targets train on their English training set", "name training languages on intermediate tasks instead"],
        id="training-language-on-a-target",
    ),
    pytest.param(
        ["languages=[en,xx]"],
        ["unknown language `xx`", "languages are named by XTREME's codes (af, ar"],
        id="unknown-language",
    ),
    pytest.param(
        ["languages=[en,ja]"],
        ["language `ja` is in none of the target tasks (toy_paws, toy_order); drop it from languages"],
        id="language-no-target-has",
    ),
    pytest.param(
        ["model.architecture=gpt5"],
        ["model.architecture is `gpt5`; choose one of xlm-roberta"],
        id="unknown-scratch-family",
    ),
    pytest.param(
        ["model=tiny"],
        ["model must be a mapping of keys to values, got 'tiny'"],
        id="section-given-a-value",
    ),
    pytest.param(
        ["training.precision=fp8"],
        ["training.precision is `fp8`; choose one of fp32, bf16, fp16"],
        id="unknown-precision",
    ),
    pytest.param(
        ["intermediate.search_space=tpe_defualt"],
        ["unknown search space `tpe_defualt`; did you mean `tpe_default`?", "shipped spaces: "],
        id="space-misspelt-name",
    ),
    pytest.param(
        ["target.search_space={params: {warmup_ration: 0.1}}"],
        ["unknown hyperparameter `warmup_ration`; did you mean `warmup_ratio`?", "known: learning_rate"],
        id="space-misspelt-hyperparameter",
    ),
    pytest.param(
        ["target.search_space={params: {learning_rate: {type: choice, values: []}}}"],
        ["target.search_space.params.learning_rate: `values` must be a non-empty list"],
        id="space-empty-choice",
    ),
    pytest.param(
        ["target.search_space={params: {learning_rate: {type: uniform, low: 1e-5, high: 1e-3, step: 2}}}"],
        ["unknown key(s) ['step'] for a uniform distribution"],
        id="space-key-a-distribution-lacks",
    ),
    pytest.param(
        ["target.search_space={params: {learning_rate: {type: int, low: 1, high: 3}}}"],
        ["`learning_rate` is a real number; use uniform or loguniform"],
        id="space-integer-range-for-a-real",
    ),
    pytest.param(
        ["target.search_space={params: {learning_rate: {type: normal, low: 1, high: 3}}}"],
        ["unknown distribution type 'normal'", "use one of uniform, loguniform, int, choice or a plain value"],
        id="space-unknown-distribution",
    ),
    pytest.param(
        ["target.search_space={extends: tpe_default, prams: {}}"],
        ["unknown key(s) ['prams'] in target.search_space; a space has `extends`, `params`, `description`"],
        id="space-misspelt-params",
    ),
    pytest.param(
        ["target.search_space=[1,2]"],
        ["target.search_space must be a space name or a mapping with `params`, got [1, 2]"],
        id="space-a-list",
    ),
    pytest.param(
        ["target.search_space={params: {lora_r: 8}}"],
        ["sets lora_r, which only an adapter has; set training.adapter (e.g. training.adapter.r=16)"],
        id="space-adapter-rank-without-adapter",
    ),
    pytest.param(
        ["regimes={toy_paws: [translate_tarin]}"],
        ["unknown regime `translate_tarin`; did you mean `translate_train`?"],
        id="misspelt-regime",
    ),
    pytest.param(
        ["mixtures={mix: {sources: [toy_nli], sampling: weird}}", "intermediate_tasks=[mix]"],
        ["mixtures.mix: sampling is `weird`; one of ('proportional', 'temperature', 'weights')"],
        id="unknown-mixture-sampling",
    ),
    pytest.param(
        ["per_target={toy_pawz: {epochs: 2}}"],
        [
            "per_target.toy_pawz: `toy_pawz` is neither one of target_tasks (toy_paws, toy_order) nor a registered "
            "task; did you mean `toy_paws`?"
        ],
        id="per-target-of-no-target",
    ),
    pytest.param(
        ["training.zero_stage"],
        ["override `training.zero_stage` is not of the form key=value (e.g. training.zero_stage=2)"],
        id="override-without-value",
    ),
    pytest.param(
        ["=3"],
        ["override `=3` is not of the form key=value"],
        id="override-without-key",
    ),
    pytest.param(
        ["seed.value=1"],
        ["override `seed.value`: `seed` is a value, not a section; set it whole (seed=...)"],
        id="override-into-a-value",
    ),
    pytest.param(
        ["languages=[en,"],
        ["override `languages=[en,`: the value is not valid YAML", "e.g. 'languages=[en,de]'"],
        id="override-unclosed-bracket",
    ),
]


@pytest.mark.parametrize(("overrides", "expected"), OVERRIDES)
def test_a_bad_override(capsys: pytest.CaptureFixture[str], overrides: list[str], expected: list[str]) -> None:
    says(refused(capsys, ["validate", QUICKSTART, *overrides, "--skip-files"]), *expected)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        pytest.param(
            ["validate", "xstilts:quickstrt"],
            ["no packaged config is named `xstilts:quickstrt`; the packaged configs are: xstilts:kinds"],
            id="unknown-packaged-config",
        ),
        pytest.param(
            ["estimate", QUICKSTART, "--gpus", "4", "--throughput", "tiny-xlmr=fast"],
            ["--throughput 'tiny-xlmr=fast' is not MODEL=SEQUENCES_PER_SECOND"],
            id="estimate-throughput-not-a-number",
        ),
        pytest.param(
            ["estimate", QUICKSTART, "--gpus", "4", "--throughput", "big=3"],
            ["--throughput names ['big'], not models of this study: ('tiny-xlmr',)"],
            id="estimate-throughput-of-no-model",
        ),
        pytest.param(
            ["tasks", "show"],
            ["`sweep tasks show` needs a task name; `sweep tasks` lists them"],
            id="tasks-show-without-a-name",
        ),
    ],
)
def test_a_bad_command_line(capsys: pytest.CaptureFixture[str], argv: list[object], expected: list[str]) -> None:
    says(refused(capsys, argv), *expected)


# ---------------------------------------------------------------------------------------------------- data files


def _copy_toy(tmp_path: Path) -> Path:
    data = tmp_path / "toy"
    shutil.copytree(TOY, data)
    return data


def test_a_data_dir_that_does_not_exist(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    says(
        refused(capsys, ["validate", QUICKSTART, f"data_dir={tmp_path / 'mirror'}"]),
        f"data_dir {tmp_path / 'mirror'} is not a folder",
        "point it at a local mirror (<config>/<split>.jsonl files in the hub's layout)",
    )


def test_a_split_file_missing_is_named_before_launch(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _copy_toy(tmp_path)
    (data / "toy_order.fr" / "validation.jsonl").unlink()
    says(
        refused(capsys, ["validate", QUICKSTART, f"data_dir={data}"]),
        f"no dev data for task `toy_order` in `fr`: expected {data / 'toy_order.fr' / 'validation'}.jsonl",
        "point data_dir at a local mirror that has it",
    )


PAIR = {"sentence1": "11 kisten hat omar", "sentence2": "omar hat 11 kisten", "label": "paraphrase"}
TAGS = {"tokens": ["11", "kisten", "hat", "omar"], "ner_tags": ["B-QTY", "I-QTY", "O", "B-PER"]}


def _lines(*records: object) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


DATA_FILES = [
    pytest.param(
        "toy_paws",
        _lines(PAIR) + b'{"sentence1": "a", \n',
        ["test.jsonl line 2 is not valid JSON", "each line must be one record in the hub's schema"],
        id="malformed-json-line",
    ),
    pytest.param(
        "toy_paws",
        _lines(PAIR, [PAIR["sentence1"], PAIR["sentence2"]]),
        ["test.jsonl line 2 is a JSON list, not an object", "each line must be one record in the hub's schema"],
        id="json-line-not-an-object",
    ),
    pytest.param(
        "toy_paws",
        "\n".join(json.dumps(PAIR, ensure_ascii=False) for _ in range(2)).encode("utf-16"),
        ["test.jsonl is not UTF-8 text", "write it as UTF-8 JSON lines"],
        id="file-not-utf8",
    ),
    pytest.param(
        "toy_paws",
        _lines({k if k != "sentence2" else "text2": v for k, v in PAIR.items()}),
        ["record lacks field `sentence2` (it has: label, sentence1, text2)"],
        id="column-misnamed",
    ),
    pytest.param(
        "toy_paws",
        _lines(PAIR, {**PAIR, "label": "maybe"}),
        ["record 2: label 'maybe' is not one of task `toy_paws`'s labels ('not_paraphrase', 'paraphrase')"],
        id="unknown-label",
    ),
    pytest.param(
        "toy_paws",
        _lines({**PAIR, "label": True}),
        ["record 1: label True is neither a class name nor an index of ('not_paraphrase', 'paraphrase')"],
        id="boolean-label",
    ),
    pytest.param(
        "toy_ner",
        _lines({**TAGS, "ner_tags": TAGS["ner_tags"][:3]}),
        ["record 1: 4 tokens but 3 tags; give each token one tag"],
        id="tags-fewer-than-tokens",
    ),
    pytest.param(
        "toy_ner",
        _lines({**TAGS, "ner_tags": ["B-QTY", "I-QTY", "O", "B-CITY"]}),
        ["record 1: label 'B-CITY' is not one of task `toy_ner`'s labels"],
        id="unknown-tag",
    ),
    pytest.param(
        "toy_paws",
        b"\n\n",
        ["task `toy_paws` has no test records in `de`", "mirror the split again (`sweep data mirror toy_paws`)"],
        id="empty-split",
    ),
]


@pytest.mark.parametrize(("task", "content", "expected"), DATA_FILES)
def test_a_bad_data_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], task: str, content: bytes, expected: list[str]
) -> None:
    split = tmp_path / f"{task}.de" / "test.jsonl"
    split.parent.mkdir()
    split.write_bytes(content)
    says(refused(capsys, ["data", "inspect", task, "--language", "de", "--data-dir", tmp_path]), *expected)


def test_a_damaged_parquet_split(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    split = tmp_path / "toy_paws.de" / "test.parquet"
    split.parent.mkdir()
    split.write_bytes(b"PAR1 and then nothing")
    says(
        refused(capsys, ["data", "inspect", "toy_paws", "--language", "de", "--data-dir", tmp_path]),
        f"cannot read {split}",
        "replace it with a valid Parquet file",
    )


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        pytest.param(
            ["--language", "de"],
            ["no data for task `toy_paws` in `de`: expected a folder", "(`sweep data mirror toy_paws` writes one)"],
            id="language-folder-missing",
        ),
        pytest.param(
            ["--language", "ja"],
            ["task `toy_paws` has no data in `ja`; its languages are en, de, fr, es, sw"],
            id="language-the-task-lacks",
        ),
        pytest.param(
            ["--language", "de", "--split", "validaton"],
            ["task `toy_paws` has no split `validaton`; name a role or the hub's split: train reads train"],
            id="misspelt-split",
        ),
    ],
)
def test_a_bad_data_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], expected: list[str]
) -> None:
    says(refused(capsys, ["data", "inspect", "toy_paws", *argv, "--data-dir", tmp_path]), *expected)


def test_a_missing_predictions_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    predictions = tmp_path / "test-de.tsv"
    says(
        refused(capsys, ["score", "toy_paws", "--language", "de", "--predictions", predictions, "--data-dir", TOY]),
        f"predictions file {predictions} does not exist",
        "write one with `sweep export-predictions SWEEP_DIR --out DIR`",
    )


def _real_split(xtreme_sample: Path, tmp_path: Path, folder: str, edit: Callable[[list[dict]], None]) -> Path:
    """A copy of one real split of the XTREME sample, its records edited."""
    records = [json.loads(line) for line in (xtreme_sample / "hf" / folder / "test.jsonl").read_text().splitlines()]
    edit(records)
    (tmp_path / folder).mkdir()
    (tmp_path / folder / "test.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    return tmp_path


def test_a_real_xcopa_split_missing_a_choice(
    xtreme_sample: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _real_split(xtreme_sample, tmp_path, "xcopa.et", lambda records: records[2].pop("choice1"))
    says(
        refused(capsys, ["data", "inspect", "xcopa", "--language", "et", "--data-dir", data]),
        "xcopa/et/test (xcopa.et): record lacks field `choice1` (it has: changed, choice2, idx, label, premise",
    )


def test_a_real_udpos_sentence_missing_a_tag(
    xtreme_sample: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def drop_a_tag(records: list[dict]) -> None:
        records[1]["pos_tags"] = records[1]["pos_tags"][:-1]

    data = _real_split(xtreme_sample, tmp_path, "udpos.German", drop_a_tag)
    says(
        refused(capsys, ["data", "inspect", "udpos", "--language", "de", "--data-dir", data]),
        "udpos/de/test (udpos.German) record 2: ",
        "tags; give each token one tag",
    )


# ------------------------------------------------------------------------------------ model folders, tokenizers


@pytest.fixture(scope="module")
def bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random BERT and its WordPiece tokenizer, as `save_pretrained` writes them (built once)."""
    from trainers.tiny import save_tiny_model

    return save_tiny_model("bert", tmp_path_factory.mktemp("models") / "bert")


def _edit_config(**changes: object) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        config = json.loads((folder / "config.json").read_text())
        (folder / "config.json").write_text(json.dumps({**config, **changes}))

    return edit


def _write(name: str, content: str) -> Callable[[Path], None]:
    return lambda folder: (folder / name).write_text(content)


def _remove(*names: str) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        for path in folder.iterdir():
            if any(path.name == n or path.name.startswith(n) for n in names):
                path.unlink()

    return edit


MODEL_FOLDERS = [
    pytest.param(
        _remove("config.json"),
        ["has no readable config.json with a model_type; point model.path at the folder `save_pretrained` wrote"],
        id="no-config-json",
    ),
    pytest.param(
        _write("config.json", '{"model_type": "bert", '),
        ["has no readable config.json with a model_type; point model.path at the folder `save_pretrained` wrote"],
        id="config-json-not-json",
    ),
    pytest.param(
        _write("config.json", '["bert"]'),
        ["has no readable config.json with a model_type"],
        id="config-json-a-list",
    ),
    pytest.param(
        _edit_config(model_type="bert-xxl"),
        ["model type `bert-xxl` but Transformers does not recognize this architecture", "check its config.json"],
        id="unknown-model-family",
    ),
    pytest.param(
        _edit_config(num_hidden_layers="two"),
        [
            "Field 'num_hidden_layers' expected int, got str (value: 'two')",
            "check its config.json against its family's",
        ],
        id="config-field-of-the-wrong-type",
    ),
    pytest.param(
        _edit_config(hidden_act="swishy"),
        [
            "cannot be built from",
            "KeyError: 'swishy'; check its config.json (and training.adapter) against its family's",
        ],
        id="config-that-cannot-be-built",
    ),
    pytest.param(
        _remove("model.safetensors"),
        ["has no weights (model.safetensors or model.safetensors.index.json)", "copy the whole folder"],
        id="no-weights",
    ),
    pytest.param(
        _edit_config(vocab_size=100),
        [
            "the tokenizer gives ids the model has no embedding for (it has ",
            "tokens, and the model has 100 embeddings); save a tokenizer that matches the model",
            "or resize the model's embeddings (model.resize_token_embeddings(",
        ],
        id="tokenizer-past-vocab-size",
    ),
    pytest.param(
        _edit_config(pad_token_id=5000),
        ["its pad token `[PAD]` has id 5000", "model.resize_token_embeddings(5001), then save_pretrained"],
        id="pad-id-past-vocab-size",
    ),
    pytest.param(
        _edit_config(max_position_embeddings=16),
        ["model.max_length 32 is longer than the 16 positions", "set model.max_length to at most 16"],
        id="max-length-past-positions",
    ),
    pytest.param(
        _write("tokenizer.json", "{not json"),
        ["its tokenizer cannot be loaded (", "save the model's tokenizer there again (tokenizer.save_pretrained)"],
        id="tokenizer-json-not-json",
    ),
    pytest.param(
        _remove("tokenizer", "vocab.txt", "special_tokens_map.json"),
        [
            "holds no tokenizer (none of tokenizer.json, tokenizer_config.json, vocab.txt, ...)",
            "tokenizer.save_pretrained",
        ],
        id="no-tokenizer",
    ),
]


@pytest.mark.parametrize(("edit", "expected"), MODEL_FOLDERS)
def test_a_bad_model_folder(
    bert: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], edit: Callable[[Path], None], expected: list[str]
) -> None:
    folder = shutil.copytree(bert, tmp_path / "model")
    edit(folder)
    message = refused(capsys, ["validate", QUICKSTART, *PRETRAINED, f"model.path={folder}"])
    says(message, f"{folder}", *expected)


def test_a_model_folder_that_does_not_exist(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    says(
        refused(capsys, ["validate", QUICKSTART, *PRETRAINED, f"model.path={tmp_path / 'xlmr-base'}"]),
        f"model.path `{tmp_path / 'xlmr-base'}` is neither a local folder nor in the local hub cache",
        "download it once with `huggingface-cli download` where there is internet",
    )


def test_a_tokenizer_folder_without_a_tokenizer(bert: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    says(
        refused(capsys, ["validate", QUICKSTART, *PRETRAINED, f"model.path={bert}", f"model.tokenizer={tmp_path}"]),
        f"model.tokenizer {tmp_path} holds no tokenizer",
        "or set model.tokenizer to a folder that has one",
    )


def test_a_real_multilingual_tokenizer_beside_a_tiny_model(bert: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if not MBERT_TOKENIZER.is_dir():
        pytest.skip(f"{MBERT_TOKENIZER} is absent (a fresh clone has no ../shared)")
    says(
        refused(
            capsys, ["validate", QUICKSTART, *PRETRAINED, f"model.path={bert}", f"model.tokenizer={MBERT_TOKENIZER}"]
        ),
        # The config names the folder as resolved (../shared may be a link).
        f"model.tokenizer {MBERT_TOKENIZER.resolve()} has 119547 tokens, more than the",
        "a pretrained model needs its own tokenizer: set model.tokenizer=null to use the one in model.path",
    )


SCRATCH_TOKENIZERS = [
    pytest.param(
        "missing.json",
        None,
        ["does not exist; point it at a tokenizer.json or a folder tokenizer.save_pretrained wrote"],
        id="scratch-tokenizer-missing",
    ),
    pytest.param(
        "tokenizer.json",
        "{not json",
        ["is not a tokenizer.json the tokenizers library can read (", "point model.tokenizer at the tokenizer.json"],
        id="scratch-tokenizer-not-json",
    ),
    pytest.param(
        "tokenizer.json",
        '{"version": "1.0"}',
        ["is not a tokenizer.json the tokenizers library can read (", "point model.tokenizer at the tokenizer.json"],
        id="scratch-tokenizer-json-of-something-else",
    ),
    pytest.param(
        "vocab.txt",
        "[PAD]\n[UNK]\n",
        ["is neither a tokenizer.json nor a folder", "point model.tokenizer at the tokenizer.json"],
        id="scratch-tokenizer-a-vocab-file",
    ),
    pytest.param(
        "",
        None,
        ["holds no tokenizer (none of tokenizer.json", "point model.tokenizer at the tokenizer.json"],
        id="scratch-tokenizer-an-empty-folder",
    ),
]


@pytest.mark.parametrize(("name", "content", "expected"), SCRATCH_TOKENIZERS)
def test_a_bad_scratch_tokenizer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, content: str | None, expected: list[str]
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    says(refused(capsys, ["validate", QUICKSTART, f"model.tokenizer={path}"]), f"model.tokenizer {path}", *expected)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param(None, ["does not exist; give a tokenizer.json or a folder"], id="smoke-tokenizer-missing"),
        pytest.param(
            "{not json", ["cannot be loaded (", "give a tokenizer.json or a folder"], id="smoke-tokenizer-not-json"
        ),
    ],
)
def test_a_bad_smoke_tokenizer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, expected: list[str]
) -> None:
    path = tmp_path / "tokenizer.json"
    if content is not None:
        path.write_text(content)
    says(refused(capsys, ["validate", QUICKSTART, "--smoke", "--tokenizer", path]), f"--tokenizer {path}", *expected)


# -------------------------------------------------------------------------------------------------- results folders


@pytest.fixture
def sweep_dir(tmp_path: Path) -> Path:
    """A finished one-trial sweep folder as `sweep launch` leaves it: config, manifest and a results file."""
    from sweep.preflight.validate import load_config
    from tests.sweeps import SweepWriter

    writer = SweepWriter(tmp_path / "study", name="study")
    writer.trial(intermediate="none", target="toy_paws", trial_id="t0", dev=[0.5], test={"de": [0.4]})
    root = writer.finish()
    (root / "config.yaml").write_text(yaml.safe_dump(load_config(QUICKSTART, ["name=study"]).to_dict()))
    return root


def _results_file(root: Path) -> Path:
    return next((root / "results").rglob("*.parquet"))


def _truncate(root: Path) -> None:
    path = _results_file(root)
    path.write_bytes(path.read_bytes()[:300])


def _parquet_metadata(metadata: dict[bytes, bytes]) -> Callable[[Path], None]:
    def edit(root: Path) -> None:
        import pyarrow.parquet as pq

        path = _results_file(root)
        pq.write_table(pq.read_table(path).replace_schema_metadata(metadata), path)

    return edit


def _manifest(**changes: object) -> Callable[[Path], None]:
    def edit(root: Path) -> None:
        manifest = json.loads((root / "manifest.json").read_text())
        (root / "manifest.json").write_text(json.dumps({**manifest, **changes}))

    return edit


RESULTS_FOLDERS = [
    pytest.param(
        _write("manifest.json", '{"version": 2, "name": "stu'),
        ["study/manifest.json is damaged (Unterminated string", "restore it from a backup"],
        id="manifest-not-json",
    ),
    pytest.param(
        _manifest(version=9),
        ["study/manifest.json has version 9; this xstilts reads versions 1, 2"],
        id="manifest-unknown-version",
    ),
    pytest.param(
        _truncate,
        ["t0.a0.parquet is damaged (", "move it out of the results folder and run `sweep resume <sweep dir>`"],
        id="results-file-truncated",
    ),
    pytest.param(
        _parquet_metadata({b"xstilts.schema_version": b"99", b"xstilts.sweep": b"study"}),
        ["t0.a0.parquet has results schema version 99, but this xstilts reads versions [1, 2]; upgrade xstilts"],
        id="results-schema-version-unknown",
    ),
    pytest.param(
        _parquet_metadata({}),
        ["t0.a0.parquet is not an xstilts results file (its schema has no xstilts.schema_version)", "move it out"],
        id="results-file-not-xstilts",
    ),
]


@pytest.mark.parametrize("command", ["status", "query", "compact"])
@pytest.mark.parametrize(("edit", "expected"), RESULTS_FOLDERS)
def test_a_damaged_sweep_folder(
    sweep_dir: Path,
    capsys: pytest.CaptureFixture[str],
    command: str,
    edit: Callable[[Path], None],
    expected: list[str],
) -> None:
    edit(sweep_dir)
    says(refused(capsys, [command, sweep_dir]), *expected)


def test_a_damaged_parquet_can_be_left_out_of_a_query(sweep_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _truncate(sweep_dir)
    says(refused(capsys, ["query", sweep_dir]), "(or pass --skip-bad to leave such files out of the query)")


def test_a_damaged_config_copy(sweep_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (sweep_dir / "config.yaml").write_text("name: [study\n")
    says(
        refused(capsys, ["query", sweep_dir]),
        f"{sweep_dir}: its config.yaml is damaged (not valid YAML: expected ',' or ']'",
        "restore it from a backup, or write the config the sweep was launched with there again",
    )


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        pytest.param(
            ["status"],
            ["is not a sweep directory (no manifest.json/config.yaml); give the folder `sweep launch` printed"],
            id="status-of-no-sweep",
        ),
        pytest.param(
            ["resume"],
            ["is not a sweep directory (no manifest.json/config.yaml); give the folder `sweep launch` printed"],
            id="resume-of-no-sweep",
        ),
        pytest.param(
            ["query"],
            ["it has no manifest.json; name a sweep's own folder (the one `sweep launch` printed)"],
            id="query-of-no-sweep",
        ),
    ],
)
def test_a_folder_that_is_no_sweep(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], expected: list[str]
) -> None:
    says(refused(capsys, [*argv, tmp_path]), f"{tmp_path}", *expected)


def test_a_sweep_folder_that_does_not_exist(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    says(
        refused(capsys, ["query", tmp_path / "sweeps" / "studdy"]),
        "there is no such folder; name a sweep's own folder (the one `sweep launch` printed)",
    )


QUERIES = [
    pytest.param(
        ["--where", "colour=red"],
        ["unknown column `colour` in filter `colour=red`; columns of rows: sweep, search"],
        id="filter-on-an-unknown-column",
    ),
    pytest.param(
        ["--where", "language"],
        ["filter `language` is not `column OP value` with OP one of = != < <= > >= (e.g. --where language=de"],
        id="filter-without-a-value",
    ),
    pytest.param(
        ["--columns", "pair,nodes"],
        ["unknown column `nodes`; did you mean `node`?; columns: sweep"],
        id="misspelt-column",
    ),
    pytest.param(
        ["--metric", "accurcy"],
        ["no row has metric `accurcy`; did you mean `accuracy`?; the metrics are accuracy, objective"],
        id="misspelt-metric",
    ),
    pytest.param(
        ["--format", "parquet"],
        ["--format parquet writes a file: add --out FILE.parquet"],
        id="parquet-without-a-file",
    ),
    pytest.param(
        ["--sql", "SELECT * FROM rows", "--where", "language=de"],
        ["--sql takes its filters in its WHERE clause, not --where, --metric or --language"],
        id="sql-with-a-filter",
    ),
]


@pytest.mark.parametrize(("argv", "expected"), QUERIES)
def test_a_bad_query(sweep_dir: Path, capsys: pytest.CaptureFixture[str], argv: list[str], expected: list[str]) -> None:
    says(refused(capsys, ["query", sweep_dir, *argv]), *expected)


# --------------------------------------------------------------------------------- storage URIs and credentials


@contextlib.contextmanager
def object_store(status: int, code: str) -> Iterator[str]:
    """An S3 endpoint on 127.0.0.1 that answers every request with HTTP ``status`` and the error ``code``
    (403 InvalidAccessKeyId: a store refusing the credentials; 404 NoSuchKey: one holding nothing, whose
    listings are empty); yields its URL."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            if status == 404 and "list-type=2" in self.path:
                answer, body = 200, b"<ListBucketResult><KeyCount>0</KeyCount><IsTruncated>false</IsTruncated>"
                body += b"</ListBucketResult>"
            else:
                answer, body = status, f"<Error><Code>{code}</Code><Message>{code}</Message></Error>".encode()
            self.send_response(answer)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _answer

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _point_s3_at(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, endpoint: str, *, credentials: bool) -> None:
    """S3 clients go to ``endpoint`` only: no profile, no instance metadata, and keys only where asked."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    for name in (
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
    ):
        monkeypatch.delenv(name, raising=False)
    if credentials:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEWRONG")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
    else:
        monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
        monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        pytest.param(
            ["status", "foo://bucket/sweeps/study"],
            ["cannot open foo://bucket/sweeps/study"],
            id="status-unknown-scheme",
        ),
        pytest.param(
            ["query", "foo://bucket/sweeps/study"], ["cannot open foo://bucket/sweeps/study"], id="query-unknown-scheme"
        ),
        pytest.param(["store", "foo://bucket/store"], ["cannot open foo://bucket/store"], id="store-unknown-scheme"),
        pytest.param(
            ["validate", "foo://bucket/study.yaml"],
            ["cannot open foo://bucket/study.yaml"],
            id="config-uri-unknown-scheme",
        ),
        pytest.param(
            ["launch", QUICKSTART, "--storage", "foo://bucket/sweeps"],
            ["cannot open foo://bucket/sweeps"],
            id="launch-storage-unknown-scheme",
        ),
        pytest.param(["status", "s3:///sweeps/study"], ["(Missing bucket name in S3 URI)"], id="s3-uri-without-bucket"),
    ],
)
def test_a_storage_uri_no_file_system_opens(
    capsys: pytest.CaptureFixture[str], argv: list[object], expected: list[str]
) -> None:
    says(
        refused(capsys, argv),
        *expected,
        "name a local folder or a URI of shared storage, such as s3://bucket/prefix or gs://bucket/prefix",
    )


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        pytest.param(
            "storage",
            "storage foo://bucket/sweeps: scheme `foo` is not one of s3, gs",
            id="config-storage-unknown-scheme",
        ),
        pytest.param(
            "checkpoint_store",
            "checkpoint_store foo://bucket/sweeps: scheme `foo` is not one of s3, gs",
            id="config-checkpoint-store-unknown-scheme",
        ),
    ],
)
def test_a_config_naming_storage_of_an_unknown_scheme(
    capsys: pytest.CaptureFixture[str], key: str, expected: str
) -> None:
    says(refused(capsys, ["validate", QUICKSTART, f"{key}=foo://bucket/sweeps"]), expected, "gcs, hdfs, abfs, abfss")


def test_an_s3_endpoint_nothing_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """AWS_ENDPOINT_URL names a port nothing listens on. pyarrow's S3 client retries a refused connection for
    about 6 s; the client here tries once (the message is the same)."""
    import pyarrow.fs as pafs

    import trainers.fileio as fileio

    endpoint = f"http://127.0.0.1:{free_port()}"
    _point_s3_at(monkeypatch, tmp_path, endpoint, credentials=True)
    opened = fileio.filesystem

    def one_try(location: str) -> tuple[object, str]:
        fs, path = opened(location)
        if fs.type_name == "s3":
            fs = pafs.S3FileSystem(
                endpoint_override=endpoint, region="us-east-1", access_key="AKIAEXAMPLEWRONG", secret_key="wrong",
                retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=1),
            )  # fmt: skip
        return fs, path

    monkeypatch.setattr(fileio, "filesystem", one_try)
    says(
        refused(capsys, ["status", "s3://bucket/sweeps/study"]),
        "cannot read the sweep at s3://bucket/sweeps/study",
        f"Failed to connect to {endpoint.removeprefix('http://')}",
    )


@pytest.mark.parametrize("credentials", [True, False], ids=["wrong-keys", "no-keys"])
def test_storage_that_refuses_the_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], credentials: bool
) -> None:
    with object_store(403, "InvalidAccessKeyId") as endpoint:
        _point_s3_at(monkeypatch, tmp_path, endpoint, credentials=credentials)
        says(
            refused(capsys, ["validate", "s3://bucket/configs/study.yaml"]),
            "cannot read the config s3://bucket/configs/study.yaml:",
            "ACCESS_DENIED",
            "check the storage's credentials",
        )
        says(
            refused(capsys, ["status", "s3://bucket/sweeps/study"]),
            "cannot read the sweep at s3://bucket/sweeps/study:",
            "ACCESS_DENIED",
        )
        says(
            refused(capsys, ["launch", QUICKSTART, "--storage", "s3://bucket/sweeps"]),
            "cannot reach the storage s3://bucket/sweeps:",
            "ACCESS_DENIED",
        )


def test_a_config_missing_from_shared_storage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with object_store(404, "NoSuchKey") as endpoint:
        _point_s3_at(monkeypatch, tmp_path, endpoint, credentials=True)
        says(
            refused(capsys, ["validate", "s3://bucket/configs/studdy.yaml"]),
            "config file s3://bucket/configs/studdy.yaml does not exist on the shared storage",
            "a config is a YAML file, a packaged config (xstilts:quickstart",
        )


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        pytest.param(
            "closed",
            ["no Ray head answers at 127.0.0.1:", "start one with `ray start --head` or fix --address"],
            id="no-ray-head",
        ),
        pytest.param(
            "head-node", ["--address 'head-node' is not HOST:PORT (e.g. 10.0.0.5:6379) or `auto`"], id="no-port"
        ),
    ],
)
def test_a_cluster_that_cannot_be_joined(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], address: str, expected: list[str]
) -> None:
    """Refused before Ray is imported and before the sweep folder is written."""
    address = f"127.0.0.1:{free_port()}" if address == "closed" else address
    says(refused(capsys, ["launch", QUICKSTART, "--address", address, "--storage", tmp_path]), *expected)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------- damaged manifests, a sweep missing from storage, a store refusing keys


def test_a_manifest_that_is_a_json_list(sweep_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (sweep_dir / "manifest.json").write_text("[]")
    says(refused(capsys, ["status", sweep_dir]), "manifest.json is damaged", "restore it from a backup")


def test_a_manifest_that_is_not_utf8(sweep_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (sweep_dir / "manifest.json").write_bytes(b"\xff\xfe{}")
    says(refused(capsys, ["status", sweep_dir]), "manifest.json is damaged", "restore it from a backup")


def test_a_manifest_without_its_searches(sweep_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = json.loads((sweep_dir / "manifest.json").read_text())
    del manifest["searches"]
    (sweep_dir / "manifest.json").write_text(json.dumps(manifest))
    says(refused(capsys, ["status", sweep_dir]), "manifest.json is damaged", "restore it from a backup")


def test_a_sweep_missing_from_shared_storage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with object_store(404, "NoSuchKey") as endpoint:
        _point_s3_at(monkeypatch, tmp_path, endpoint, credentials=True)
        says(refused(capsys, ["status", "s3://bucket/sweeps/studdy"]), "s3://bucket/sweeps/studdy is not a sweep")


@pytest.mark.parametrize("command", ["store", "validate"])
def test_a_checkpoint_store_that_refuses_the_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    argv = (
        ["store", "s3://bucket/store"]
        if command == "store"
        else [command, QUICKSTART, "checkpoint_store=s3://bucket/store"]
    )
    with object_store(403, "InvalidAccessKeyId") as endpoint:
        _point_s3_at(monkeypatch, tmp_path, endpoint, credentials=True)
        says(
            refused(capsys, argv), "cannot reach the checkpoint store s3://bucket/store", "fix its path or credentials"
        )
