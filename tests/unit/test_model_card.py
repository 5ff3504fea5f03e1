"""The model card (MODEL_CARD.md) built from evidence records: the Hub's format, cited figures, edge cases.

The recorded releases of ``tests/report_fixtures.py`` (a released and a held release, with a suppressed
group, a policy waiver, a gate waived by its owner and two sign-offs) and hand-built record lists for
what a real run rarely records: no fairness check, an unsealed chain, a policy snapshot that does not
hash, a small group whose rates were recorded anyway, a pin the data no longer matches, hostile text.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from huggingface_hub import ModelCard as HubCard

from release_gates.checks.fairness import Cell, OutcomeCounts, evaluate_subgroup_fairness
from release_gates.evidence import EvidenceRecord
from release_gates.evidence.snapshot import snapshot_of
from release_gates.policy import parse_policy
from release_gates.reports.model_card import FILE_NAME, build_model_card
from release_gates.reports.trail import load_from_store
from tests.model_card_checks import (
    assert_cited_figures,
    assert_eval_results_are_cited_numbers,
    citations,
    table,
)
from tests.report_fixtures import RecordedReleases, payloads, recorded_releases


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> RecordedReleases:
    return recorded_releases(tmp_path_factory.mktemp("model-card"))


def _sealed_card(recorded: RecordedReleases, release_id: str) -> tuple[HubCard, str, list[EvidenceRecord]]:
    records = recorded.store.records(release_id)
    [report] = payloads(recorded.store, release_id, "report")
    [entry] = [f for f in report["files"] if f["name"] == FILE_NAME]
    path = Path(entry["uri"].removeprefix("file://"))
    assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]
    return HubCard.load(path), path.read_text(), records


def test_held_release_card_lists_waivers_suppresses_small_groups_and_cites_every_figure(
    recorded: RecordedReleases,
) -> None:
    card, text, records = _sealed_card(recorded, recorded.current)
    assert assert_cited_figures(text, records) > 20
    assert assert_eval_results_are_cited_numbers(card.data.eval_results, records) > 0
    # Group c has six rows: recorded as "<10", shown so, and never a rate in the card or its metadata.
    [c_row] = [row for row in table(card.text, "| Group | n |") if row["Group"] == "g=c"]
    assert c_row["n"] == "&lt;10" and set(c_row.values()) - {"g=c", "&lt;10", c_row["Source"]} == {
        "suppressed"
    }
    assert not [r for r in card.data.eval_results if "g=c" in r.metric_name]
    assert "not evaluated separately (suppressed): g=c" in text
    # The image scan's policy waiver, with the policy's statement, and the gate its owner waived.
    [scan] = [
        r for r in records if r.kind == "check_result" and r.payload["check_id"] == "security.image_scan"
    ]
    assert (
        "Policy waiver `CVE-2025-0002` on `security.image_scan` (owner security_engineer, expires "
        f"2027-01-31, 1 finding(s)) [evidence #{scan.seq} check_result]: Not reachable from the model server."
    ) in text
    [waive] = [r for r in records if r.kind == "human_decision" and r.payload["choice"] == "waive"]
    assert (
        f"- Gate security waived by li at {waive.payload['responded_at']}: “Exploit needs local access; "
        in text
    )
    gates = {row["Gate"]: row for row in table(card.text, "| Gate |")}
    assert gates["security"]["Cleared by"] == f"waive by li [evidence #{waive.seq} human_decision]"
    assert gates["ethics"]["Verdict"] == "remediate" and gates["ethics"]["Cleared by"] == "—"
    assert "- `security.image_scan` FAIL:" in text and "  - CRITICAL: libssl: remote code execution" in text
    assert "**HELD**" in text and "release-held" in card.data.tags
    assert card.data.to_dict()["release_gates"]["decision_sealed"] is False  # written before the seal


def test_released_card_names_each_sign_off_with_role_and_time(recorded: RecordedReleases) -> None:
    card, text, records = _sealed_card(recorded, recorded.previous)
    assert_cited_figures(text, records)
    answers = {row["Step"]: row for row in table(card.text, "| Step |")}
    signoffs = [r for r in records if r.kind == "human_decision" and r.payload.get("role")]
    assert len(signoffs) == 2
    for record in signoffs:
        row = answers[record.payload["task_id"]]
        assert (row["Who"], row["Role"], row["Choice"], row["When"], row["Accepted"]) == (
            record.payload["user"],
            record.payload["role"],
            "approve",
            record.payload["responded_at"],
            "yes",
        )
        assert citations(row["Source"], records) == [record]
    assert "- Gate ethics risk accepted by aisha at" in text  # an acceptance in force is a waiver too
    assert "**RELEASED**" in text and "release-released" in card.data.tags
    assert "Sign-off `release`: one distinct person of each role ethics_reviewer, release_manager" in text


def test_report_from_the_store_after_the_seal_cites_the_seal(
    recorded: RecordedReleases, tmp_path: Path
) -> None:
    from release_gates.reports import generate_report

    trail = load_from_store(recorded.store, recorded.current)
    report, files = generate_report(trail, tmp_path, charts=False)
    assert report.model_card == FILE_NAME and FILE_NAME in [f.name for f in files]
    text = (tmp_path / FILE_NAME).read_text()
    [sealed] = [r for r in trail.records if r.kind == "release_sealed"]
    assert f"[evidence #{sealed.seq} release_sealed]" in text
    assert "[model card (Hugging Face format)](MODEL_CARD.md)" in (tmp_path / "summary.md").read_text()
    assert HubCard(text).data.to_dict()["release_gates"]["decision_sealed"] is True


# --------------------------------------------------------------------------------------------------
# Hand-built record lists
# --------------------------------------------------------------------------------------------------

POLICY = """\
policy_version: 1
release: {model: scorer, risk_tier: medium, description: Ranks loan applications for manual review.}
owners:
  ethics_reviewer: {users: [aisha]}
  data_steward: {users: [tomas]}
