"""Fixtures for the drill attacks: a moto server (real HTTP), a Lambda target, an evidence store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from release_gates.evidence import EvidenceStore
from tests.adversarial.identity_support import hook, moto_endpoint
from tests.integration.aws_test_support import LIVE_DRILL

__all__ = ["drill_spec", "evidence", "hook", "moto_endpoint"]


@pytest.fixture
def evidence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[EvidenceStore]:
    url = f"sqlite:///{tmp_path / 'evidence.db'}"
    monkeypatch.setenv("RELEASE_GATES_EVIDENCE_URL", url)
    yield EvidenceStore(url)


def lambda_target(function: str) -> dict[str, Any]:
    return {"type": "lambda", "name": function, "alias": "live", "poll_interval": 0.05}


def drill_spec(function: str) -> dict[str, Any]:
    """A live drill (the attacks on the journal and the lease drill the live alias), window always open."""
    return {"target": lambda_target(function), "rto_budget": "5m", "previous_version": "2", **LIVE_DRILL}
