"""The monitoring chain folded from a recorded snapshot is the fold of the whole chain, and a snapshot
that does not match the records it summarises is never used."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import update

from release_gates.evidence import EvidenceRecord, EvidenceStore
from release_gates.evidence.canonical import canonical_json, record_hash, sha256_text
from release_gates.evidence.schema import records as records_table
from release_gates.monitoring.escalation import due_incident_steps
from release_gates.monitoring.incidents import FoldLimits, MonitorState, fold_monitoring
from release_gates.monitoring.remediation_items import check_passes, first_pass_after
from release_gates.monitoring.rollback import last_rollback_at
from release_gates.monitoring.snapshot import (
    LIMITS,
    SNAPSHOT_KIND,
    FoldedChain,
    incident_owner,
    load_state,
    record_snapshot_if_due,
    snapshot_payload,
    state_from_json,
    state_to_json,
    window_summary,
)
from tests.integration.evidence_support import switch_off_guards

T0 = datetime(2025, 3, 1, tzinfo=UTC)
CHAIN = "monitor__m"
CHECKS = ("data.drift", "ethics.fairness")  # fairness is a labelled check: its streak reads labelled_start
INCIDENTS = ("data.drift@A", "data.drift@B", "ethics.fairness@A", "ethics.fairness@B")
SMALL = FoldLimits(windows=2, resolved=1, history=2)


def window(i: int) -> dict[str, str]:
    end = T0 + timedelta(hours=i)
    return {
        "start": (end - timedelta(hours=1)).isoformat(),
        "end": end.isoformat(),
        "labelled_start": (end - timedelta(hours=3)).isoformat(),
        "labelled_end": (end - timedelta(hours=2)).isoformat(),
    }


def payload_of(event: tuple[Any, ...]) -> tuple[str, dict[str, Any]]:
    """One monitoring record from a drawn event (kinds and fields as the monitoring DAG writes them)."""
    kind, a, b, i = event
    if kind == "monitoring_window":
        return kind, {"window": window(i), "verdicts": [{"check_id": CHECKS[a % 2], "status": b}]}
    if kind == "check_result":
        return kind, {
            "check_id": CHECKS[a % 2],
            "status": b,
            "inputs": {"window": window(i)},
            "finished_at": window(i)["end"],
        }
    if kind == "incident":
        incident_id = INCIDENTS[a % 4]
        action, status = b
        return kind, {
            "action": action,
            "incident_id": incident_id,
            "check_id": incident_id.split("@")[0],
            "monitored_check": "fairness" if incident_id.startswith("ethics") else "drift",
            "kind": "fairness" if incident_id.startswith("ethics") else "drift",
            "priority": ("P1", "P2", "P3")[i % 3],
            "severity": "HIGH",
            "traffic_share": (i % 7) / 7,
            "summary": f"window {i}",
            "owner_role": "ops",
            "gate": "g",
            "window": window(i),
            "status": status,
        }
    if kind == "notification":
        subject = (*INCIDENTS, "rel-1#4")[a % 5]
        return kind, {"subject_id": subject, "purpose": ("escalation", "rollback")[b % 2], "step": i % 3}
    if kind == "acknowledgement":
        subject = (*INCIDENTS, "rel-1#4")[a % 5]
        return kind, {"subject_id": subject, "action": ("acknowledge", "dismiss")[b % 2], "authorized": b < 2}
    statuses = ("done", "skipped", "error", "covered")
    return "rollback", {
        "incident_id": INCIDENTS[a % 4],
        "status": statuses[b % 4],
        "clock": window(i)["end"],
        "from_version": str(i % 3),
    }


EVENTS = st.one_of(
    st.tuples(
        st.just("monitoring_window"), st.integers(0, 1), st.sampled_from(["PASS", "FAIL"]), st.integers(0, 40)
    ),
    st.tuples(
        st.just("check_result"),
        st.integers(0, 1),
        st.sampled_from(["PASS", "WARN", "FAIL"]),
        st.integers(0, 40),
    ),
    st.tuples(
        st.just("incident"),
        st.integers(0, 3),
        st.sampled_from(
            [
                ("opened", "FAIL"),
                ("updated", "FAIL"),
                ("updated", "ERROR"),
                ("updated", "INCONCLUSIVE"),
                ("resolved", "PASS"),
            ]
        ),
        st.integers(0, 40),
    ),
    st.tuples(st.just("notification"), st.integers(0, 4), st.integers(0, 3), st.integers(0, 5)),
    st.tuples(st.just("acknowledgement"), st.integers(0, 4), st.integers(0, 3), st.integers(0, 5)),
    st.tuples(st.just("rollback"), st.integers(0, 3), st.integers(0, 3), st.integers(0, 40)),
)


def as_records(events: list[tuple[Any, ...]]) -> list[EvidenceRecord]:
    out = []
    for seq, event in enumerate(events, start=1):
        kind, payload = payload_of(event)
        out.append(EvidenceRecord(CHAIN, seq, kind, T0.isoformat(), "t", payload, "", "", f"h{seq}"))
    return out


def through_json(state: MonitorState) -> MonitorState:
    """As a reader gets it: recorded as canonical JSON, read back."""
    return state_from_json(json.loads(canonical_json(state_to_json(state))))


@settings(max_examples=300, deadline=None)
@given(
    events=st.lists(EVENTS, max_size=60),
    cuts=st.lists(st.integers(0, 60), max_size=3),
    limits=st.sampled_from([SMALL, FoldLimits(windows=1, resolved=0, history=1), LIMITS]),
)
def test_folding_onto_snapshots_is_the_fold_of_the_whole_chain(
    events: list[tuple[Any, ...]], cuts: list[int], limits: FoldLimits
) -> None:
    chain = as_records(events)
    whole = fold_monitoring(chain, limits=limits)
    state, done = None, 0
    for cut in sorted(min(c, len(chain)) for c in cuts):
        state = through_json(fold_monitoring(chain[done:cut], state, limits=limits))
        done = cut
    resumed = fold_monitoring(chain[done:], state, limits=limits)
    assert state_to_json(resumed) == state_to_json(whole)
    assert resumed == whole


@settings(max_examples=300, deadline=None)
@given(events=st.lists(EVENTS, max_size=60), found=st.integers(-2, 42), since=st.integers(-3, 42))
def test_the_bounded_fold_decides_as_the_complete_fold(
    events: list[tuple[Any, ...]], found: int, since: int
) -> None:
    """Open incidents, their escalation, rollbacks and which items production closed: the same with
    the DAG's limits as with everything kept (the drawn chains stay within the history limit)."""
    chain = as_records(events)
    bounded, complete = fold_monitoring(chain, limits=LIMITS), fold_monitoring(chain)
    opened = {k: v for k, v in complete.incidents.items() if v.open}
    assert {k: v for k, v in bounded.incidents.items() if v.open} == opened
    clock = T0 + timedelta(hours=45)
    policy = _monitoring()
    assert due_incident_steps(policy, bounded, clock) == due_incident_steps(policy, complete, clock)
    assert last_rollback_at(bounded) == last_rollback_at(complete)
    at = T0 + timedelta(hours=since)
    assert [i.streak_since(at) for i in bounded.incidents.values() if i.open] == [
        i.streak_since(at) for i in opened.values()
    ]
    # Remediation items close on any production pass after they were found: the latest one decides.
    every_pass = check_passes({}, chain)
    for check_id in CHECKS:
        item_found = T0 + timedelta(hours=found)
        assert (first_pass_after(check_id, item_found, bounded.passes()) is None) == (
            first_pass_after(check_id, item_found, every_pass) is None
        )


