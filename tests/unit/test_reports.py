"""Release reports from a recorded evidence trail: wording, numbers, heat map, checklist, bundles."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from pathlib import Path

import pytest

from release_gates.checks.fairness import wilson_interval
from release_gates.cli import main
from release_gates.evidence import verify_bundle
from release_gates.reports.build import build_report
from release_gates.reports.render import checklist_csv
from release_gates.reports.rows import MISSING, worst_recorded_status
from release_gates.reports.seal import record_release_report
from release_gates.reports.trail import load_from_bundle, load_from_store
from release_gates.reports.wording import describe_criterion
from tests.report_fixtures import T0, RecordedReleases, payloads, recorded_releases


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> RecordedReleases:
    return recorded_releases(tmp_path_factory.mktemp("reports"))


@pytest.fixture(scope="module")
def report(recorded: RecordedReleases):  # type: ignore[no-untyped-def]
    return build_report(load_from_store(recorded.store, recorded.current), now=T0)


def expected_interval() -> str:
    a_low, a_high = wilson_interval(500, 1000)  # type: ignore[misc]
    b_low, b_high = wilson_interval(100, 400)  # type: ignore[misc]
    return f"{b_low / a_high:.2f}–{b_high / a_low:.2f}"


def test_decision_in_two_sentences_names_the_failing_criterion(report) -> None:  # type: ignore[no-untyped-def]
    assert report.decision == "held"
    assert len(report.headline) == 2
    assert report.headline[0] == "credit-model version 2 was HELD: gate ethics failed and needs remediation."
    criterion = f"Selection rate for g=b is 0.50 of g=a's (needs ≥ 0.80); 95% interval {expected_interval()}"
    assert report.headline[1] == (
        f"Deciding criterion: {criterion}; 1 remediation item(s) are open for aisha, "
        "the first due 2026-01-08 09:00 UTC."
    )
    ethics = report.gates[0]
    assert (ethics.gate_id, ethics.verdict, ethics.owner_role, ethics.owners) == (
        "ethics",
        "remediate",
        "ethics_reviewer",
        ["aisha"],
    )
    assert ethics.decisive == criterion


def test_other_gates_show_summary_and_top_findings(report) -> None:  # type: ignore[no-untyped-def]
    gates = {g.gate_id: g for g in report.gates}
    assert gates["security"].verdict == "remediate"
    assert gates["security"].decisive == (
        "1 CRITICAL over the limit 0 — CRITICAL libssl: remote code execution; HIGH openssl: fixed upstream; "
        "HIGH zlib: fixed upstream"
    )
    assert gates["security"].cleared_by["user"] == "li"  # waived by its owner, with a rationale
    assert gates["operations"].decisive == "rolled back in 41 ms and forward again (budget 15m)"
    assert [g.owner_role for g in report.gates] == [
        "ethics_reviewer",
        "data_steward",
        "security_engineer",
        "ops_oncall",
    ]


def test_difference_criterion_wording_orders_the_recorded_interval_ends() -> None:
    # The engine records the unfavourable end as ci_low: for a difference that is the larger one.
    text = describe_criterion(
        {
            "metric": "fnr",
            "rule": "difference_max",
            "threshold": 0.15,
            "value": 0.308686,
            "ci_low": 0.411269,
            "ci_high": 0.209815,
            "groups_compared": ["afam=yes", "afam=no"],
        },
        0.95,
    )
    assert text == (
        "False negative rate for afam=yes differs from afam=no's by 0.31 (needs ≤ 0.15); "
        "95% interval 0.21–0.41"
    )


def test_heat_map_cells_count_unwaived_findings_coloured_by_worst_status(report) -> None:  # type: ignore[no-untyped-def]
    hm = report.heatmap
    assert hm.gates == ["ethics", "data", "security", "operations"]
    assert hm.severities == ["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFO"]
    assert hm.counts == [[0, 1, 0, 0, 0], [0, 0, 1, 1, 0], [1, 2, 0, 0, 0], [0, 0, 0, 0, 0]]
    assert hm.cell("security", "HIGH") == (2, "FAIL")
    assert hm.cell("data", "MEDIUM") == (1, "WARN")
    assert hm.cell("operations", "CRITICAL") == (0, None)
    assert hm.waived[2][1] == 1
    assert hm.label(2, 1) == "2 FAIL (+1 waived)"
    assert report.findings_by_severity == {"CRITICAL": 1, "HIGH": 3, "MEDIUM": 1, "LOW": 1, "INFO": 0}


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        (["PASS", "WARN"], "WARN"),
        (["WARN", "INCONCLUSIVE", "PASS"], "INCONCLUSIVE"),
        (["INCONCLUSIVE", "FAIL"], "FAIL"),
        (["FAIL", "ERROR"], "ERROR"),
        (["ERROR", MISSING, "PASS"], MISSING),  # no result is as bad as an error, and says so
        (["PASS", None, "not a status"], "PASS"),  # what is no status does not count
        ([None], None),
        ([], None),  # nothing recorded is not INCONCLUSIVE: the report says "no checks"
    ],
)
def test_worst_recorded_status_ranks_like_status_worst_with_missing_last(
    statuses: list[str | None], expected: str | None
) -> None:
    assert worst_recorded_status(statuses) == expected


def test_heat_map_files_draw_the_same_matrix(recorded: RecordedReleases) -> None:
    data = json.loads((recorded.report_dir / "report.json").read_text())
    assert data["heatmap"]["counts"] == [[0, 1, 0, 0, 0], [0, 0, 1, 1, 0], [1, 2, 0, 0, 0], [0, 0, 0, 0, 0]]
    svg = (recorded.report_dir / "heatmap.svg").read_text()
    # SVG text stays text: every cell's label is readable without colour.
    for label in ("1 FAIL", "2 FAIL", "1 WARN", "(+1 waived)"):
        assert label in svg
    assert (recorded.report_dir / "heatmap.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_checklist_rows_match_the_policy(recorded: RecordedReleases, report) -> None:  # type: ignore[no-untyped-def]
    rows = list(csv.DictReader(io.StringIO((recorded.report_dir / "checklist.csv").read_text())))
    assert rows == list(csv.DictReader(io.StringIO(checklist_csv(report))))
    policy = recorded.policy
    checks = [(g, c, cid) for g, c, cid in policy.iter_checks()]
    assert [r["gate"] for r in rows] == [g.id for g, _, _ in checks] + ["sign-off", "sign-off"]
    for row, (gate, check, check_id) in zip(rows, checks, strict=False):
        assert row["check"].split(" ")[0] == check_id
        assert row["kind"] == check.kind
        assert row["owner_role"] == gate.owner
        assert row["owner_users"] == ", ".join(policy.users_of(gate.owner))
        assert row["rationale"].startswith(gate.rationale)
        assert row["evidence"].startswith(f"{recorded.current}#")
    fairness = rows[0]
    assert fairness["check"] == "ethics.fairness [selection_rate ratio_min]"
    assert fairness["criterion"].startswith("Selection rate ratio ≥ 0.8 for g against g=a")
    assert (fairness["estimate"], fairness["status"]) == ("4h", "FAIL")
    assert [r["status"] for r in rows] == ["FAIL", "WARN", "FAIL", "PASS", "not asked", "not asked"]
    assert rows[-1]["owner_role"] == "release_manager" and rows[-1]["owner_users"] == "admin"
    assert "no answer counts as a rejection" in rows[-1]["criterion"]
    seq = int(fairness["evidence"].rsplit("#", 1)[1])
    record = next(r for r in recorded.store.records(recorded.current) if r.seq == seq)
    assert record.payload["check_id"] == "ethics.fairness"


def test_small_groups_stay_suppressed(recorded: RecordedReleases, report) -> None:  # type: ignore[no-untyped-def]
    groups = {g["name"]: g for g in report.fairness[0].groups}
    assert groups["g=c"] == {
        "name": "g=c",
        "n": "<10",
        "suppressed": True,
        "value": None,
        "ci_low": None,
        "ci_high": None,
    }
    assert groups["g=b"]["n"] == 400 and groups["g=b"]["value"] == 0.25
    data = json.loads((recorded.report_dir / "report.json").read_text())
    suppressed = [g for p in data["fairness"] for g in p["groups"] if g["name"] == "g=c"]
    assert suppressed and all(g["n"] == "<10" and g["value"] is None for g in suppressed)


def test_fairness_panel_threshold_is_relative_to_the_reference(report) -> None:  # type: ignore[no-untyped-def]
    panel = report.fairness[0]
    assert (panel.reference, panel.threshold, panel.status) == ("g=a", 0.8, "FAIL")
    assert panel.threshold_lines == [0.4]  # 0.8 × the reference's selection rate 0.5


def test_remediation_waivers_and_decisions(recorded: RecordedReleases, report) -> None:  # type: ignore[no-untyped-def]
    items = report.remediation
    assert [(i.severity, i.gate) for i in items] == [
        ("CRITICAL", "security"),
        ("HIGH", "ethics"),
        ("HIGH", "security"),
        ("HIGH", "security"),
    ]
    assert items[0].deadline == "2026-01-06T09:00:00+00:00" and items[0].owners == ["li"]
    assert not any(i.overdue for i in items)  # as of T0
    later = build_report(load_from_store(recorded.store, recorded.current))  # now: long after the deadlines
    assert all(i.overdue for i in later.remediation)
    waivers = {w.id: w for w in report.waivers}
    assert waivers["CVE-2025-0002"].expires == "2027-01-31"
    assert waivers["CVE-2025-0002"].statement == "Not reachable from the model server."
    assert waivers["security:waive"].owner == "li" and waivers["security:waive"].expires is None
    assert [(d.user, d.choice) for d in report.decisions] == [("aisha", "delay"), ("li", "waive")]


def test_what_changed_since_the_previous_release(report) -> None:  # type: ignore[no-untyped-def]
    assert report.previous_release_id == "release_credit__rel-1"
    changes = report.changes
    for line in (
        "model version: 1 → 2",
        "decision: released → held",
        "gate security: passed → remediate",
        "check ethics.fairness: INCONCLUSIVE → FAIL",
        "Selection rate ratio by g: 0.96 → 0.50",
        "check security.image_scan: 1 new finding(s) — CRITICAL libssl: remote code execution",
    ):
        assert line in changes
    assert [p.label.split()[0] for p in report.history] == ["v1", "v2"]
    assert report.history[-1].current and report.history[-1].counts["CRITICAL"] == 1


def test_seal_records_the_report_files_with_their_hashes(recorded: RecordedReleases) -> None:
    [record] = payloads(recorded.store, recorded.current, "report")
    assert record["status"] == "ok" and record["decision"] == "held"
    names = [f["name"] for f in record["files"]]
    assert names[:4] == ["summary.html", "summary.md", "checklist.csv", "report.json"]
    assert {
        "heatmap.png",
        "heatmap.svg",
        "fairness_ethics.fairness.png",
        "drift_data.drift.png",
        "findings_history.png",
    } <= set(names)
    for entry in record["files"]:
        path = Path(entry["uri"].removeprefix("file://"))
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]
    kinds = [r.kind for r in recorded.store.records(recorded.current)]
    assert kinds[-3:] == ["policy_snapshot", "report", "release_sealed"]  # the seal covers the report
    assert recorded.store.verify(recorded.current).ok
    html = (recorded.report_dir / "summary.html").read_text()
    assert "was HELD: gate ethics failed" in html and "CVE-2025-0002" in html and "2027-01-31" in html


def test_a_report_failure_is_recorded_and_does_not_raise(tmp_path: Path, recorded: RecordedReleases) -> None:
    from release_gates.evidence import EvidenceStore

    store = EvidenceStore(f"sqlite:///{tmp_path / 'e.db'}")
    store.append("r", "release_started", {"model": "m"})
    files = record_release_report(
        store,
        "r",
        policy_path=tmp_path / "missing.yaml",
        pending_seal={},
        actor="t",
        out_dir=tmp_path / "out",
    )
    assert files == []
    [record] = payloads(store, "r", "report")
    assert record["status"] == "error" and "missing.yaml" in record["error"]
    store.append("r", "release_sealed", {"decision": "held"})
    assert store.verify("r").ok


def test_an_export_bundle_regenerates_the_same_report_offline(
    tmp_path: Path, recorded: RecordedReleases, report
) -> None:  # type: ignore[no-untyped-def]
    bundle = recorded.store.export_to(recorded.current, tmp_path / "bundle.json")
    offline = build_report(load_from_bundle(bundle), now=T0)
    assert offline.heatmap == report.heatmap
    assert offline.checklist == report.checklist
    assert offline.headline == report.headline
    assert offline.changes == [
        "No earlier release to compare with: built from an export bundle without an evidence store."
    ]
    out = io.StringIO()
    code = main(["report", "--bundle", str(bundle), "-o", str(tmp_path / "out"), "--no-charts"], out=out)
    assert code == 0, out.getvalue()
    assert "HELD" in out.getvalue()
    assert {p.name for p in (tmp_path / "out").iterdir()} == {
        "summary.html",
        "summary.md",
        "checklist.csv",
        "report.json",
        "MODEL_CARD.md",
    }


def test_a_tampered_bundle_still_reports_but_says_so_and_exits_1(
    tmp_path: Path, recorded: RecordedReleases
) -> None:
    data = recorded.store.export(recorded.current)
    data["records"][1]["payload"]["status"] = "PASS"  # someone "fixes" the fairness verdict
    path = tmp_path / "tampered.json"
    path.write_text(json.dumps(data))
    assert not verify_bundle(path).ok
    code = main(
        ["report", "--bundle", str(path), "-o", str(tmp_path / "out"), "--no-charts"], out=io.StringIO()
    )
    assert code == 1
    assert "does NOT verify" in (tmp_path / "out" / "summary.html").read_text()


def test_cli_report_from_the_store_and_policy_guard(tmp_path: Path, recorded: RecordedReleases) -> None:
    url = str(recorded.store.engine.url)
    out = io.StringIO()
    code = main(
        ["report", recorded.previous, "--url", url, "-o", str(tmp_path / "r1"), "--no-charts", "--json"],
        out=out,
    )
    assert code == 0
    assert json.loads(out.getvalue())["decision"] == "released"
    other = tmp_path / "other.yaml"
    other.write_text(recorded.policy_path.read_text() + "\n# edited\n")
    assert main(["report", recorded.previous, "--url", url, "--policy", str(other)], out=io.StringIO()) == 2
    assert main(["report", "nope", "--url", url], out=io.StringIO()) == 4


def test_markdown_summary_is_one_page(recorded: RecordedReleases) -> None:
    text = (recorded.report_dir / "summary.md").read_text()
    assert text.startswith("# credit-model version 2: HELD")
    assert re.search(r"\| security \| 1 FAIL \| 2 FAIL \(\+1 waived\) \|", text)
    assert len(text.splitlines()) < 80
