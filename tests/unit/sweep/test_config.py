"""Config parsing and validation: every problem found before compute is spent, all at once."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sweep.config.load import parse_overrides
from sweep.errors import ConfigError
from sweep.plan.searches import eval_languages, plan
from sweep.preflight.validate import load_config

ROOT = Path(__file__).resolve().parents[3]
QUICKSTART = ROOT / "configs" / "quickstart.yaml"


def problems_of(overrides: list[str], path: Path = QUICKSTART) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides)
    return info.value.problems


def test_quickstart_is_valid_and_resolved() -> None:
    config = load_config(QUICKSTART)
    assert config.name == "quickstart"
    assert Path(config.data_dir) == (ROOT / "data" / "toy").resolve()
    assert config.intermediate_tasks == ("toy_nli", "toy_topic")
    assert eval_languages(config, "toy_paws") == ("en", "de", "fr", "es", "sw")
    assert set(config.stage("target").search_space.params) == {
        "learning_rate",
        "warmup_ratio",
        "weight_decay",
        "micro_batch_size",
        "dropout",
    }


def test_overrides_are_applied_and_typed() -> None:
    config = load_config(
        QUICKSTART, ["training.zero_stage=2", "target.num_samples=2", "languages=[en,de]", "baseline=false"]
    )
    assert config.training.zero_stage == 2
    assert config.target.num_samples == 2
    assert config.languages == ("en", "de")
    assert [s.id for s in plan(config)] == [
        "intermediate-toy_nli",
        "intermediate-toy_topic",
        "target-toy_nli-toy_paws",
        "target-toy_topic-toy_paws",
        "target-toy_nli-toy_order",
        "target-toy_topic-toy_order",
    ]


def test_plan_has_one_stage_one_search_per_intermediate_and_baselines() -> None:
    searches = plan(load_config(QUICKSTART))
    assert [s.pair for s in searches] == [
        "toy_nli",
        "toy_topic",
        "none->toy_paws",
        "toy_nli->toy_paws",
        "toy_topic->toy_paws",
        "none->toy_order",
        "toy_nli->toy_order",
        "toy_topic->toy_order",
    ]


def test_unknown_key_suggests_the_right_one() -> None:
    (problem,) = problems_of(["training.zero_stag=2"])
    assert "unknown key `zero_stag` in training; did you mean `zero_stage`?" in problem


def test_every_problem_is_reported_at_once() -> None:
    problems = problems_of(
        [
            "training.zero_stag=2",
            "languages=[en,xx]",
            "target_tasks=[toy_pawz]",
            "intermediate.search_space=tpe_defualt",
            "training.precision=fp8",
            "intermediate.epochs=zero",
        ]
    )
    text = "\n".join(problems)
    assert len(problems) == 6
    for expected in (
        "did you mean `zero_stage`",
        "unknown language `xx`",
        "did you mean `toy_paws`",
        "did you mean `tpe_default`",
        "training.precision is `fp8`",
        "intermediate.epochs must be an integer, got 'zero'",
    ):
        assert expected in text


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("intermediate_tasks=[mnli_typo]", "unknown task `mnli_typo`"),
        ("languages=[qu]", "language `qu` is in none of the target tasks"),
        ("target_tasks=[]", "target_tasks is empty"),
        ("search.algorithm=bayes", "search.algorithm is `bayes`"),
        ("search.scheduler=pbt", "search.scheduler is `pbt`"),
        ("search.select_on=test", "search.select_on is `test`"),
        ("search.grace_period=9", "exceeds intermediate.epochs"),
        ("resources.cpus_per_trial=0", "cpus_per_trial must be > 0"),
        ("training.zero_stage=4", "zero_stage must be 0, 1, 2 or 3"),
        ("model.hidden_size=65", "must be divisible by model.num_heads"),
        ("model.tokenizer=/nonexistent/tokenizer.json", "does not exist"),
        ("data_dir=/nonexistent", "data_dir /nonexistent is not a folder"),
        ("name=has space", "may only use letters"),
        ("target.search_space={params: {lerning_rate: 1e-3}}", "did you mean `learning_rate`"),
        ("target.search_space={params: {learning_rate: {type: loguniform, low: 0, high: 1}}}", "needs low > 0"),
        ("target.search_space={params: {learning_rate: {type: uniform, low: 2, high: 1}}}", "must be below high"),
        ("target.search_space={params: {micro_batch_size: {type: uniform, low: 8, high: 32}}}", "use type: int"),
        ("target.search_space={params: {learning_rate: {type: gaussian}}}", "unknown distribution type"),
        ("model.init=pretrained", "model.path must name a local model folder"),
        ("model.init=pretrained model.path=no-such/model-xyz", "neither a local folder nor in the local hub cache"),
    ],
)
def test_each_validation_error(override: str, expected: str) -> None:
    problems = problems_of(override.split(" ") if override.startswith("model.init=pretrained ") else [override])
    assert any(expected in p for p in problems), problems


def test_missing_data_file_is_named_before_compute(tmp_path: Path) -> None:
    data = tmp_path / "toy"
    import shutil

    shutil.copytree(ROOT / "data" / "toy", data)
    (data / "toy_paws.de" / "test.jsonl").unlink()
    (problem,) = problems_of([f"data_dir={data}"])
    assert "no test data for task `toy_paws` in `de`" in problem
    assert str(data / "toy_paws.de" / "test") in problem


def test_inline_space_extends_a_named_one() -> None:
    config = load_config(QUICKSTART, ["target.search_space={extends: quickstart_target, params: {dropout: 0.2}}"])
    space = config.stage("target").search_space.params
    assert space["dropout"].values == (0.2,)
    assert space["learning_rate"].type == "loguniform"


def test_bad_yaml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    assert "not valid YAML" in problems_of([], bad)[0]
    assert "does not exist" in problems_of([], tmp_path / "nope.yaml")[0]
    with pytest.raises(ConfigError, match="not of the form key=value"):
        parse_overrides(["zero_stage"])


def test_resolved_config_round_trips(tmp_path: Path) -> None:
    config = load_config(QUICKSTART, ["target.num_samples=2"])
    copy = tmp_path / "config.yaml"
    copy.write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
    again = load_config(copy)
    assert again.to_dict() == config.to_dict()
    assert again.target.num_samples == 2


def _mirror_with_xnli(tmp_path: Path) -> Path:
    """The toy data plus XNLI training and dev files in de and fr (a few toy NLI pairs each)."""
    import json
    import shutil

    data = tmp_path / "data"
    shutil.copytree(ROOT / "data" / "toy", data)
    rows = [json.loads(line) for line in (data / "toy_nli.en" / "train.jsonl").read_text().splitlines()[:20]]
    records = "".join(
        json.dumps({"premise": r["sentence1"], "hypothesis": r["sentence2"], "label": r["label"]}) + "\n" for r in rows
    )
    for language in ("de", "fr"):
        (data / f"xnli.{language}").mkdir()
        for split in ("train", "validation"):
            (data / f"xnli.{language}" / f"{split}.jsonl").write_text(records)
    return data


def test_intermediate_tasks_may_train_in_other_languages(tmp_path: Path) -> None:
    data = _mirror_with_xnli(tmp_path)
    config = load_config(
        QUICKSTART,
        [f"data_dir={data}", "intermediate_tasks=[toy_nli, xnli@de, xnli@de+fr]", "target_tasks=[toy_order]"],
    )
    assert [s.id for s in plan(config)] == [
        "intermediate-toy_nli",
        "intermediate-xnli@de",
        "intermediate-xnli@de+fr",
        "target-none-toy_order",
        "target-toy_nli-toy_order",
        "target-xnli@de-toy_order",
        "target-xnli@de+fr-toy_order",
    ]
    # Every training language's files are checked before compute is spent.
    problems = problems_of([f"data_dir={data}", "intermediate_tasks=[xnli@de+es]", "target_tasks=[toy_order]"])
    assert problems == [
        f"no data for task `xnli` in `es`: expected a folder {data / 'xnli.es'} or {data / 'XNLI'}; point data_dir "
        "at a local mirror that has it (`sweep data mirror xnli` writes one)"
    ]


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("intermediate_tasks=[xnli@ja]", "intermediate_tasks: task `xnli` has no data in `ja`"),
        ("intermediate_tasks=[xquad@de]", "task `xquad` has no train split in source google/xtreme"),
        ("intermediate_tasks=[toy_nli, toy_nli]", "intermediate_tasks: `toy_nli` is listed twice"),
        ("target_tasks=[xnli@de]", "target_tasks: `xnli@de`: targets train on their English training set"),
    ],
)
def test_bad_training_languages(tmp_path: Path, override: str, expected: str) -> None:
    data = tmp_path / "data"
    (data / "XQuAD.de").mkdir(parents=True)
    (data / "XQuAD.de" / "validation.jsonl").write_text("{}\n")
    problems = problems_of([f"data_dir={data}", override], path=QUICKSTART)
    assert any(expected in p for p in problems), problems


def test_ccg_tag_set_is_checked_before_compute(tmp_path: Path) -> None:
    import shutil

    data = tmp_path / "data"
    shutil.copytree(ROOT / "data" / "toy", data)
    (data / "ccg").mkdir()
    for split in ("train", "dev"):
        (data / "ccg" / f"{split}.jsonl").write_text('{"text": "a b", "tags": "N N"}\n')
    problems = problems_of([f"data_dir={data}", "intermediate_tasks=[ccg]"])
    assert problems == [
        f"task `ccg` needs its label set {data / 'ccg' / 'tags_to_id.json'}: a JSON object mapping each label to "
        "its index (jiant's tags_to_id.json for CCG); put it beside the task's split files"
    ]
    (data / "ccg" / "tags_to_id.json").write_text('{"N": 0}')
    assert load_config(QUICKSTART, [f"data_dir={data}", "intermediate_tasks=[ccg]"]).intermediate_tasks == ("ccg",)


def test_mean_dev_needs_a_dev_split_in_the_evaluation_languages() -> None:
    # XQuAD has no dev split of its own; in English it is selected on SQuAD's. Without en, nothing selects.
    base = ["intermediate_tasks=[toy_nli]", "target_tasks=[xquad]", "search.select_on=mean_dev"]
    problems = problems_of([*base, "languages=[de,ar]"])
    expected = (
        "search.select_on is mean_dev, but target `xquad` has no dev split in its evaluation languages (de, ar); "
        "it has dev data in en: add one of those to languages, or select on english_dev"
    )
    assert expected in problems
    assert not any("mean_dev" in p for p in problems_of([*base, "languages=[en,de]"]))  # only missing files
    assert not any("mean_dev" in p for p in problems_of([*base, "languages=[de]", "search.select_on=english_dev"]))


def _model_folder(tmp_path: Path, config: str) -> Path:
    """A folder with a model's config and (empty) weights and tokenizer files: what validation looks at."""
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text(config)
    (model / "model.safetensors").write_bytes(b"")
    (model / "tokenizer.json").write_text("{}")
    return model