def _monitoring() -> Any:
    from release_gates.policy.monitoring import Monitoring

    return Monitoring.model_validate(
        {
            "schedule": "@hourly",
            "source": {"uri": "logs/", "timestamp": "ts"},
            "escalation": {"path": ["ops", "lead", "head"], "after": {"P1": "1h", "P2": "2h", "P3": "4h"}},
        }
    )


def test_a_long_open_incident_keeps_a_bounded_history_and_its_whole_streak() -> None:
    events = [("incident", 0, ("opened", "FAIL"), 1)]
    events += [("incident", 0, ("updated", "FAIL"), i) for i in range(2, 300)]
    chain = as_records(events)
    bounded, complete = fold_monitoring(chain, limits=LIMITS), fold_monitoring(chain)
    incident = bounded.incidents["data.drift@A"]
    assert len(incident.history) == LIMITS.history and incident.dropped == 299 - LIMITS.history
    assert incident.streak == complete.incidents["data.drift@A"].streak == 299
    late = T0 + timedelta(hours=250)  # after a rollback at 250 only the windows begun since count
    assert incident.streak_since(late) == complete.incidents["data.drift@A"].streak_since(late) == 49
    assert len(json.dumps(state_to_json(bounded))) < 60_000


# --------------------------------------------------------------------------------------------------
# In a store: snapshots recorded as the DAG's steps record them, and attacked
# --------------------------------------------------------------------------------------------------


def _store(tmp_path: Path) -> EvidenceStore:
    store = EvidenceStore(f"sqlite:///{tmp_path / 'evidence.db'}")
    store.migrate()
    return store


