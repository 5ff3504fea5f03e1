from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from release_gates.results import (
    SCHEMA_PATH,
    SCHEMA_VERSION,
    Artifact,
    CheckResult,
    Finding,
    Severity,
    Status,
    json_schema,
)

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _result(**overrides: object) -> CheckResult:
    fields: dict[str, object] = {
        "check_id": "ethics.fairness",
        "kind": "fairness",
        "status": Status.FAIL,
        "summary": "selection_rate ratio 0.62 < 0.80 for afam=yes",
        "metrics": {"groups": [{"group": {"afam": "yes"}, "n": 339, "rate": None}], "ratio": 0.62},
        "findings": [
            Finding(
                id="selection_rate.ratio_min",
                severity=Severity.HIGH,
                title="four-fifths rule",
                location="afam",
            ),
            Finding(id="CVE-2099-1", severity=Severity.CRITICAL, title="x", waived_by="CVE-2099-1"),
        ],
        "inputs": {"eval": {"sha256": "a" * 64, "rows": 714}},
        "artifacts": [Artifact(name="report", uri="file:///tmp/r.html", sha256="b" * 64)],
        "engine": {"release-gates": "0.1.0"},
        "started_at": T0,
        "finished_at": T0 + timedelta(seconds=2),
    }
    fields.update(overrides)
    return CheckResult(**fields)  # type: ignore[arg-type]


def test_json_round_trip_is_lossless() -> None:
    result = _result()
    text = result.to_json()
    again = CheckResult.from_json(text)
    assert again == result
    assert again.to_json() == text
    assert CheckResult.from_dict(json.loads(text)) == result
    assert again.started_at.tzinfo is not None


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ([Status.PASS, Status.WARN], Status.WARN),
        ([Status.PASS, Status.INCONCLUSIVE, Status.WARN], Status.INCONCLUSIVE),
        ([Status.FAIL, Status.INCONCLUSIVE], Status.FAIL),
        ([Status.FAIL, Status.ERROR, Status.PASS], Status.ERROR),
        ([], Status.INCONCLUSIVE),
    ],
)
def test_worst_status_fails_closed(statuses: list[Status], expected: Status) -> None:
    assert Status.worst(statuses) is expected


def test_exit_codes() -> None:
    assert {s: s.exit_code for s in Status} == {
        Status.PASS: 0,
        Status.WARN: 0,
        Status.FAIL: 1,
        Status.INCONCLUSIVE: 3,
        Status.ERROR: 4,
    }


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"metrics": {"rate": float("nan")}}, "not JSON-safe"),
        ({"metrics": {"rate": float("inf")}}, "not JSON-safe"),
        ({"metrics": {"when": datetime(2026, 1, 1)}}, "not JSON-safe"),
        ({"metrics": {1: "x"}}, "valid string"),
        ({"summary": "two\nlines"}, "one line"),
        ({"started_at": datetime(2026, 1, 1)}, "timezone"),
        ({"finished_at": T0 - timedelta(seconds=1)}, "before started_at"),
        ({"status": "MAYBE"}, "status"),
        ({"schema_version": "2.0"}, "unsupported CheckResult schema_version"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_invalid_results_are_refused(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        _result(**overrides)


def test_numpy_scalars_must_be_converted_at_the_engine_boundary() -> None:
    import numpy as np

    with pytest.raises(ValidationError, match="int64 is not JSON-safe"):
        _result(metrics={"n": np.int64(5)})
    # numpy.float64 subclasses float; it is normalized so the round trip stays exact.
    result = _result(metrics={"rate": np.float64(0.1)})
    assert type(result.metrics["rate"]) is float
    assert CheckResult.from_json(result.to_json()) == result


def test_views_used_by_operators_and_reports() -> None:
    result = _result()
    assert [f.id for f in result.active_findings()] == ["selection_rate.ratio_min"]
    assert result.counts_by_severity() == {"CRITICAL": 0, "HIGH": 1, "MEDIUM": 0, "LOW": 0, "INFO": 0}
    assert result.counts_by_severity(include_waived=True)["CRITICAL"] == 1
    summary = result.summary_for_xcom()
    json.dumps(summary)
    assert summary["status"] == "FAIL" and "metrics" not in summary
    assert result.duration_seconds == 2


def test_error_result_is_one_line() -> None:
    result = CheckResult.error(
        check_id="security.image_scan", kind="image_scan", message="trivy not found\n on PATH"
    )
    assert result.status is Status.ERROR
    assert result.summary == "trivy not found on PATH"


def test_published_json_schema_is_current_and_validates_results() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    published = json.loads(SCHEMA_PATH.read_text())
    assert published == json.loads(json.dumps(json_schema(), sort_keys=True)), "run `make schema`"
    assert SCHEMA_VERSION in published["$id"]
    jsonschema.validate(json.loads(_result().to_json()), published)
    broken = json.loads(_result().to_json())
    broken["status"] = "MAYBE"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, published)