def test_a_pretrained_folder_is_checked_for_weights_tokenizer_and_sizes(tmp_path: Path) -> None:
    config = (
        '{"model_type": "xlm-roberta", "hidden_size": 96, "num_attention_heads": 5, "max_position_embeddings": 130}'
    )
    model = _model_folder(tmp_path, config)
    pretrained = ["model.init=pretrained", f"model.path={model}", "model.tokenizer=null", "model.max_length=129"]
    problems = problems_of(pretrained)
    assert f"model.path {model}: hidden_size 96 is not divisible by 5 attention heads" in problems
    # XLM-R's positions start after its pad id: 130 position embeddings hold 128 tokens.
    assert (
        f"model.max_length 129 is longer than the 128 positions model.path {model} (xlm-roberta) has; "
        "set model.max_length to at most 128"
    ) in problems
    (model / "model.safetensors").unlink()
    (model / "tokenizer.json").unlink()
    problems = problems_of(pretrained)
    assert any(
        p.startswith(f"model.path {model} has no weights (model.safetensors or model.safetensors.index")
        for p in problems
    )
    assert any(p.startswith(f"model.path {model} holds no tokenizer (none of tokenizer.json") for p in problems)
    assert any(
        p.startswith(f"model.tokenizer {tmp_path}/none.json does not exist")
        for p in problems_of([*pretrained, f"model.tokenizer={tmp_path}/none.json"])
    )
    (model / "config.json").write_text("{not json")
    assert any(p.startswith(f"model.path {model} has no readable config.json") for p in problems_of(pretrained))