def _step(store: EvidenceStore, every: int) -> FoldedChain:
    """What each monitoring step does first: fold from the latest snapshot, record one when due."""
    folded = load_state(store, CHAIN)
    record_snapshot_if_due(folded, lambda kind, payload: store.append(CHAIN, kind, payload).seq, every=every)
    return folded


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=st.lists(EVENTS, min_size=1, max_size=80), steps=st.lists(st.integers(0, 80), max_size=6))
def test_a_store_with_recorded_snapshots_folds_as_the_whole_chain(
    tmp_path_factory: pytest.TempPathFactory, events: list[tuple[Any, ...]], steps: list[int]
) -> None:
    store = _store(tmp_path_factory.mktemp("snap"))
    for i, event in enumerate(events):
        store.append(CHAIN, *payload_of(event))
        if i in steps:
            _step(store, every=1)
    folded = load_state(store, CHAIN)
    whole = [r for r in store.records(CHAIN) if r.kind != SNAPSHOT_KIND]
    assert folded.ignored is None
    assert state_to_json(folded.state) == state_to_json(fold_monitoring(whole, limits=LIMITS))
    head = store.records(CHAIN)[-1]
    assert (folded.head_seq, folded.head_hash) == (head.seq, head.hash)
    snapshots = store.records(CHAIN, kind=SNAPSHOT_KIND)
    assert folded.snapshot_seq == (snapshots[-1].seq if snapshots else None)


def _chain_with_snapshot(tmp_path: Path) -> tuple[EvidenceStore, int]:
    """Window 1 opens a drift incident, a snapshot, then window 2 keeps it open."""
    store = _store(tmp_path)
    store.append(CHAIN, *payload_of(("monitoring_window", 0, "FAIL", 1)))
    store.append(CHAIN, *payload_of(("incident", 0, ("opened", "FAIL"), 1)))
    snapshot_seq = _step(store, every=1).head_seq + 1
    assert store.records(CHAIN)[-1].kind == SNAPSHOT_KIND
    store.append(CHAIN, *payload_of(("monitoring_window", 0, "FAIL", 2)))
    store.append(CHAIN, *payload_of(("incident", 0, ("updated", "FAIL"), 2)))
    folded = load_state(store, CHAIN)
    assert folded.snapshot_seq == snapshot_seq and folded.records_read == 4 and folded.ignored is None
    return store, snapshot_seq


def _rewrite(store: EvidenceStore, seq: int, payload: dict[str, Any], *, rehash: bool) -> None:
    """An edit made in the database, as someone with write access to the table would."""
    row = next(r for r in store.records(CHAIN) if r.seq == seq)
    text = canonical_json(payload)
    values: dict[str, Any] = {"payload": text}
    if rehash:
        digest = sha256_text(text)
        values["payload_sha256"] = digest
        values["hash"] = record_hash(
            release_id=CHAIN,
            seq=seq,
            kind=row.kind,
            recorded_at=row.recorded_at,
            actor=row.actor,
            payload_sha256=digest,
            prev_hash=row.prev_hash,
        )
    with store.engine.begin() as conn:
        switch_off_guards(conn)  # the owner of the database file: the append-only triggers go
        conn.execute(
            update(records_table)
            .where(records_table.c.release_id == CHAIN, records_table.c.seq == seq)
            .values(**values)
        )


def _forged(store: EvidenceStore, snapshot_seq: int) -> dict[str, Any]:
    """The recorded snapshot with its open incident removed, its state hash made to match."""
    payload = next(r for r in store.records(CHAIN) if r.seq == snapshot_seq).payload
    state = {**payload["state"], "incidents": []}
    return {**payload, "state": state, "state_sha256": sha256_text(canonical_json(state))}


def _expect_ignored(store: EvidenceStore, because: str) -> None:
    folded = load_state(store, CHAIN)
    assert folded.snapshot_seq is None and folded.ignored is not None and because in folded.ignored
    # Folded from the first record instead: the incident the forged state dropped is still open.
    assert folded.state.incidents["data.drift@A"].open
    assert [e["status"] for e in folded.state.incidents["data.drift@A"].history] == ["FAIL", "FAIL"]


def test_a_snapshot_edited_in_place_is_not_used(tmp_path: Path) -> None:
    store, seq = _chain_with_snapshot(tmp_path)
    _rewrite(store, seq, _forged(store, seq), rehash=False)
    _expect_ignored(store, "payload does not match its sha256")


def test_a_snapshot_edited_and_rehashed_no_longer_links_to_the_next_record(tmp_path: Path) -> None:
    store, seq = _chain_with_snapshot(tmp_path)
    _rewrite(store, seq, _forged(store, seq), rehash=True)
    _expect_ignored(store, f"#{seq + 1} does not link")


