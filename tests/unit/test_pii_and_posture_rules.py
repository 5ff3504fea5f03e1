"""PII detection, bucket-policy rules and pinning rules (pure functions, no AWS)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from release_gates.checks.ops_readiness import image_pinned
from release_gates.checks.pii import luhn_valid, sample_positions, scan_pii
from release_gates.checks.posture import policy_findings

CARDS = ["4111 1111 1111 1111", "5500-0000-0000-0004", "340000000000009", "6011000000000004"]


@pytest.mark.parametrize("number", [c.replace(" ", "").replace("-", "") for c in CARDS])
def test_luhn_accepts_test_card_numbers(number: str) -> None:
    assert luhn_valid(number)


@pytest.mark.parametrize("number", ["4111111111111112", "1234567812345678", "12a4"])
def test_luhn_rejects_others(number: str) -> None:
    assert not luhn_valid(number)


def _hits(frame: pd.DataFrame, **kwargs: object) -> dict[tuple[str, str], dict[str, object]]:
    scan = scan_pii(frame, **kwargs)  # type: ignore[arg-type]
    return {(h["pattern"], h["column"]): h for h in scan.to_dict()["hits"]}


def test_builtin_detectors_count_per_column_and_row() -> None:
    frame = pd.DataFrame(
        {
            "text": [
                "write to a.b-c+tag@mail.example.co.uk or x@y.io",
                "tel +44 20 7946 0958",
                "(415) 555-0132 and 415.555.0199",
                f"paid with {CARDS[0]}, backup {CARDS[1]}",
                "ref 2024-01-15, order 4111111111111112, version 1.2.3",
                None,
            ],
            "card_as_int": [6011000000000004, 1, 2, 3, 4, 5],
            "score": [0.1] * 6,
        }
    )
    hits = _hits(frame)
    assert hits[("email", "text")]["count"] == 2 and hits[("email", "text")]["rows"] == [0]
    assert hits[("phone", "text")]["count"] == 3 and hits[("phone", "text")]["rows"] == [1, 2]
    assert hits[("card_number", "text")]["count"] == 2 and hits[("card_number", "text")]["rows"] == [3]
    assert hits[("card_number", "card_as_int")]["rows"] == [0]
    assert not any(column == "score" for _, column in hits)  # floats are not scanned
    assert ("phone", "card_as_int") not in hits


def test_policy_patterns_and_no_values_in_the_result() -> None:
    ids = ["AB123456C", "ZX987654A"]
    frame = pd.DataFrame({"note": [f"NI {ids[0]}", "nothing", f"NI {ids[1]} and {ids[0]}"]})
    scan = scan_pii(frame, {"uk_nino": r"\b[A-Z]{2}\d{6}[A-D]\b"})
    result = scan.to_dict()
    assert result["matches"] == 3
    assert result["hits"] == [
        {
            "pattern": "uk_nino",
            "column": "note",
            "count": 3,
            "rows_with_match": 2,
            "rows": [0, 2],
            "rows_truncated": False,
        }
    ]
    text = json.dumps(result)
    assert not any(value in text for value in ids)


def test_sampling_is_seeded_and_positions_refer_to_the_file() -> None:
    assert sample_positions(5, 10) == [0, 1, 2, 3, 4]
    sample = sample_positions(1000, 10, seed=7)
    assert (
        sample == sorted(sample) and len(set(sample)) == 10 and sample == sample_positions(1000, 10, seed=7)
    )
    frame = pd.DataFrame({"t": ["x@y.org" if i % 2 else "-" for i in range(1000)]})
    scan = scan_pii(frame, sample_rows=50, max_rows_listed=5)
    hit = scan.to_dict()["hits"][0]
    assert scan.sampled and scan.rows_scanned == 50 and scan.rows_total == 1000
    assert all(row % 2 == 1 for row in hit["rows"]) and len(hit["rows"]) == 5 and hit["rows_truncated"]


def _statement(**fields: object) -> dict[str, object]:
    return {
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::b/*",
        **fields,
    }


TLS = {
    "Effect": "Deny",
    "Principal": {"AWS": "*"},
    "Action": ["s3:*"],
    "Resource": "*",
    "Condition": {"BoolIfExists": {"aws:SecureTransport": ["false"]}},
}


def test_bucket_policy_rules() -> None:
    facts, findings = policy_findings("b", {"Statement": [TLS]})
    assert facts["tls_only"] and findings == []
    facts, findings = policy_findings("b", {"Statement": [TLS, _statement(Sid="Open")]})
    assert [f.id for f in findings] == ["policy_public_principal"] and "Open" in (findings[0].location or "")
    conditioned = _statement(Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}})
    assert policy_findings("b", {"Statement": [TLS, conditioned]})[1] == []
    named = _statement(Principal={"AWS": "arn:aws:iam::123456789012:role/reader"})
    assert policy_findings("b", {"Statement": [TLS, named]})[1] == []
    partial_tls = {**TLS, "Action": "s3:PutObject"}
    assert [f.id for f in policy_findings("b", {"Statement": partial_tls})[1]] == ["tls_not_enforced"]
    allow_tls = {**TLS, "Effect": "Allow", "Condition": {"Bool": {"aws:SecureTransport": "true"}}}
    ids = [f.id for f in policy_findings("b", {"Statement": [allow_tls]})[1]]
    assert ids == ["tls_not_enforced"]  # an Allow over TLS does not forbid plain HTTP
    assert [f.id for f in policy_findings("b", None)[1]] == ["tls_not_enforced"]


@pytest.mark.parametrize(
    ("reference", "pinned"),
    [
        ("registry.example/team/scorer@sha256:" + "a" * 64, True),
        ("registry.example/team/scorer:1.4@sha256:" + "0" * 64, True),
        ("registry.example/team/scorer:1.4", False),
        ("scorer@sha256:abc", False),
        ("scorer:latest", False),
    ],
)
def test_image_pinning(reference: str, pinned: bool) -> None:
    assert image_pinned(reference) is pinned
