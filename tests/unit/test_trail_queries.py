"""Lists of chains a page at a time, read without every record of every chain: the summary query, its
cursor, the release index built on it, and ``release-gates evidence list``."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from release_gates import cli
from release_gates.evidence import EvidenceError, EvidenceStore
from release_gates.evidence.canonical import record_hash
from release_gates.evidence.queries import (
    MAX_PAGE,
    _row_hash,
    chain_summaries,
    head_of,
    latest_of_kind,
    parse_cursor,
    records_of,
    verified_tail,
)
from release_gates.evidence.schema import records as records_table
from release_gates.reports.trail import ReleaseIndex, digest
from tests.integration.evidence_support import switch_off_guards

FINDING = {"id": "CVE-1", "severity": "HIGH", "title": "t"}


def release(
    store: EvidenceStore, n: int, *, dag_id: str = "release_m", model: str = "m", seal: bool = True
) -> str:
    """A release chain with every kind a digest reads and some it does not."""
    rid = f"{dag_id}__run-{n}"
    started = {"model": model, "dag_id": dag_id, "run_id": f"run-{n}", "inputs": {"model_version": str(n)}}
    store.append(rid, "release_started", started)
    store.append(rid, "model_scored", {"rows": 10})
    store.append(rid, "check_result", {"check_id": "g.c", "status": "FAIL", "findings": [FINDING]})
    decision = store.append(
        rid, "gate_decision", {"gate": "g", "outcome": "remediate", "statuses": {}, "reason": ""}
    )
    item = {"gate": "g", "check_id": "g.c", "finding_id": "CVE-1", "title": "t", "severity": "HIGH"}
    item |= {"owner_role": "r", "owners": ["u"], "found_at": "2025-01-01T00:00:00+00:00"}
    store.append(rid, "remediation_item", {**item, "deadline": "2025-01-04T00:00:00+00:00"})
    ref = {"seq": decision.seq, "hash": decision.hash}
    waiver = {"choice": "waive", "gate": "g", "authorized": True, "answers_decision": ref, "task_id": "g.d"}
    store.append(rid, "human_decision", waiver)
    store.append(rid, "notification", {"role": "r", "ok": True})
    store.append(rid, "report", {"status": "ok", "files": []})
    if seal:
        store.append(rid, "release_sealed", {"decision": "released" if n % 2 else "held", "reasons": []})
    return rid


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EvidenceStore]:
    store = EvidenceStore(f"sqlite:///{tmp_path / 'evidence.db'}")
    store.migrate()
    yield store
    store.dispose()


@pytest.fixture
def statements(store: EvidenceStore) -> Iterator[list[str]]:
    """The SQL statements the store runs while the test runs."""
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    event.listen(store.engine, "before_cursor_execute", count)
    yield seen
    event.remove(store.engine, "before_cursor_execute", count)


def test_summaries_page_newest_first_and_a_cursor_stays_put_while_chains_are_added(
    store: EvidenceStore,
) -> None:
    ids = [release(store, n) for n in range(1, 8)]
    store.append("monitor__m", "monitoring_window", {"window": {"end": "x"}})
    store.append("target__t", "lease_acquired", {"holder": "h"})
    first = chain_summaries(store, limit=3, releases_only=True)
    assert [s.release_id for s in first] == ids[::-1][:3]
    newest = first[0]
    assert (newest.model, newest.run_id, newest.decision, newest.head_seq) == ("m", "run-7", "released", 9)
    assert newest.sealed_at is not None and newest.head_hash == store.records(ids[-1])[-1].hash
    assert newest.started is not None and newest.started["dag_id"] == "release_m"
    release(store, 8)  # a new release arrives between two pages
    second = chain_summaries(store, limit=3, before=first[-1].cursor, releases_only=True)
    assert [s.release_id for s in second] == ids[::-1][3:6]
    assert [s.release_id for s in chain_summaries(store, limit=3, offset=6, releases_only=True)] == ids[::-1][
        5:
    ]
    # Every chain, monitoring and target chains too, without releases_only; an open chain has no seal.
    everything = chain_summaries(store, limit=MAX_PAGE + 1)
    assert len(everything) == 10 and {"monitor__m", "target__t"} <= {s.release_id for s in everything}
    monitor = next(s for s in everything if s.release_id == "monitor__m")
    assert (monitor.started, monitor.sealed, monitor.sealed_at, monitor.model) == (None, None, None, None)
    assert chain_summaries(store, limit=0) == []


def test_an_open_release_has_no_decision_and_a_bad_cursor_is_named(store: EvidenceStore) -> None:
    release(store, 1, seal=False)
    (summary,) = chain_summaries(store)
    assert (summary.sealed_at, summary.decision, summary.to_dict()["decision"]) == (None, None, None)
    for bad in ("", "no-separator", "|rel", "2025|"):
        with pytest.raises(ValueError, match="not a page cursor"):
            chain_summaries(store, before=bad)
    assert parse_cursor(summary.cursor) == (summary.created_at, summary.release_id)


def test_a_page_is_one_query_and_a_cached_page_reads_no_record(
    store: EvidenceStore, statements: list[str]
) -> None:
    ids = [release(store, n) for n in range(1, 31)]
    index = ReleaseIndex(store)
    statements.clear()
    page = index.page(10)
    assert [d.release_id for d in page] == ids[::-1][:10]
    assert len(statements) == 2  # the page's summaries, then the digests' records of all ten at once
    assert "kind IN" in statements[1]  # only the kinds a digest reads
    statements.clear()
    assert index.page(10) == page and len(statements) == 1  # same heads: nothing read again
    statements.clear()
    assert [d.release_id for d in index.page(10, page=3)] == ids[::-1][20:30] and len(statements) == 2


def test_digests_read_only_their_kinds_and_match_the_digest_of_every_record(store: EvidenceStore) -> None:
    rid = release(store, 1)
    info = store.chain(rid)
    index = ReleaseIndex(store)
    everything = store.records(rid)
    expected = digest(
        rid, everything, created_at=info.created_at, sealed_at=info.sealed_at, head=info.head_hash
    )
    (summary,) = chain_summaries(store)
    assert index.digests([summary]) == [expected]
    assert expected.gates == {"g": "remediate"} and expected.findings_by_severity["HIGH"] == 1
    assert expected.recorded_dag_id == "release_m" and len(expected.items) == 1


def test_earlier_releases_of_a_model_are_found_past_other_models_and_dags(store: EvidenceStore) -> None:
    mine = [release(store, n) for n in range(1, 4)]
    for n in range(4, 30):  # a busy store: other models' releases started after them
        release(store, n, model="other")
    latest = release(store, 30)
    other_dag = release(store, 31, dag_id="release_x")
    index = ReleaseIndex(store)
    before = store.chain(latest).created_at
    earlier = index.earlier_of_model("m", before, exclude=latest, limit=10, scan=100)
    assert [d.release_id for d in earlier] == mine[::-1]
    assert index.earlier_of_model("m", before, limit=10, scan=10) == []  # only the 10 started last
    assert [d.release_id for d in index.earlier_of_model("m", before, limit=2)] == mine[::-1][:2]
    later = store.chain(other_dag).created_at
    kept = index.earlier_of_model("m", later, limit=10, keep=lambda d: d.recorded_dag_id == "release_m")
    assert [d.release_id for d in kept] == [latest, *mine[::-1]]


def test_bulk_reads_heads_and_last_of_a_kind(store: EvidenceStore) -> None:
    a, b = release(store, 1), release(store, 2, seal=False)
    both = records_of(store, [a, b, "missing"], kinds=["check_result", "release_sealed"])
    assert [r.kind for r in both[a]] == ["check_result", "release_sealed"]
    assert [r.kind for r in both[b]] == ["check_result"] and both["missing"] == []
    assert records_of(store, []) == {}
    assert head_of(store, a) == (9, store.records(a)[-1].hash) and head_of(store, "missing") is None
    found = latest_of_kind(store, a, "check_result")
    assert found is not None and found.seq == 3 and latest_of_kind(store, a, "rollback") is None


def test_the_fast_row_hash_is_the_record_hash(store: EvidenceStore) -> None:
    store.append("rel-ü", "check_result", {"x": "ünïcode ✓"}, actor="dag.tâche#2")
    store.append("rel-ü", "check_result", {"x": 1}, actor=None)
    with store.engine.connect() as conn:
        rows = conn.execute(records_table.select().where(records_table.c.release_id == "rel-ü")).all()
    for row in rows:
        fields = {k: getattr(row, k) for k in ("release_id", "seq", "kind", "recorded_at", "actor")}
        expected = record_hash(**fields, payload_sha256=row.payload_sha256, prev_hash=row.prev_hash)
        assert _row_hash(row) == expected == row.hash


def test_a_verified_tail_names_an_edited_or_missing_record(store: EvidenceStore) -> None:
    rid = release(store, 1)
    assert [r.seq for r in verified_tail(store, rid, 4)] == [4, 5, 6, 7, 8, 9]
    with store.engine.begin() as conn:
        switch_off_guards(conn)
        conn.execute(
            records_table.update()
            .where(records_table.c.release_id == rid, records_table.c.seq == 6)
            .values(payload='{"choice":"approve"}')
        )
    with pytest.raises(EvidenceError, match="#6: the payload does not match"):
        verified_tail(store, rid, 4)
    assert [r.seq for r in verified_tail(store, rid, 7)] == [7, 8, 9]
    with store.engine.begin() as conn:
        switch_off_guards(conn)
        conn.execute(
            records_table.delete().where(records_table.c.release_id == rid, records_table.c.seq == 8)
        )
    with pytest.raises(EvidenceError, match="#8 is missing"):
        verified_tail(store, rid, 7)


# --------------------------------------------------------------------------------------------------
# release-gates evidence list
# --------------------------------------------------------------------------------------------------


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = cli.main(list(argv), out=out)
    return code, out.getvalue()


def test_evidence_list_pages_by_number_and_by_cursor(store: EvidenceStore) -> None:
    url = str(store.engine.url)
    ids = [release(store, n) for n in range(1, 6)]
    store.append("monitor__m", "monitoring_window", {"window": {"end": "x"}})
    code, out = run("evidence", "list", "--url", url, "--limit", "2", "--json")
    page = json.loads(out)
    assert code == 0 and [c["release_id"] for c in page["chains"]] == ["monitor__m", ids[-1]]
    assert page["chains"][1]["decision"] == "released" and page["chains"][1]["model"] == "m"
    code, out = run(
        "evidence", "list", "--url", url, "--limit", "2", "--before", page["next_before"], "--json"
    )
    second = json.loads(out)
    assert [c["release_id"] for c in second["chains"]] == ids[::-1][1:3] and second["page"] is None
    code, out = run("evidence", "list", "--url", url, "--limit", "2", "--page", "2", "--json")
    assert json.loads(out)["chains"] == second["chains"]
    code, out = run("evidence", "list", "--url", url, "--limit", "2", "--page", "3", "--json")
    last = json.loads(out)  # a full page always ends with a cursor; the page after it is empty
    assert [c["release_id"] for c in last["chains"]] == ids[::-1][3:5]
    code, out = run(
        "evidence", "list", "--url", url, "--limit", "2", "--before", last["next_before"], "--json"
    )
    assert json.loads(out) == {"chains": [], "limit": 2, "page": None, "next_before": None}
    code, out = run("evidence", "list", "--url", url, "--limit", "4")
    assert code == 0 and out.count(" records  ") == 4 and "next page: release-gates evidence list" in out
    code, out = run("evidence", "list", "--url", url, "--page", "9")
    assert code == 0 and "no more chains" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--limit", "0"), "--limit must be 1"),
        (("--limit", str(MAX_PAGE + 1)), "--limit must be 1"),
        (("--page", "0"), "--page must be 1 or more"),
        (("--page", "2", "--before", "2025|x"), "not both"),
        (("--before", "garbage"), "not a page cursor"),
    ],
)
def test_evidence_list_refuses_bad_paging(
    store: EvidenceStore, argv: tuple[str, ...], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run("evidence", "list", "--url", str(store.engine.url), *argv)
    assert code == 2 and message in out + capsys.readouterr().err
