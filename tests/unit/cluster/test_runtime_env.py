"""Which of the driver's Hugging Face settings go to every trial (``cluster.ray_session.hf_env``); that they
reach the workers of a node started elsewhere is tests/integration/test_hf_env.py."""

from __future__ import annotations

import json
import os

import pytest

from cluster import ray_session
from cluster.ray_session import HF_SETTINGS, hf_env


def test_the_settings_that_are_set_pass_and_nothing_else() -> None:
    environ = {
        "HF_HOME": "/data/hf",
        "HF_HUB_CACHE": "/data/hf/hub",
        "HF_DATASETS_CACHE": "/data/datasets",
        "TRANSFORMERS_CACHE": "/data/legacy",
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_ENDPOINT": "https://hub.mirror.internal",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "PATH": "/usr/bin",
        "HF_HUB_ENABLE_HF_TRANSFER": "1",  # not one of the settings: the node's own business
    }
    assert hf_env(environ) == {k: v for k, v in environ.items() if k not in ("PATH", "HF_HUB_ENABLE_HF_TRANSFER")}


def test_tokens_never_pass() -> None:
    """A runtime_env shows in Ray's dashboard and state API: a token stays in the nodes' own environment."""
    secrets = {"HF_TOKEN": "hf_x", "HUGGING_FACE_HUB_TOKEN": "hf_y", "HF_TOKEN_PATH": "/secrets/hf"}
    assert hf_env({**secrets, "HF_HUB_OFFLINE": "1"}) == {"HF_HUB_OFFLINE": "1"}
    assert not [name for name in HF_SETTINGS if "TOKEN" in name]


def test_empty_values_are_unset() -> None:
    assert hf_env({"HF_HOME": "", "HF_HUB_OFFLINE": ""}) == {}
    assert hf_env({}) == {}


def test_relative_cache_folders_become_absolute_and_home_stays_the_nodes(tmp_path, monkeypatch) -> None:
    """A worker's working folder is Ray's session folder, so ``hf`` would mean another folder there; ``~`` is
    each node's own home, as the hub's libraries expand it."""
    monkeypatch.chdir(tmp_path)
    found = hf_env({"HF_HOME": "hf", "HF_DATASETS_CACHE": "~/datasets", "HF_ENDPOINT": "mirror"})
    assert found == {"HF_HOME": str(tmp_path / "hf"), "HF_DATASETS_CACHE": "~/datasets", "HF_ENDPOINT": "mirror"}


def test_the_process_environment_by_default(monkeypatch) -> None:
    for name in HF_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HOME", "/cache/hf")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert hf_env() == {"HF_HOME": "/cache/hf", "HF_HUB_OFFLINE": "1"}
    assert hf_env() is not os.environ


@pytest.mark.parametrize(
    ("job", "expected"),
    [
        # `ray job submit --runtime-env-json` set HF_HOME itself: Ray refuses a ray.init that sets it again.
        ({"runtime_env": {"env_vars": {"HF_HOME": "/job/hf"}}}, {"HF_HUB_OFFLINE": "1"}),
        ({"runtime_env": {"working_dir": "s3://b/code.zip"}}, {"HF_HOME": "/job/hf", "HF_HUB_OFFLINE": "1"}),
        ({}, {"HF_HOME": "/job/hf", "HF_HUB_OFFLINE": "1"}),
    ],
)
def test_a_submitted_jobs_own_env_vars_are_not_set_twice(monkeypatch, job: dict, expected: dict) -> None:
    for name in HF_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HOME", "/job/hf")  # the driver of a submitted job runs in the job's runtime_env
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("RAY_JOB_CONFIG_JSON_ENV_VAR", json.dumps(job))
    assert ray_session._job_env_vars() == expected


def test_a_driver_that_is_no_submitted_job_passes_all(monkeypatch) -> None:
    for name in HF_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("RAY_JOB_CONFIG_JSON_ENV_VAR", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert ray_session._job_env_vars() == {"HF_HUB_OFFLINE": "1"}