def test_a_scratch_tokenizer_kept_for_a_pretrained_model_is_refused_when_it_outgrows_the_embeddings(
    tmp_path: Path,
) -> None:
    # The quickstart's toy tokenizer has 198 tokens; a model with 150 embeddings cannot look them all up.
    model = _model_folder(tmp_path, '{"model_type": "xlm-roberta", "vocab_size": 150}')
    problems = problems_of(["model.init=pretrained", f"model.path={model}"])
    assert any(
        p.startswith("model.tokenizer ")
        and p.endswith(
            f"has 198 tokens, more than the 150 embeddings of model.path {model}; a pretrained model needs its "
            "own tokenizer: set model.tokenizer=null to use the one in model.path"
        )
        for p in problems
    ), problems
    (model / "config.json").write_text('{"model_type": "xlm-roberta", "vocab_size": 250002}')
    assert load_config(QUICKSTART, ["model.init=pretrained", f"model.path={model}"]).model.tokenizer


def test_a_tokenizer_whose_pad_token_the_model_lacks_is_refused_before_any_trial(tmp_path: Path) -> None:
    """A Llama tokenizer saved beside a Qwen2 model of its 400 tokens: transformers loads it as Qwen2's, which
    adds `<|endoftext|>` as token 400 and pads with it. Every trial would fail at its first batch; validation
    names both sizes and the fix. The same tokenizer beside a model of 401 embeddings passes."""
    import transformers

    from trainers.tiny import train_tokenizer

    def folder(vocab: int) -> Path:
        config = transformers.Qwen2Config(
            vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2
        )
        path = tmp_path / f"qwen2-{vocab}"
        transformers.AutoModel.from_config(config).save_pretrained(path)
        train_tokenizer("llama").save_pretrained(path)
        return path

    model = folder(400)
    overrides = ["model.init=pretrained", "model.tokenizer=null", "model.max_length=32"]
    problems = problems_of([*overrides, f"model.path={model}"])
    assert (
        f"model.path {model}: the tokenizer gives ids the model has no embedding for (its pad token "
        f"`<|endoftext|>` has id 400, and the model has 400 embeddings); save a tokenizer that matches the model "
        f"in {model}, or resize the model's embeddings (model.resize_token_embeddings(401), then save_pretrained) "
        "and train them"
    ) in problems, problems
    assert load_config(QUICKSTART, [*overrides, f"model.path={folder(401)}"]).model.path


