"""A policy file is input like any other: a few hundred bytes must not buy seconds of CPU or a hang."""

from __future__ import annotations

from pathlib import Path

import pytest

from release_gates.policy import PolicyError, load_policy, parse_policy
from release_gates.policy.loader import MAX_POLICY_BYTES

EXAMPLE = Path(__file__).parents[2] / "include" / "release_policy.yaml"


def _laughs(levels: int) -> str:
    """The classic alias bomb: each level lists the previous one nine times (9**levels leaves)."""
    lines = ['a0: &a0 ["lol"]']
    for level in range(1, levels + 1):
        refs = ", ".join([f"*a{level - 1}"] * 9)
        lines.append(f"a{level}: &a{level} [{refs}]")
    lines.append(f"policy_version: *a{levels}")
    return "\n".join(lines) + "\n"


@pytest.mark.timeout(30)
def test_alias_bomb_is_a_policy_error_not_a_hang() -> None:
    text = _laughs(9)  # 9**9 = 387 million leaves from about 400 bytes
    assert len(text.encode()) < 600
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, source="bomb.yaml")
    (problem,) = caught.value.problems
    assert "aliases" in problem.message and problem.line is not None


@pytest.mark.timeout(30)
def test_self_referencing_anchor_is_a_policy_error() -> None:
    with pytest.raises(PolicyError, match="refers to itself"):
        parse_policy("loop: &loop [1, *loop]\n", source="loop.yaml")


def test_file_over_one_mebibyte_is_refused_before_parsing(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_bytes(EXAMPLE.read_bytes() + b"#" * MAX_POLICY_BYTES)
    with pytest.raises(PolicyError, match="limit is 1,048,576") as caught:
        load_policy(big)
    assert f"{big.stat().st_size:,} bytes" in str(caught.value)
    with pytest.raises(PolicyError, match="1 MiB"):
        parse_policy(big.read_bytes(), source="big.yaml")


def test_ordinary_anchors_still_work() -> None:
    text = EXAMPLE.read_text()
    assert text.count("label_values: [0, 1]") >= 2
    # Declare the label values once and reuse them, as a policy author might.
    anchored = text.replace("label_values: [0, 1]", "label_values: &binary [0, 1]", 1)
    anchored = anchored.replace("label_values: [0, 1]", "label_values: *binary")
    policy = parse_policy(anchored, source=str(EXAMPLE))
    assert {tuple(d.label_values or ()) for d in policy.datasets.values() if d.label} == {(0, 1)}


def test_policy_just_under_the_limit_is_read(tmp_path: Path) -> None:
    text = EXAMPLE.read_bytes()
    padded = text + b"\n" + b"# padding\n" * ((MAX_POLICY_BYTES - len(text) - 1) // 10)
    assert len(padded) <= MAX_POLICY_BYTES
    path = tmp_path / "padded.yaml"
    path.write_bytes(padded)
    # Relative paths in the example resolve against its own folder; only parsing is under test here.
    assert parse_policy(padded, source=str(EXAMPLE)).release.model == "mortgage-approval"


@pytest.mark.timeout(30)
def test_alias_bomb_behind_a_duplicate_key_is_still_counted() -> None:
    # YAML keeps the last of two equal keys; the bomb must not slip through as the "ignored" one.
    text = _laughs(9).replace("policy_version: *a9", "policy_version: 1\npolicy_version: *a9")
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, source="dup.yaml")
    assert any("aliases" in p.message for p in caught.value.problems)
