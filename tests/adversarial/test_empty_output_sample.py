"""An empty outputs sample must not certify that model outputs carry no personal data.

The attack: point the posture check's outputs sample at an empty extract (or one whose columns
cannot hold text); the PII scan then finds nothing and, before, the check passed.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from release_gates.checks.posture import evaluate_security_posture
from release_gates.policy import PostureCheck
from release_gates.results import CheckResult, Status


def _posture(outputs: pd.DataFrame, **fields: Any) -> CheckResult:
    spec = PostureCheck.model_validate({"kind": "posture", "outputs_sample": "outputs", **fields})
    # No buckets: the S3 client is never called.
    return evaluate_security_posture(None, spec, outputs=outputs, check_id="security.posture")


def test_an_outputs_sample_with_no_rows_is_inconclusive() -> None:
    empty = pd.DataFrame({"explanation": pd.Series([], dtype=object), "score": pd.Series([], dtype=float)})
    result = _posture(empty)
    assert result.status is Status.INCONCLUSIVE
    assert "has no rows" in result.summary and "'outputs'" in result.summary
    assert [f.id for f in result.findings] == ["pii_not_scanned"]
    assert result.metrics["pii"]["rows_scanned"] == 0


def test_an_outputs_sample_with_no_column_that_can_hold_text_is_inconclusive() -> None:
    numbers_only = pd.DataFrame({"score": [0.1, 0.9], "approved": [True, False]})
    result = _posture(numbers_only)
    assert result.status is Status.INCONCLUSIVE
    assert "no column" in result.summary


def test_a_scanned_sample_still_passes_or_fails_on_what_it_holds() -> None:
    clean = pd.DataFrame({"explanation": ["approved", "denied"], "score": [0.1, 0.9]})
    assert _posture(clean).status is Status.PASS
    leaky = clean.assign(explanation=["mail ana@example.org", "denied"])
    assert _posture(leaky).status is Status.FAIL