def test_retrieval_layer_beyond_a_pretrained_models_depth_is_found_before_launch(tmp_path: Path) -> None:
    model = _model_folder(tmp_path, '{"model_type": "xlm-roberta", "num_hidden_layers": 4}')
    pretrained = ["model.init=pretrained", f"model.path={model}", "resources.memory_per_worker_gb=64"]
    problems = problems_of([*pretrained, "retrieval.layer=5"])
    assert any(
        p.startswith(f"retrieval.layer 5 does not exist: model.path {model} has 4 layers, so the layers are 0")
        for p in problems
    ), problems
    config = load_config(QUICKSTART, [*pretrained, "retrieval.layer=4"])  # the last layer exists
    assert config.retrieval.layer == 4
    assert any("model.num_layers has 2 layers" in p for p in problems_of(["retrieval.layer=3"]))


def test_cls_pooling_of_a_decoder_is_refused_before_launch(tmp_path: Path) -> None:
    model = _model_folder(tmp_path, '{"model_type": "llama", "num_hidden_layers": 4}')
    pretrained = ["model.init=pretrained", f"model.path={model}", "resources.memory_per_worker_gb=64"]
    expected = (
        f"retrieval.pooling is cls, but model.path {model} is a decoder (llama): its first token has read "
        "nothing of the sentence; use mean or last"
    )
    assert expected in problems_of([*pretrained, "retrieval.pooling=cls"])
    assert load_config(QUICKSTART, [*pretrained, "retrieval.pooling=last"]).retrieval.pooling == "last"
    (model / "config.json").write_text('{"model_type": "xlm-roberta", "num_hidden_layers": 4}')
    assert load_config(QUICKSTART, [*pretrained, "retrieval.pooling=cls"]).retrieval.pooling == "cls"  # an encoder


@pytest.mark.parametrize(
    ("layers", "expected"),
    [
        ("every", "give `all` or a list of layer numbers"),
        ("[0, 3]", "each layer once, from 0 (the embeddings) to 2"),
        ("[1, 1]", "each layer once"),
    ],
)
def test_retrieval_layers_are_checked(layers: str, expected: str) -> None:
    assert any(expected in p for p in problems_of([f"retrieval.layers={layers}"])), problems_of(
        [f"retrieval.layers={layers}"]
    )


def test_retrieval_layers_all_or_a_list() -> None:
    assert load_config(QUICKSTART, ["retrieval.layers=all"]).retrieval.layers == "all"
    assert load_config(QUICKSTART, ["retrieval.layers=[0, 2]"]).retrieval.layers == (0, 2)


def test_a_config_transformers_cannot_build_is_refused_before_any_trial(tmp_path: Path) -> None:
    """An activation transformers has no function for: the model's body is built on the meta device at
    validation, and the problem is the one the trial would raise, naming the folder and the cause."""
    import json

    from trainers.tiny import save_tiny_model

    folder = save_tiny_model("llama", tmp_path / "llama", seed=0)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "hidden_act": "no_such_act"}))
    overrides = ["model.init=pretrained", "model.tokenizer=null", "model.max_length=32", f"model.path={folder}"]
    assert problems_of(overrides) == [
        f"model `tiny-xlmr` cannot be built from {folder}: KeyError: 'no_such_act'; check its config.json (and "
        "training.adapter) against its family's, or rebuild the folder with save_pretrained"
    ]
