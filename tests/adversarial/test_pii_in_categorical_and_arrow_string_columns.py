"""Personal data hides from the PII scan when its column is not stored as ``object``.

The attack: the same e-mail addresses, phone and card numbers, stored in a pandas ``category``
column or an Arrow-backed string column (what ``read_parquet(dtype_backend="pyarrow")`` returns).
Every text-like column is scanned whatever its dtype.
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest

from release_gates.checks.pii import scan_pii
from release_gates.checks.posture import evaluate_security_posture
from release_gates.policy import PostureCheck
from release_gates.results import Status

VALUES = ["ana@example.org", "call (415) 555-0132", "card 4111 1111 1111 1111", None]
DTYPES = {
    "category": "category",
    "string_python": "string[python]",
    "string_pyarrow": "string[pyarrow]",
    "arrow_string": pd.ArrowDtype(pa.string()),
    "arrow_large_string": pd.ArrowDtype(pa.large_string()),
    "object": object,
}


@pytest.mark.parametrize("name", list(DTYPES))
def test_every_text_dtype_is_scanned(name: str) -> None:
    frame = pd.DataFrame({"explanation": pd.Series(VALUES, dtype=DTYPES[name]), "score": [0.1] * 4})
    scan = scan_pii(frame)
    assert scan.columns_scanned == ["explanation"]
    found = {h.pattern: h.rows for h in scan.hits}
    assert found == {"email": [0], "phone": [1], "card_number": [2]}


def test_categorical_and_arrow_integers_holding_card_numbers_are_scanned() -> None:
    card = 4111111111111111
    frame = pd.DataFrame(
        {
            "account_cat": pd.Series([card, 7], dtype="category"),
            "account_arrow": pd.Series([card, 7], dtype=pd.ArrowDtype(pa.int64())),
            "scores_cat": pd.Series([0.5, 0.25], dtype="category"),
        }
    )
    scan = scan_pii(frame)
    assert scan.columns_scanned == ["account_cat", "account_arrow"]
    assert {(h.pattern, h.column) for h in scan.hits} == {
        ("card_number", "account_cat"),
        ("card_number", "account_arrow"),
    }


def test_the_posture_check_fails_on_pii_in_a_categorical_column() -> None:
    outputs = pd.DataFrame({"explanation": pd.Series(VALUES, dtype="category")})
    spec = PostureCheck.model_validate({"kind": "posture", "outputs_sample": "outputs"})
    result = evaluate_security_posture(None, spec, outputs=outputs, check_id="security.posture")
    assert result.status is Status.FAIL
    assert {f.id for f in result.findings} == {"pii_email", "pii_phone", "pii_card_number"}
    assert "ana@example.org" not in result.to_json()
