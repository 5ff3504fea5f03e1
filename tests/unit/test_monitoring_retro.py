"""``release-gates retro``: the learning-loop numbers, checked against a hand-built evidence history.

The history (model ``scorer``; every number below is counted by hand from it):

======  ======================  ======================  =======================================
        ethics.fairness         data.drift              security.image_scan
======  ======================  ======================  =======================================
r1      FAIL, waived            PASS                    FAIL, waived
        ("false positive: …")                           ("accepted until the base image …")
        item found at T0                                item found at T0
r2      FAIL, delayed           INCONCLUSIVE, accepted  FAIL, waived ("False-positive …")
        item found at T0+24h    ("small sample …")
r3      PASS at T0+72h          PASS                    PASS at T0+96h
======  ======================  ======================  =======================================

Production (``monitor__scorer``): windows 1–3 of data.drift PASS, FAIL, FAIL → one incident with
three notices, dismissed as "a false alarm"; monitor.volume PASS in all three. Another model's
release and monitoring chain must not be counted when ``--model scorer`` is asked for.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from release_gates.cli import main
from release_gates.cli.retro import parse_since
from release_gates.evidence import EvidenceStore
from release_gates.monitoring.retro import RetroReport, retro_report

T0 = datetime(2025, 1, 6, 9, tzinfo=UTC)
HOUR = timedelta(hours=1)
W = datetime(2025, 3, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def result(check_id: str, kind: str, status: str, finished: datetime = T0, **inputs: Any) -> dict[str, Any]:
    return {
        "check_id": check_id,
        "kind": kind,
        "status": status,
        "summary": status.lower(),
        "findings": [],
        "inputs": inputs,
        "finished_at": finished.isoformat(),
    }


def decision(gate: str, choice: str, rationale: str, *, authorized: bool = True) -> dict[str, Any]:
    return {"gate": gate, "choice": choice, "user": "aisha", "rationale": rationale, "authorized": authorized}


def item(check_id: str, found: datetime) -> dict[str, Any]:
    return {
        "check_id": check_id,
        "finding_id": "f",
        "title": "t",
        "severity": "HIGH",
        "owner_role": "o",
        "found_at": found.isoformat(),
        "deadline": (found + 72 * HOUR).isoformat(),
    }


def release(
    store: EvidenceStore, release_id: str, model: str, records: list[tuple[str, dict[str, Any]]]
) -> None:
    store.append(release_id, "release_started", {"model": model})
    for kind, payload in records:
        store.append(release_id, kind, payload)


def window(day: int) -> dict[str, str]:
    start = W + (day - 1) * DAY
    return {
        "start": start.isoformat(),
        "end": (start + DAY).isoformat(),
        "labelled_start": start.isoformat(),
        "labelled_end": (start + DAY).isoformat(),
    }


@pytest.fixture
def store(tmp_path: Path) -> EvidenceStore:
    store = EvidenceStore(f"sqlite:///{tmp_path / 'evidence.db'}")
    fairness, drift, scan = "ethics.fairness", "data.drift", "security.image_scan"
    release(
        store,
        "r1",
        "scorer",
        [
            ("check_result", result(fairness, "fairness", "FAIL")),
            ("check_result", result(drift, "drift", "PASS")),
            ("check_result", result(scan, "image_scan", "FAIL")),
            ("remediation_item", item(fairness, T0)),
            ("remediation_item", item(scan, T0)),
            (
                "human_decision",
                decision("ethics", "waive", "False positive: the gap is a labelling error upstream."),
            ),
            ("human_decision", decision("security", "waive", "Accepted until the base image is patched.")),
        ],
    )
    release(
        store,
        "r2",
        "scorer",
        [
            ("check_result", result(fairness, "fairness", "ERROR")),
            (
                "check_result",
                result(fairness, "fairness", "FAIL"),
            ),  # the retry's result is the one that counts
            ("check_result", result(drift, "drift", "INCONCLUSIVE")),
            ("check_result", result(scan, "image_scan", "FAIL")),
            ("remediation_item", item(fairness, T0 + 24 * HOUR)),
            ("human_decision", decision("ethics", "delay", "Retrain first.")),
            ("human_decision", decision("data", "accept_risk", "Small sample; watched in production.")),
            (
                "human_decision",
                decision("security", "waive", "False-positive scanner match: not in the image."),
            ),
            ("human_decision", decision("ethics", "waive", "no rationale given", authorized=False)),
        ],
    )
    release(
        store,
        "r3",
        "scorer",
        [
            ("check_result", result(fairness, "fairness", "PASS", T0 + 72 * HOUR)),
            ("check_result", result(drift, "drift", "PASS", T0 + 72 * HOUR)),
            ("check_result", result(scan, "image_scan", "PASS", T0 + 96 * HOUR)),
        ],
    )
    chain = "monitor__scorer"
    for day, status in ((1, "PASS"), (2, "FAIL"), (3, "FAIL")):
        store.append(chain, "check_result", result(drift, "drift", status, window=window(day)))
        store.append(chain, "check_result", result("monitor.volume", "volume", "PASS", window=window(day)))
    store.append(chain, "check_result", result(drift, "drift", "FAIL", window=window(3)))  # a re-run of day 3
    incident_id = "data.drift@20250303T0000Z"
    store.append(
        chain,
        "incident",
        {
            "action": "opened",
            "incident_id": incident_id,
            "check_id": drift,
            "monitored_check": "drift",
            "kind": "drift",
            "priority": "P2",
            "severity": "MEDIUM",
            "traffic_share": 1.0,
            "summary": "drift",
            "window": window(2),
            "status": "FAIL",
            "owner_role": "data_steward",
            "gate": "data",
        },
    )
    for step in (0, 1):
        store.append(
            chain, "notification", {"purpose": "escalation", "subject_id": incident_id, "step": step}
        )
    store.append(
        chain,
        "incident",
        {
            "action": "updated",
            "incident_id": incident_id,
            "window": window(3),
            "status": "FAIL",
            "summary": "drift",
        },
    )
    store.append(chain, "notification", {"purpose": "escalation", "subject_id": incident_id, "step": 2})
    store.append(
        chain,
        "acknowledgement",
        {
            "subject_id": incident_id,
            "action": "dismiss",
            "user": "tomas",
            "note": "A false alarm: a marketing campaign.",
            "authorized": True,
        },
    )
    # Another model: never counted for scorer.
    release(store, "other1", "other", [("check_result", result(fairness, "fairness", "FAIL"))])
    store.append("monitor__other", "check_result", result(drift, "drift", "FAIL", window=window(1)))
    return store


def test_retro_numbers_per_check_match_the_hand_count(store: EvidenceStore) -> None:
    report = retro_report(store, model="scorer")
    assert (report.releases, report.windows) == (3, 3)
    fairness = report.check("ethics.fairness").to_dict()
    assert {
        k: fairness[k]
        for k in (
            "release_runs",
            "release_failed",
            "release_inconclusive",
            "waived",
            "overridden",
            "false_positives",
            "windows",
            "incidents",
        )
    } == {
        "release_runs": 3,
        "release_failed": 2,
        "release_inconclusive": 0,
        "waived": 1,
        "overridden": 0,
        "false_positives": 1,
        "windows": 0,
        "incidents": 0,
    }
    # Items found at T0 and T0+24h, both closed by r3's PASS at T0+72h: 72 h and 48 h.
    assert (fairness["remediation_items"], fairness["remediation_closed"]) == (2, 2)
    assert (fairness["median_hours_to_close"], fairness["mean_hours_to_close"]) == (60.0, 60.0)

    drift = report.check("data.drift").to_dict()
    assert {
        k: drift[k]
        for k in (
            "release_runs",
            "release_failed",
            "release_inconclusive",
            "overridden",
            "false_positives",
            "windows",
            "window_failed",
            "incidents",
            "alerts",
            "alerts_per_incident",
        )
    } == {
        "release_runs": 3,
        "release_failed": 0,
        "release_inconclusive": 1,
        "overridden": 2,  # the accepted risk in r2, and the dismissed incident
        "false_positives": 1,  # the dismissal says "false alarm"
        "windows": 3,
        "window_failed": 2,
        "incidents": 1,
        "alerts": 3,
        "alerts_per_incident": 3.0,
    }

    scan = report.check("security.image_scan").to_dict()
    assert (scan["release_failed"], scan["waived"], scan["false_positives"]) == (2, 2, 1)
    assert (scan["remediation_items"], scan["remediation_closed"], scan["median_hours_to_close"]) == (
        1,
        1,
        96.0,
    )

    volume = report.check("monitor.volume").to_dict()
    assert (volume["windows"], volume["window_failed"], volume["release_runs"]) == (3, 0, 0)


def test_review_candidates(store: EvidenceStore) -> None:
    report = retro_report(store, model="scorer")
    assert report.never_fire == ["monitor.volume"]
    # Every image-scan failure was waived; drift's only incident was dismissed; fairness's r2 FAIL
    # was not waived (the owner delayed the release), so fairness is not a candidate.
    assert report.always_waived == ["data.drift", "security.image_scan"]
    assert report.to_dict()["review_candidates"] == {
        "never_fire": ["monitor.volume"],
        "always_waived": ["data.drift", "security.image_scan"],
        "could_not_run": [],
    }


def test_a_check_that_could_not_run_is_not_a_quiet_one(store: EvidenceStore) -> None:
    release(store, "r4", "scorer", [("check_result", result("monitor.volume", "volume", "ERROR"))])
    report = retro_report(store, model="scorer")
    assert report.check("monitor.volume").release_errors == 1
    assert "monitor.volume" not in report.never_fire
    assert report.errored == ["monitor.volume"]


def test_retro_and_the_releases_page_agree_on_open_items(store: EvidenceStore) -> None:
    """One definition of an open remediation item: open until its check passes again later."""
    from release_gates.monitoring.plan import monitor_chain_id
    from release_gates.reports.trail import ReleaseIndex
    from release_gates.ui.app import open_items_across

    report = retro_report(store, model="scorer")
    retro_open = sum(c.remediation_items - c.remediation_closed for c in report.checks)
    digests = [d for d in ReleaseIndex(store).recent(50) if d.model == "scorer"]
    production = [r.payload for r in store.records(monitor_chain_id("scorer"), kind="check_result")]
    page = open_items_across(digests, datetime.now(UTC), production)
    assert len(page) == retro_open
    # r1's items were shipped with waivers: still open until their checks passed again in r3.
    assert retro_open < sum(c.remediation_items for c in report.checks)


def test_every_model_and_since(store: EvidenceStore) -> None:
    everything = retro_report(store)
    assert (everything.releases, everything.check("ethics.fairness").release_failed) == (4, 3)
    assert everything.check("data.drift").windows == everything.windows == 4  # 3 of scorer, 1 of other
    # Windows and incidents from day 2 on; releases were recorded today, after the date.
    since = retro_report(store, model="scorer", since=W + 2 * DAY)
    drift = since.check("data.drift")
    assert (since.windows, drift.windows, drift.window_failed, drift.incidents) == (2, 2, 2, 1)
    assert since.releases == 3
    assert retro_report(store, model="scorer", since=datetime.now(UTC) + DAY).releases == 0


def test_parse_since() -> None:
    assert parse_since("2025-03-01") == datetime(2025, 3, 1, tzinfo=UTC)
    assert parse_since("2025-03-01T12:00:00+02:00") == datetime(2025, 3, 1, 10, tzinfo=UTC)
    assert parse_since(None) is None
    with pytest.raises(ValueError):
        parse_since("March")


def test_cli_retro_prints_the_table_and_json(store: EvidenceStore) -> None:
    out = io.StringIO()
    assert main(["retro", "--url", store.url, "--model", "scorer"], out) == 0
    text = out.getvalue()
    assert text.startswith("Retrospective for scorer: 3 release(s), 3 monitoring window(s)")
    assert "never fire:    monitor.volume" in text
    assert "always waived: data.drift, security.image_scan" in text
    row = next(line for line in text.splitlines() if line.startswith("data.drift"))
    assert row.split()[1:] == ["3", "0", "0", "2", "1", "3", "2", "0", "1", "3", "0", "0", "-"]
    out = io.StringIO()
    assert (
        main(["retro", "--url", store.url, "--model", "scorer", "--since", "2025-03-03", "--json"], out) == 0
    )
    data = json.loads(out.getvalue())
    assert data["since"] == "2025-03-03T00:00:00+00:00" and data["monitoring_windows"] == 2
    assert main(["retro", "--url", store.url, "--since", "soon"], io.StringIO()) == 2


def test_an_empty_store_reports_nothing(tmp_path: Path) -> None:
    report = retro_report(EvidenceStore(f"sqlite:///{tmp_path / 'empty.db'}"))
    assert isinstance(report, RetroReport) and report.checks == [] and report.never_fire == []