def test_a_snapshot_whose_summarised_record_was_rewritten_is_not_used(tmp_path: Path) -> None:
    store, seq = _chain_with_snapshot(tmp_path)
    source = seq - 1  # the incident record it was folded up to, rewritten and rehashed
    _, payload = payload_of(("incident", 0, ("opened", "FAIL"), 1))
    _rewrite(store, source, {**payload, "priority": "P3"}, rehash=True)
    _expect_ignored(store, "does not link")


def test_an_appended_snapshot_that_does_not_match_its_source_or_its_state_is_not_used(tmp_path: Path) -> None:
    store, seq = _chain_with_snapshot(tmp_path)
    genuine = next(r for r in store.records(CHAIN) if r.seq == seq).payload
    store.append(CHAIN, SNAPSHOT_KIND, {**genuine, "source_hash": "f" * 64})
    _expect_ignored(store, "not the one it was folded up to")
    store.append(CHAIN, SNAPSHOT_KIND, {**_forged(store, seq), "state_sha256": genuine["state_sha256"]})
    _expect_ignored(store, "does not match the state_sha256")
    store.append(CHAIN, SNAPSHOT_KIND, {**genuine, "limits": {"windows": 1, "resolved": 1, "history": 1}})
    _expect_ignored(store, "other limits")
    store.append(CHAIN, SNAPSHOT_KIND, {**genuine, "state": {"incidents": "?"}, "state_sha256": "?"})
    _expect_ignored(store, "state_sha256")


def test_no_snapshot_before_enough_windows_and_none_of_an_empty_chain(tmp_path: Path) -> None:
    store = _store(tmp_path)
    assert _step(store, every=1).head_seq == 0 and store.records(CHAIN) == []
    store.append(CHAIN, *payload_of(("monitoring_window", 0, "PASS", 1)))
    assert _step(store, every=2).windows_since_snapshot == 1
    assert store.records(CHAIN, kind=SNAPSHOT_KIND) == []
    store.append(CHAIN, *payload_of(("monitoring_window", 0, "PASS", 2)))
    _step(store, every=2)
    snapshot = store.records(CHAIN, kind=SNAPSHOT_KIND)[0].payload
    assert (snapshot["source_seq"], snapshot["format"]) == (2, 1)
    assert load_state(store, CHAIN).windows_since_snapshot == 0


def test_what_the_bounded_state_forgot_is_found_in_the_store(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.append(CHAIN, *payload_of(("monitoring_window", 0, "FAIL", 1)))
    store.append(CHAIN, *payload_of(("incident", 0, ("opened", "FAIL"), 1)))
    store.append(CHAIN, *payload_of(("incident", 0, ("resolved", "PASS"), 2)))
    for i in (2, 3):  # SMALL keeps two windows and one resolved incident
        store.append(CHAIN, *payload_of(("monitoring_window", 1, "PASS", i)))
    store.append(CHAIN, *payload_of(("incident", 1, ("opened", "FAIL"), 3)))
    store.append(CHAIN, *payload_of(("incident", 1, ("resolved", "PASS"), 4)))
    state = load_state(store, CHAIN, limits=SMALL).state
    assert window(1)["end"] not in state.windows and "data.drift@A" not in state.incidents
    assert "data.drift@B" in state.incidents
    summary = window_summary(store, CHAIN, window(1)["end"])
    assert summary is not None and summary["verdicts"][0]["status"] == "FAIL" and summary["seq"] == 1
    assert window_summary(store, CHAIN, window(99)["end"]) is None
    assert incident_owner(store, CHAIN, "data.drift@A") == (True, "ops")
    assert incident_owner(store, CHAIN, "data.drift@Z") == (False, None)


def test_a_snapshot_too_large_to_record_is_skipped_not_fatal(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.append(CHAIN, *payload_of(("monitoring_window", 0, "PASS", 1)))
    folded = load_state(store, CHAIN)
    folded.state.acknowledged = {f"rel-{i}#1": {"note": "x" * 1000} for i in range(1200)}
    assert len(canonical_json(snapshot_payload(folded))) > 1024 * 1024

    def append(kind: str, payload: dict[str, Any]) -> int:
        return store.append(CHAIN, kind, payload).seq

    assert record_snapshot_if_due(folded, append, every=1) is None
    assert store.records(CHAIN, kind=SNAPSHOT_KIND) == []


def test_the_snapshot_interval_is_a_positive_integer(monkeypatch: pytest.MonkeyPatch) -> None:
    from release_gates.monitoring.snapshot import ENV_EVERY, snapshot_every

    monkeypatch.setenv(ENV_EVERY, "7")
    assert snapshot_every() == 7
    for bad in ("0", "-3", "many"):
        monkeypatch.setenv(ENV_EVERY, bad)
        with pytest.raises(ValueError, match=ENV_EVERY):
            snapshot_every()
