"""Errors are classified: transient causes are retried, permanent ones fail the task at once (issue 16).

A check that could not run records its ERROR result first either way; then the operator raises
``CheckErrorException`` (Airflow retries it) for a database down, a timeout or throttling, and
``PermanentCheckError`` (an ``AirflowFailException``: no retry, the gate is blocked now) for a
missing file, bad labels, invalid input or a policy error.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from release_gates.exceptions import (
    DatasetError,
    DriftInputError,
    EvidenceError,
    EvidenceNotFoundError,
    EvidenceSealedError,
    FairnessInputError,
    InvalidTargetError,
    ModelLoadError,
    SuiteError,
    TrivyDbMissingError,
    TrivyNotFoundError,
    TrivyReportError,
    TrivyRunError,
    TrivyTimeoutError,
    is_transient,
)
from release_gates.policy import PolicyError


def _raised_from(outer: Exception, inner: Exception, *, hide: bool = True) -> Exception:
    """``outer`` as raised inside ``except inner`` (``from None`` when ``hide``, as our readers do)."""
    try:
        try:
            raise inner
        except Exception:
            if hide:
                raise outer from None
            raise outer  # noqa: B904 - the implicit context is what is tested
    except Exception as caught:
        return caught


@pytest.mark.parametrize(
    "error",
    [
        DatasetError("dataset 'eval': file not found: eval.parquet"),
        FairnessInputError("column 'approved' holds values outside the label set"),
        DriftInputError("column 'x' missing"),
        SuiteError("suite not found"),
        ModelLoadError("sha256 mismatch"),
        TrivyDbMissingError("vulnerability DB missing in offline mode"),
        TrivyNotFoundError("no trivy"),
        TrivyReportError("not JSON"),
        InvalidTargetError("filesystem target is not a directory: serving"),
        EvidenceSealedError("sealed"),
        EvidenceNotFoundError("no chain"),
        PolicyError([]),
        FileNotFoundError(2, "No such file or directory"),
        ValueError("bad input"),
        KeyError("no check"),
        sqlite3.OperationalError("no such table: scored_eval"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_permanent_errors(error: Exception) -> None:
    assert not is_transient(error)


@pytest.mark.parametrize(
    "error",
    [
        TrivyTimeoutError("timed out after 600s"),
        TrivyRunError("registry did not answer"),
        EvidenceError("database is down"),
        ConnectionRefusedError(111, "Connection refused"),
        TimeoutError("read timed out"),
        sqlite3.OperationalError("database is locked"),
        RuntimeError("something we do not know"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_transient_errors(error: Exception) -> None:
    assert is_transient(error)


def test_a_dataset_error_caused_by_a_refused_connection_is_transient() -> None:
    refused = _raised_from(
        DatasetError("dataset 'eval': cannot read"), ConnectionRefusedError(111, "refused")
    )
    assert is_transient(refused)
    missing_column = _raised_from(DatasetError("dataset 'eval': no column 'x'"), KeyError("x"))
    assert not is_transient(missing_column)
    down = _raised_from(
        DatasetError("dataset 'eval': cannot read"),
        sqlite3.OperationalError("could not connect to server: Connection refused"),
        hide=False,
    )
    assert is_transient(down)


def test_aws_throttling_is_transient_and_access_denied_is_not() -> None:
    from botocore.exceptions import ClientError

    def client_error(code: str) -> ClientError:
        return ClientError({"Error": {"Code": code, "Message": code}}, "DescribeAlarms")

    assert is_transient(client_error("ThrottlingException"))
    assert not is_transient(client_error("AccessDeniedException"))


# --------------------------------------------------------------------------------------------------
# The operator: record first, then retry or fail at once
# --------------------------------------------------------------------------------------------------


def _operator(tmp_path: Path, spec: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Any:
    from release_gates.operators.image_scan import ImageScanOperator

    monkeypatch.setenv("RELEASE_GATES_EVIDENCE_URL", f"sqlite:///{tmp_path / 'evidence.db'}")
    return ImageScanOperator(
        task_id="scan",
        check_id="security.image_scan",
        spec=spec,
        release_id="classified-1",
        artifacts_dir=str(tmp_path / "artifacts"),
    )


def _recorded(tmp_path: Path) -> dict[str, Any]:
    from release_gates.evidence import EvidenceStore

    (record,) = EvidenceStore(f"sqlite:///{tmp_path / 'evidence.db'}").records("classified-1")
    payload: dict[str, Any] = record.payload
    return payload


def test_a_missing_target_fails_at_once_after_the_error_is_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    from release_gates.exceptions import CheckErrorException
    from release_gates.operators.base import PermanentCheckError

    operator = _operator(tmp_path, {"image": str(tmp_path / "missing.json"), "target": "report"}, monkeypatch)
    with pytest.raises(PermanentCheckError, match="report target is not a file") as raised:
        operator.execute(context={})
    assert isinstance(raised.value, AirflowFailException) and isinstance(raised.value, CheckErrorException)
    assert "not retried" in str(raised.value)
    payload = _recorded(tmp_path)
    assert payload["status"] == "ERROR"
    assert payload["metrics"]["error"] == {"type": "InvalidTargetError", "transient": False}


def test_a_scan_that_timed_out_is_retried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    from release_gates.exceptions import CheckErrorException

    class TimingOutTrivy:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            pass

        def scan(self, *args: Any, **kwargs: Any) -> Any:
            raise TrivyTimeoutError("trivy image did not finish within 600s")

        def convert(self, *args: Any, **kwargs: Any) -> None:
            raise AssertionError("nothing to convert")

    monkeypatch.setattr("release_gates.hooks.trivy.TrivyHook", TimingOutTrivy)
    operator = _operator(tmp_path, {"image": "registry.example.org/model:1", "sbom": False}, monkeypatch)
    with pytest.raises(CheckErrorException, match="did not finish") as raised:
        operator.execute(context={})
    assert not isinstance(raised.value, AirflowFailException) and "retried" in str(raised.value)
    assert _recorded(tmp_path)["metrics"]["error"] == {"type": "TrivyTimeoutError", "transient": True}


def test_an_unreadable_policy_is_recorded_and_fails_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from release_gates.operators.base import PermanentCheckError
    from release_gates.operators.image_scan import ImageScanOperator

    monkeypatch.setenv("RELEASE_GATES_EVIDENCE_URL", f"sqlite:///{tmp_path / 'evidence.db'}")
    policy = tmp_path / "policy.yaml"
    policy.write_text("policy_version: 1\nrelease: {model: m}\n")
    operator = ImageScanOperator(
        task_id="scan", check_id="security.image_scan", policy_path=str(policy), release_id="classified-1"
    )
    with pytest.raises(PermanentCheckError):
        operator.execute(context={})
    payload = _recorded(tmp_path)
    assert payload["status"] == "ERROR" and payload["metrics"]["error"]["transient"] is False
