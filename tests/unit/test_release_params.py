"""Trigger parameters follow the policy: what its templates read is required, the rest optional."""

from __future__ import annotations

from pathlib import Path

import pytest
from airflow.sdk import Param
from airflow.sdk.definitions.param import ParamValidationError

from release_gates.dag_factory import referenced_params, release_params
from release_gates.policy import load_policy, parse_policy
from tests.minimal_policy import MINIMAL_POLICY

EXAMPLE = Path(__file__).parents[2] / "include" / "release_policy.yaml"


def _accepts(param: Param, value: object) -> bool:
    try:
        param.resolve(value=value)
    except ParamValidationError:
        return False
    return True


def test_a_policy_without_an_image_scan_does_not_require_an_image() -> None:
    policy = parse_policy(MINIMAL_POLICY, source="no_image.yaml")
    assert referenced_params(policy) == set()
    params = release_params(policy)
    assert _accepts(params["image"], "")
    assert _accepts(params["model_sha256"], "") and not _accepts(params["model_sha256"], "not-a-hash")


def test_what_the_example_policy_reads_stays_required() -> None:
    policy = load_policy(EXAMPLE)
    assert {"image", "model_uri", "model_sha256", "model_version"} <= referenced_params(policy)
    params = release_params(policy)
    for name in ("image", "model_uri", "model_sha256", "model_version"):
        assert not _accepts(params[name], ""), name


@pytest.mark.parametrize("name", ["image", "model_uri", "model_version"])
def test_without_a_policy_everything_is_required(name: str) -> None:
    assert not _accepts(release_params()[name], "")