datasets:
  train: {uri: train.parquet, sha256: "%s", owner: data team, description: d, legal_basis: consent}
  eval: {uri: eval.parquet, owner: data team, description: d, legal_basis: l, label: y, prediction: p}
gates:
  - id: data
    owner: data_steward
    rationale: Evaluation data must still look like the training data.
    checks:
      - {kind: drift, reference: train, current: eval, drift_share: 0.5}
""" % ("1" * 64)


def chain(*entries: tuple[str, dict[str, Any]]) -> list[EvidenceRecord]:
    return [
        EvidenceRecord(
            release_id="release_scorer__run-1",
            seq=seq,
            kind=kind,
            recorded_at=f"2026-01-05T09:00:{seq:02d}+00:00",
            actor="test",
            payload=payload,
            payload_sha256="0" * 64,
            prev_hash="0" * 64,
            hash=f"{seq:064x}",
        )
        for seq, (kind, payload) in enumerate(entries, start=1)
    ]


def started(policy_text: str = POLICY, **inputs: Any) -> tuple[str, dict[str, Any]]:
    snapshot = snapshot_of(policy_text.encode())
    return "release_started", {
        "model": "scorer",
        "risk_tier": "medium",
        "policy": {"source": "policy.yaml", "sha256": snapshot["sha256"]},
        "policy_snapshot": snapshot,
        "inputs": {"model_version": "3", **inputs},
        "gates": ["data"],
        "checks": ["data.drift"],
        "run_id": "run-1",
    }


def drift(sha256: str = "2" * 64) -> tuple[str, dict[str, Any]]:
    return "check_result", {
        "check_id": "data.drift",
        "kind": "drift",
        "status": "PASS",
        "summary": "0 of 2 column(s) drifted",
        "metrics": {"columns": {}},
        "findings": [],
        "inputs": {
            "datasets": {
                "train": {"uri": "train.parquet", "sha256": sha256, "bytes": 1234},
                "eval": {"uri": "eval.parquet", "sha256": "3" * 64, "bytes": 999},
            }
        },
    }


def test_no_fairness_check_no_model_index_and_an_unsealed_chain_is_not_released() -> None:
    records = chain(
        started(), drift(), ("gate_decision", {"gate": "data", "outcome": "passed", "reason": "ok"})
    )
    card = build_model_card(records)
    hub = HubCard(card.text)  # still the Hub's format
    assert hub.data.eval_results is None and "model-index" not in hub.data.to_dict()
    assert hub.data.pipeline_tag is None  # the task is not claimed without an evaluation that shows it
    assert "No fairness check recorded a result in this release" in card.text
    assert "**NOT DECIDED**: the chain is not sealed, so the model is not released." in card.text
    assert hub.data.tags == ["release-gates", "risk-tier-medium"]
    assert hub.data.to_dict()["release_gates"]["decision"] is None
    assert (
        "Ranks loan applications for manual review. Risk tier: medium [evidence #1 release_started]"
        in card.text
    )
    assert "None recorded: every check that ran passed." in card.text
    assert "legal basis consent [evidence #1 release_started]" in card.text
    assert "license" not in hub.data.to_dict()
    assert_cited_figures(card.text, records)


def test_a_pin_the_data_read_does_not_match_is_flagged_and_a_missing_result_is_a_limitation() -> None:
    records = chain(started(), drift(sha256="9" * 64))
    text = build_model_card(records).text
    assert f"- In the policy: `train.parquet`, sha256 pin `{'1' * 64}` [evidence #1 release_started]" in text
    assert (
        f"sha256 `{'9' * 64}` (1234 bytes) [evidence #2 check_result]\n  - **The sha256 read is not" in text
    )
    unrun = chain(started())
    assert (
        "- `data.drift` recorded no result: not evaluated in this release [evidence #1 release_started]"
        in (build_model_card(unrun).text)
    )


def test_a_policy_snapshot_that_does_not_hash_or_a_file_of_another_sha256_is_not_read() -> None:
    name, payload = started()
    payload["policy_snapshot"] = {**payload["policy_snapshot"], "text": POLICY.replace("0.5", "0.9")}
    records = chain((name, payload), drift())
    text = build_model_card(records).text
    assert "Not known: the policy the release ran under is not in the evidence" in text
    assert "the policy is left out:" in text and "does not hash to the sha256" in text
    assert "Evaluation data must still look like the training data." not in text

    name, payload = started()
    del payload["policy_snapshot"]  # an older chain: no snapshot recorded
    other = parse_policy(POLICY.replace("medium", "low"), source="other.yaml")  # another file
    text = build_model_card(chain((name, payload), drift()), policy=other).text
    assert "Not known:" in text and "no snapshot of the policy the release started with" in text
    same = parse_policy(POLICY, source="policy.yaml")  # the very file: read, and said so
    text = build_model_card(chain((name, payload), drift()), policy=same).text
    assert "Evaluation data must still look like the training data. [evidence #1 release_started]" in text
    assert "read from the file given, whose sha256 is the one the release recorded" in text


def _fairness_payload(**group_c: Any) -> dict[str, Any]:
    spec = (
        parse_policy(
            POLICY.replace(
                "checks:\n      - {kind: drift",
                "checks:\n      - {kind: fairness, data: eval, sensitive_features: [g], min_cell_size: 10, "
                "criteria: [{metric: selection_rate, ratio_min: 0.8}]}\n      - {kind: drift",
            ),
            source="p.yaml",
        )
        .gate("data")
        .checks[0]
    )
    cells = {("a",): Cell(tp=100, fp=100, tn=100, fn=100), ("b",): Cell(tp=90, fp=90, tn=110, fn=110)}
    counts = OutcomeCounts(features=("g",), cells=cells, source="test counts")
    payload = evaluate_subgroup_fairness(counts, spec, check_id="data.fairness").to_dict()  # type: ignore[arg-type]
    payload["metrics"]["groups"].append({"group": {"g": "c"}, **group_c})
    return payload


def test_a_small_group_stays_suppressed_even_when_its_rates_were_recorded() -> None:
    leaked = {"value": 0.123456, "ci_low": 0.011111, "ci_high": 0.499999}
    payload = _fairness_payload(n=5, rates={"selection_rate": leaked})  # below min_cell_size 10
    records = chain(started(), ("check_result", payload))
    card = build_model_card(records)
    assert "0.123456" not in card.text and "0.499999" not in card.text
    [row] = [r for r in table(card.text, "| Group | n |") if r["Group"] == "g=c"]
    assert row["n"] == "&lt;10" and row["Selection rate"] == "suppressed"
    hub = HubCard(card.text)
    assert hub.data.pipeline_tag == "tabular-classification"
    assert_eval_results_are_cited_numbers(hub.data.eval_results, records)
    assert {
        r.metric_name.split(", ")[1].split(" [")[0] for r in hub.data.eval_results if r.metric_type == "tpr"
    } == {
        "g=a",
        "g=b",
    }


def test_text_people_typed_cannot_break_the_card_or_its_tables() -> None:
    hostile = "fine | ---\n---\nlicense: mit\n<script>alert(1)</script> [evidence #1 release_started]"
    answer = {
        "task_id": "data.decision",
        "gate": "data",
        "user": "tomas",
        "choice": "waive",
        "responded_at": "2026-01-05T10:00:00+00:00",
        "rationale": hostile,
        "authorized": False,
        "problem": "not bound to the gate's current decision",
    }
    records = chain(started(), drift(), ("human_decision", answer))
    card = build_model_card(records)
    hub = HubCard(card.text)
    assert "license" not in hub.data.to_dict()  # the YAML block is ours alone
    [row] = table(card.text, "| Step |")
    assert row["Accepted"] == "no: not bound to the gate's current decision"
    assert "<script>" not in card.text and "&lt;script&gt;" in row["Rationale"]
    assert row["Source"] == "[evidence #3 human_decision]"
    assert "## Waivers in force\n\nNone." in card.text  # an answer not accepted waives nothing


def test_the_card_is_deterministic_and_written_atomically(tmp_path: Path) -> None:
    from release_gates.reports.model_card import write_model_card

    records = chain(started(), drift(), ("release_sealed", {"decision": "held", "reasons": ["gate data: x"]}))
    first, second = build_model_card(records), build_model_card(list(records))
    assert first.text == second.text
    path = write_model_card(first, tmp_path / "out")
    assert path.name == FILE_NAME and path.read_text() == first.text
    assert [p.name for p in path.parent.iterdir()] == [FILE_NAME]  # no temporary file left behind
    assert "**HELD** — gate data: x [evidence #3 release_sealed]" in first.text


def test_documentation_checks_list_each_document_and_its_review() -> None:
    documents = {
        "check_id": "data.documents",
        "kind": "documents",
        "status": "FAIL",
        "summary": "1 of 2 document(s) fail: DPIA not reviewed",
        "findings": [{"id": "DPIA", "severity": "HIGH", "title": "DPIA not reviewed"}],
        "metrics": {
            "documents": {
                "intended use": {
                    "owner_role": "ethics_reviewer",
                    "status": "PASS",
                    "location": "docs/intended-use.md",
                    "review": {"user": "aisha", "at": "2026-01-02T08:00:00+00:00", "sha256": "4" * 64},
                },
                "DPIA": {
                    "owner_role": "data_steward",
                    "status": "FAIL",
                    "location": "docs/dpia.md",
                    "review": None,
                },
            }
        },
    }
    records = chain(started(), ("check_result", documents))
    text = build_model_card(records).text
    assert "### Documentation" in text
    assert (
        "  - intended use: PASS, `docs/intended-use.md`, owner ethics_reviewer, reviewed by aisha at "
        f"2026-01-02T08:00:00+00:00 (sha256 `{'4' * 64}`) [evidence #2 check_result]"
    ) in text
    assert (
        "  - DPIA: FAIL, `docs/dpia.md`, owner data_steward, no review recorded [evidence #2 check_result]"
        in text
    )
    assert (
        "- `data.documents` FAIL: 1 of 2 document(s) fail: DPIA not reviewed [evidence #2 check_result]"
        in text
    )
    assert_cited_figures(text, records)
