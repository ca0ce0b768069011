"""A config named by a path, by its packaged name, or by a URI on shared storage (sweep.config.source)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sweep.cli import main
from sweep.config.source import packaged_configs, packaged_folder
from sweep.errors import ConfigError
from sweep.preflight.validate import load_config
from tests.conftest import QUICKSTART, ROOT
from tests.s3 import s3_endpoint

STUDIES = {f"xstilts:studies/{p.stem}" for p in (ROOT / "configs" / "studies").glob("*.yaml")}


def test_every_config_of_the_checkout_is_packaged_under_its_name() -> None:
    assert set(packaged_configs()) == {"xstilts:quickstart", "xstilts:kinds", *STUDIES}
    assert packaged_configs()["xstilts:quickstart"].read_text() == QUICKSTART.read_text()


@pytest.mark.parametrize("name", ["xstilts:quickstart", "xstilts:quickstart.yaml"])
def test_a_packaged_config_resolves_its_paths_against_the_package(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # nothing of the checkout here
    config = load_config(name)
    data = packaged_folder().parent / "data" / "toy"
    assert config.name == "quickstart"
    assert Path(config.data_dir) == data.resolve()
    assert Path(config.model.tokenizer) == (data / "tokenizer.json").resolve()


def test_an_override_on_the_command_line_is_relative_to_the_shell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "mine").symlink_to(ROOT / "data" / "toy")
    monkeypatch.chdir(tmp_path)
    assert Path(load_config("xstilts:quickstart", ["data_dir=mine"]).data_dir) == (tmp_path / "mine").resolve()


def test_an_unknown_packaged_name_lists_the_known_ones() -> None:
    with pytest.raises(
        ConfigError, match=r"no packaged config is named `xstilts:studies/xstilt`.*xstilts:studies/xstilts"
    ):
        load_config("xstilts:studies/xstilt")


def test_a_missing_file_names_the_packaged_config_of_that_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["validate", "configs/studies/xstilts.yaml", "--skip-files"]) == 2
    err = capsys.readouterr().err
    assert "config file configs/studies/xstilts.yaml does not exist" in err
    assert "the packaged config of that name is `xstilts:studies/xstilts`" in err


def test_launch_help_says_how_a_config_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("launch", "validate"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        out = " ".join(capsys.readouterr().out.split())  # as argparse wraps it
        assert "a packaged config by name (xstilts:quickstart)" in out and "s3://bucket/configs/" in out
        assert all(f" {name} " in out for name in STUDIES), out


def test_a_config_on_shared_storage(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import pyarrow.fs as pafs

    with s3_endpoint("configs") as env:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        fs = pafs.FileSystem.from_uri("s3://configs")[0]
        data = ROOT / "data" / "toy"
        anchored = QUICKSTART.read_text().replace("../data/toy", str(data))
        with fs.open_output_stream("configs/studies/mine.yaml") as f:
            f.write(anchored.encode())
        with fs.open_output_stream("configs/studies/relative.yaml") as f:
            f.write(QUICKSTART.read_bytes())

        config = load_config("s3://configs/studies/mine.yaml")
        assert config.name == "quickstart" and Path(config.data_dir) == data

        # Relative paths have no folder to start from: each is named, with the way out.
        with pytest.raises(ConfigError) as caught:
            load_config("s3://configs/studies/relative.yaml")
        assert "data_dir: `../data/toy` is a relative path in a config on shared storage" in str(caught.value)
        assert "model.tokenizer: `../data/toy/tokenizer.json`" in str(caught.value)
        monkeypatch.chdir(data.parent)
        fixed = load_config(
            "s3://configs/studies/relative.yaml", ["data_dir=toy", "model.tokenizer=toy/tokenizer.json"]
        )
        assert Path(fixed.data_dir) == data

        with pytest.raises(
            ConfigError, match="config file s3://configs/nope.yaml does not exist on the shared storage"
        ):
            load_config("s3://configs/nope.yaml")
