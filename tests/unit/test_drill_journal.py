"""The target journal: leases taken by conditional append, drills whose process died mid-way.

A "kill" here is an exception no ``finally`` may handle: once raised, every call on the target
raises it too (the process is gone), so the engine's own restore cannot run — as after SIGKILL.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from release_gates.checks.drill_recovery import (
    TargetDrillJournal,
    interrupted_drill_result,
    interrupted_drills,
    recover_unfinished_drills,
)
from release_gates.checks.rollback_drill import RetryPolicy, run_rollback_drill
from release_gates.deploy.target_journal import (
    TargetJournal,
    TargetLeaseBusyError,
    active_lease,
    target_chain_id,
)
from release_gates.evidence import EvidenceStore
from release_gates.evidence.store import RECORD_KINDS, EvidenceHeadMovedError
from release_gates.results import Status
from tests.unit.test_rollback_drill_engine import Clock, MemoryTarget, spec


class Killed(BaseException):
    """The process died: nothing after this point runs in it."""


@pytest.fixture
def store(tmp_path: Path) -> EvidenceStore:
    return EvidenceStore(f"sqlite:///{tmp_path / 'evidence.db'}")


def test_record_kinds_are_declared() -> None:
    assert {"lease_acquired", "lease_released", "drill_started", "drill_finished", "drill_recovered"} <= set(
        RECORD_KINDS
    )


def test_append_if_head_refuses_a_stale_head(store: EvidenceStore) -> None:
    store.append_if_head("c", "lease_acquired", {"x": 1}, expected_seq=0)
    with pytest.raises(EvidenceHeadMovedError):
        store.append_if_head("c", "lease_acquired", {"x": 2}, expected_seq=0)
    assert store.append_if_head("c", "lease_released", {"x": 3}, expected_seq=1).seq == 2
    assert store.verify("c").ok


def test_a_held_lease_makes_others_wait_and_then_give_up(store: EvidenceStore) -> None:
    journal = TargetJournal(store, {"type": "lambda", "name": "f", "alias": "live"})
    lease = journal.acquire("rel-a:dag.drill", purpose="drill")
    with pytest.raises(TargetLeaseBusyError, match=r"held by rel-a:dag\.drill"):
        journal.acquire("rel-b:dag.promote", purpose="promotion", wait=0.2, poll=0.05)
    journal.release(lease)
    other = journal.acquire("rel-b:dag.promote", purpose="promotion", wait=0.2, poll=0.05)
    assert active_lease(journal.records()) == other
    assert journal.chain_id == target_chain_id({"alias": "live", "name": "f", "type": "lambda"})


def test_the_same_holder_takes_over_its_own_lease_and_anyone_an_expired_one(store: EvidenceStore) -> None:
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    journal = TargetJournal(store, {"type": "ecs", "name": "s"}, now=lambda: now[0])
    first = journal.acquire("rel-a:dag.drill", purpose="drill", ttl=60)
    retry = journal.acquire("rel-a:dag.drill", purpose="drill", ttl=60, wait=0)  # the killed try's retry
    assert journal.records()[-1].payload["takes_over"]["why"] == "same holder"
    assert retry.lease_id != first.lease_id
    with pytest.raises(TargetLeaseBusyError):
        journal.acquire("rel-b:dag.promote", purpose="promotion", wait=0)
    now[0] += timedelta(seconds=61)
    journal.acquire("rel-b:dag.promote", purpose="promotion", wait=0)
    assert journal.records()[-1].payload["takes_over"]["why"] == "expired"


def test_concurrent_takers_get_the_lease_one_at_a_time(store: EvidenceStore) -> None:
    journal = TargetJournal(store, {"type": "sagemaker", "name": "e"})
    inside, overlaps = [0], []
    lock = threading.Lock()

    def work(holder: str) -> None:
        with TargetJournal(store, journal.identity).hold(holder, purpose="x", wait=30, poll=0.01):
            with lock:
                inside[0] += 1
                overlaps.append(inside[0])
            threading.Event().wait(0.05)
            with lock:
                inside[0] -= 1

    threads = [threading.Thread(target=work, args=(f"h{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert overlaps == [1, 1, 1, 1]
    kinds = [r.kind for r in journal.records()]
    assert kinds == ["lease_acquired", "lease_released"] * 4


def _killable(target: MemoryTarget, at_step: str) -> None:
    """After the first call of ``at_step``'s method, the process is dead: every target call raises."""
    dead = [False]
    methods = (
        "current_version",
        "set_version",
        "wait_stable",
        "health",
        "previous_version",
        "version_exists",
    )
    originals = {name: getattr(target, name) for name in methods}

    def wrap(name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            if dead[0]:
                raise Killed
            value = originals[name](*args, **kwargs)
            if name == at_step:
                dead[0] = True
                raise Killed
            return value

        return call

    for name in methods:
        setattr(target, name, wrap(name))


def _drill_killed_after_rollback(
    store: EvidenceStore, clock: Clock, release_id: str = "rel-1"
) -> MemoryTarget:
    target = MemoryTarget(clock, deploy_seconds=0)
    journal = TargetJournal(store, target.identity())
    lease = journal.acquire(f"{release_id}:dag.drill", purpose="drill")
    _killable(target, "set_version")  # killed right after the rollback step changed the target
    with pytest.raises(Killed):
        run_rollback_drill(
            target,
            spec(),
            retry=RetryPolicy(base_delay=0),
            clock=clock,
            sleep=clock.sleep,
            journal=TargetDrillJournal(journal, lease, release_id, "operations.drill"),
        )
    return target


def test_engine_killed_after_the_rollback_leaves_an_unfinished_drill_that_the_retry_restores(
    store: EvidenceStore,
) -> None:
    clock = Clock()
    killed = _drill_killed_after_rollback(store, clock)
    assert killed.serving == "2"  # production is on the old version, and nothing in-process fixed it
    journal = TargetJournal(store, killed.identity())
    [unfinished] = journal.unfinished_drills()
    assert unfinished.payload["original_version"] == "3" and unfinished.payload["drill_version"] == "2"

    # The retry: a new process, a new view of the same target (still serving 2).
    retry_target = MemoryTarget(clock, serving="2", deploy_seconds=0)
    lease = journal.acquire("rel-1:dag.drill", purpose="drill", wait=0)  # takes over its own lease
    recoveries = recover_unfinished_drills(retry_target, journal, lease=lease, by="retry", stable_timeout=60)
    assert [r["outcome"] for r in recoveries] == ["restored"] and retry_target.serving == "3"
    interrupted = interrupted_drills(journal, release_id="rel-1", check_id="operations.drill", reported=())
    result = interrupted_drill_result(
        retry_target, check_id="operations.drill", interrupted=interrupted, recoveries=recoveries
    )
    assert result is not None and result.status is Status.INCONCLUSIVE  # never PASS
    assert result.findings[0].id == "drill_interrupted"
    assert result.metrics["interrupted_drills"] == [unfinished.drill_id]
    assert journal.unfinished_drills() == []
    # Once reported, the next try drills afresh.
    assert (
        interrupted_drills(
            journal, release_id="rel-1", check_id="operations.drill", reported=[unfinished.drill_id]
        )
        == []
    )


def test_recovery_never_overwrites_a_version_someone_else_set(store: EvidenceStore) -> None:
    clock = Clock()
    _drill_killed_after_rollback(store, clock)
    journal = TargetJournal(store, {"type": "memory", "name": "m"})
    promoted = MemoryTarget(clock, serving="4", deploy_seconds=0)  # another run promoted 4 meanwhile
    promoted.version_exists = lambda version: True  # type: ignore[method-assign]
    lease = journal.acquire("rel-1:dag.drill", purpose="drill", wait=0)
    recoveries = recover_unfinished_drills(promoted, journal, lease=lease, by="retry", stable_timeout=60)
    assert recoveries[0]["outcome"] == "changed_by_other" and promoted.serving == "4"
    assert promoted.history == []
    interrupted = interrupted_drills(journal, release_id="rel-1", check_id="operations.drill", reported=())
    result = interrupted_drill_result(
        promoted, check_id="operations.drill", interrupted=interrupted, recoveries=recoveries
    )
    assert result is not None and result.status is Status.ERROR
    assert result.findings[0].id == "target_changed_during_drill"


def test_recovery_does_not_write_when_another_holder_had_the_target(store: EvidenceStore) -> None:
    clock = Clock()
    _drill_killed_after_rollback(store, clock)
    journal = TargetJournal(store, {"type": "memory", "name": "m"})
    now = datetime.now(UTC) + timedelta(hours=2)  # the killed try's lease expired
    other = TargetJournal(store, journal.identity, now=lambda: now)
    journal.release(other.acquire("rel-2:dag.promote", purpose="promotion", wait=0))
    target = MemoryTarget(clock, serving="2", deploy_seconds=0)  # still on the drill's version …
    lease = other.acquire("rel-1:dag.drill", purpose="drill", wait=0)
    [recovery] = recover_unfinished_drills(target, journal, lease=lease, by="retry", stable_timeout=60)
    assert recovery["outcome"] == "changed_by_other" and recovery["held_by_others"] == ["rel-2:dag.promote"]
    assert target.history == []  # … but someone else held the target since: theirs stands


def test_a_restore_that_fails_keeps_the_drill_unfinished(store: EvidenceStore) -> None:
    clock = Clock()
    _drill_killed_after_rollback(store, clock)
    journal = TargetJournal(store, {"type": "memory", "name": "m"})
    from release_gates.deploy.calls import TargetError

    broken = MemoryTarget(clock, serving="2", fail_set=[TargetError("throttled", code="Throttling")])
    lease = journal.acquire("rel-1:dag.drill", purpose="drill", wait=0)
    [recovery] = recover_unfinished_drills(broken, journal, lease=lease, by="retry", stable_timeout=60)
    assert recovery["outcome"] == "restore_failed"
    assert len(journal.unfinished_drills()) == 1  # the next taker tries again
    interrupted = interrupted_drills(journal, release_id="rel-1", check_id="operations.drill", reported=())
    result = interrupted_drill_result(
        broken, check_id="operations.drill", interrupted=interrupted, recoveries=[recovery]
    )
    assert result is not None and result.status is Status.ERROR
    assert result.findings[0].id == "restore_failed"


def test_a_drill_that_cannot_record_its_intent_changes_nothing(store: EvidenceStore) -> None:
    clock = Clock()
    target = MemoryTarget(clock, deploy_seconds=0)

    class Unwritable:
        def drill_started(self, original: str, drill_version: str) -> None:
            raise RuntimeError("evidence store down")

        def drill_finished(self, restore: Any) -> None:
            raise AssertionError("never started")

    result = run_rollback_drill(
        target, spec(), retry=RetryPolicy(base_delay=0), clock=clock, sleep=clock.sleep, journal=Unwritable()
    )
    assert result.status is Status.ERROR and target.history == []


def test_a_finished_drill_is_journaled_and_not_recovered(store: EvidenceStore) -> None:
    clock = Clock()
    target = MemoryTarget(clock, deploy_seconds=0)
    journal = TargetJournal(store, target.identity())
    lease = journal.acquire("rel-9:dag.drill", purpose="drill")
    result = run_rollback_drill(
        target,
        spec(),
        retry=RetryPolicy(base_delay=0),
        clock=clock,
        sleep=clock.sleep,
        journal=TargetDrillJournal(journal, lease, "rel-9", "operations.drill"),
    )
    assert result.status is Status.PASS
    kinds = [r.kind for r in journal.records()]
    # The drill's end gives the target back in the same transaction: its last act on the target.
    assert kinds == ["lease_acquired", "drill_started", "drill_finished", "lease_released"]
    assert journal.records()[2].payload["outcome"] == "restored"
    assert journal.unfinished_drills() == []
    assert active_lease(journal.records()) is None
    journal.release(lease)  # the operator's own release afterwards writes nothing
    assert len(journal.records()) == 4


def test_a_drill_whose_lease_was_taken_over_ends_without_releasing_the_new_holders_lease(
    store: EvidenceStore,
) -> None:
    clock = Clock()
    now = [datetime.now(UTC)]
    target = MemoryTarget(clock, deploy_seconds=0)
    journal = TargetJournal(store, target.identity(), now=lambda: now[0])
    lease = journal.acquire("rel-9:dag.drill", purpose="drill", ttl=60)
    drill = TargetDrillJournal(journal, lease, "rel-9", "operations.drill")
    drill.drill_started("3", "2")
    now[0] += timedelta(seconds=61)  # the drill overran its lease; someone takes the target
    other = TargetJournal(store, target.identity(), now=lambda: now[0]).acquire(
        "rel-10:dag.promote", purpose="p"
    )
    drill.drill_finished({"restored": True, "final_version": "3"})
    kinds = [r.kind for r in journal.records()]
    assert kinds == ["lease_acquired", "drill_started", "lease_acquired", "drill_finished"]
    assert active_lease(journal.records()) == other


def test_the_drills_own_restore_never_overwrites_another_change() -> None:
    clock = Clock()
    target = MemoryTarget(clock, deploy_seconds=0, healthy_versions={"1", "2", "3", "4"})
    original_health = target.health

    def someone_promotes_then_health() -> Any:
        target.serving = "4"  # another run's promotion lands while the drill is on 2
        return original_health()

    target.health = someone_promotes_then_health  # type: ignore[method-assign]
    result = run_rollback_drill(
        target, spec(), retry=RetryPolicy(base_delay=0), clock=clock, sleep=clock.sleep
    )
    assert result.status is Status.ERROR and result.findings[0].id == "target_changed_during_drill"
    assert target.serving == "4" and target.history == ["2"]
    assert result.metrics["restore"]["changed_by_other"] == "4"


def _busy_target_history(store: EvidenceStore, identity: dict[str, Any], holders: int) -> None:
    """Other releases take and give back the target's lease, none of them able to restore."""
    for i in range(holders):
        journal = TargetJournal(store, identity, now=lambda: datetime.now(UTC) + timedelta(hours=2))
        journal.release(journal.acquire(f"rel-other-{i}:dag.promote", purpose="promotion", wait=0))


def test_a_long_target_chain_is_not_read_whole_and_an_old_unfinished_drill_is_still_found(
    store: EvidenceStore,
) -> None:
    clock = Clock()
    killed = _drill_killed_after_rollback(store, clock)
    _busy_target_history(store, killed.identity(), holders=40)
    journal = TargetJournal(store, killed.identity())
    whole = journal.records()
    assert len(whole) > 80
    state = journal.state()
    assert len(state) <= 4  # the old drill, the last lease and its release: not the whole chain
    [unfinished] = journal.unfinished_drills()
    assert [d.drill_id for d in unfinished_drills_of(whole)] == [unfinished.drill_id]

    # Recovery judges the old drill against every lease since it, not only those in the state.
    lease = journal.acquire("rel-1:dag.drill", purpose="drill", wait=0)
    target = MemoryTarget(clock, serving="2", deploy_seconds=0)
    [recovery] = recover_unfinished_drills(target, journal, lease=lease, by="retry", stable_timeout=60)
    assert recovery["outcome"] == "changed_by_other" and len(recovery["held_by_others"]) == 40
    assert target.history == []


def unfinished_drills_of(records: list[Any]) -> list[Any]:
    from release_gates.deploy.target_journal import started_drills

    return [drill for drill in started_drills(records) if drill.needs_restore]


def test_an_interrupted_drill_recovered_by_another_release_is_still_reported_to_its_retry(
    store: EvidenceStore,
) -> None:
    # The drill of rel-1 is killed; rel-2 takes the expired lease, restores the target and gives the
    # lease back; many others hold the target after; then rel-1's retry takes the lease. The drill
    # is nowhere in the state that lease was taken on, and still its retry must not drill and PASS.
    clock = Clock()
    killed = _drill_killed_after_rollback(store, clock)
    later = TargetJournal(store, killed.identity(), now=lambda: datetime.now(UTC) + timedelta(hours=2))
    lease = later.acquire("rel-2:dag.drill", purpose="drill", wait=0)
    restored = MemoryTarget(clock, serving="2", deploy_seconds=0)
    [recovery] = recover_unfinished_drills(restored, later, lease=lease, by="rel-2", stable_timeout=60)
    assert recovery["outcome"] == "restored"
    later.release(lease)
    _busy_target_history(store, killed.identity(), holders=5)

    retry = TargetJournal(store, killed.identity())
    retry_lease = retry.acquire("rel-1:dag.drill", purpose="drill", wait=0)
    assert recover_unfinished_drills(restored, retry, lease=retry_lease, by="retry", stable_timeout=60) == []
    assert all(r.kind != "drill_started" for r in retry.state())
    interrupted = interrupted_drills(retry, release_id="rel-1", check_id="operations.drill", reported=())
    assert [d.end_kind for d in interrupted] == ["drill_recovered"]
    result = interrupted_drill_result(
        restored, check_id="operations.drill", interrupted=interrupted, recoveries=[]
    )
    assert result is not None and result.status is Status.INCONCLUSIVE


def test_releasing_a_lease_someone_took_over_writes_nothing(store: EvidenceStore) -> None:
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    mine = TargetJournal(store, {"type": "ecs", "name": "s"}, now=lambda: now[0])
    lease = mine.acquire("rel-a:dag.drill", purpose="drill", ttl=60)
    now[0] += timedelta(seconds=61)
    theirs = TargetJournal(store, mine.identity, now=lambda: now[0])
    taken = theirs.acquire("rel-b:dag.promote", purpose="promotion", wait=0)
    mine.release(lease)  # my view is stale: the conditional append fails, it reads and sees theirs
    assert [r.kind for r in mine.records()] == ["lease_acquired", "lease_acquired"]
    assert active_lease(mine.state()) == taken


# -- a first try's lease written with its drill_started (one commit) ------------------------------


def _deferred_drill(
    store: EvidenceStore, target: MemoryTarget, clock: Clock, release_id: str, *, contended: Any = None
) -> tuple[Any, TargetDrillJournal]:
    journal = TargetJournal(store, target.identity())
    deferred = journal.defer(f"{release_id}:dag.drill", purpose="drill", release_id=release_id)
    assert deferred is not None
    drill = TargetDrillJournal(
        journal,
        None,
        release_id,
        "operations.drill",
        deferred=deferred,
        contended=contended,
        current_version=target.current_version,
    )
    result = run_rollback_drill(
        target, spec(), retry=RetryPolicy(base_delay=0), clock=clock, sleep=clock.sleep, journal=drill
    )
    return result, drill


def test_a_deferred_lease_is_written_with_drill_started_in_one_transaction(store: EvidenceStore) -> None:
    clock = Clock()
    target = MemoryTarget(clock, deploy_seconds=0)
    result, drill = _deferred_drill(store, target, clock, "rel-1")
    assert result.status is Status.PASS and target.serving == "3"
    records = TargetJournal(store, target.identity()).records()
    assert [r.kind for r in records] == [
        "lease_acquired",
        "drill_started",
        "drill_finished",
        "lease_released",
    ]
    lease, started = records[0], records[1]
    # The lease the drill names is the one written with it, and the two share one commit's time.
    assert started.payload["lease_id"] == lease.payload["lease_id"] == drill.lease.lease_id  # type: ignore[union-attr]
    assert lease.payload["unfinished"] == [] and started.payload["original_version"] == "3"
    assert active_lease(records) is None and store.verify(target_chain_id(target.identity())).ok


def test_a_deferred_lease_is_not_offered_while_another_holds_the_target_or_a_drill_is_unfinished(
    store: EvidenceStore,
) -> None:
    journal = TargetJournal(store, {"type": "memory", "name": "m"})
    held = journal.acquire("rel-2:dag.promote", purpose="promotion", ttl=60)
    assert journal.defer("rel-1:dag.drill", purpose="drill") is None
    # Expired, too: its holder may still be changing the target; a takeover reads the target after it.
    later = TargetJournal(store, journal.identity, now=lambda: datetime.now(UTC) + timedelta(minutes=5))
    assert later.defer("rel-1:dag.drill", purpose="drill") is None
    journal.release(held)
    assert journal.defer("rel-1:dag.drill", purpose="drill") is not None
    _drill_killed_after_rollback(store, Clock())  # leaves an unfinished drill
    assert TargetJournal(store, journal.identity).defer("rel-3:dag.drill", purpose="drill") is None


def test_a_deferred_lease_whose_head_moved_writes_nothing(store: EvidenceStore) -> None:
    journal = TargetJournal(store, {"type": "memory", "name": "m"})
    deferred = journal.defer("rel-1:dag.drill", purpose="drill")
    assert deferred is not None
    other = TargetJournal(store, journal.identity).acquire("rel-2:dag.promote", purpose="promotion")
    with pytest.raises(EvidenceHeadMovedError):
        journal.write_with_lease(deferred, "drill_started", {"drill_id": "d"})
    records = journal.records()
    assert [r.kind for r in records] == ["lease_acquired"] and active_lease(records) == other


def test_a_contended_deferred_drill_waits_for_the_lease_and_drills_from_the_true_original(
    store: EvidenceStore,
) -> None:
    """Another run took the target between this drill's read of it and its first write; it gave the
    target back unchanged, so this drill waits for the lease and goes ahead."""
    clock = Clock()
    target = MemoryTarget(clock, deploy_seconds=0)
    journal = TargetJournal(store, target.identity())
    taken: list[str] = []

    def contended() -> Any:
        lease = journal.acquire("rel-1:dag.drill", purpose="drill", wait=0)
        taken.append(lease.lease_id)
        return lease

    deferred = journal.defer("rel-1:dag.drill", purpose="drill")
    assert deferred is not None
    other = TargetJournal(store, target.identity())
    other.release(other.acquire("rel-2:dag.promote", purpose="promotion"))  # the head moves
    drill = TargetDrillJournal(
        journal, None, "rel-1", "operations.drill", deferred=deferred, contended=contended,
        current_version=target.current_version,
    )  # fmt: skip
    result = run_rollback_drill(
        target, spec(), retry=RetryPolicy(base_delay=0), clock=clock, sleep=clock.sleep, journal=drill
    )
    assert result.status is Status.PASS and target.serving == "3" and len(taken) == 1
    kinds = [r.kind for r in journal.records()]
    assert kinds == ["lease_acquired", "lease_released", "lease_acquired", "drill_started", "drill_finished",
                     "lease_released"]  # fmt: skip
    assert journal.records()[3].payload["lease_id"] == taken[0]


def test_a_contended_deferred_drill_never_drills_from_a_version_that_changed_meanwhile(
    store: EvidenceStore,
) -> None:
    """Attack: another run promotes version 1 between the drill's read (original 3) and its write.
    Drilling on would "restore" 3 over that promotion; the drill must stop before changing anything."""
    clock = Clock()
    target = MemoryTarget(clock, deploy_seconds=0)
    journal = TargetJournal(store, target.identity())

    def contended() -> Any:
        return journal.acquire("rel-1:dag.drill", purpose="drill", wait=0)

    deferred = journal.defer("rel-1:dag.drill", purpose="drill")
    assert deferred is not None

    class PromotedMeanwhile(TargetDrillJournal):
        def drill_started(self, original: str, drill_version: str, **kw: Any) -> None:
            other = TargetJournal(store, target.identity())
            lease = other.acquire("rel-2:dag.promote", purpose="promotion")
            target.serving = "1"  # the promotion, under its own lease
            other.release(lease)
            super().drill_started(original, drill_version, **kw)

    drill = PromotedMeanwhile(
        journal, None, "rel-1", "operations.drill", deferred=deferred, contended=contended,
        current_version=target.current_version,
    )  # fmt: skip
    result = run_rollback_drill(
        target, spec(), retry=RetryPolicy(base_delay=0), clock=clock, sleep=clock.sleep, journal=drill
    )
    assert result.status is Status.ERROR and target.serving == "1" and target.history == []
    [finding] = result.findings
    assert finding.id == "drill_step_failed" and "TargetChangedBeforeDrillError" in finding.title
    kinds = [r.kind for r in journal.records()]
    assert "drill_started" not in kinds and kinds[-1] == "lease_acquired"  # the operator's finally releases
    journal.release(drill.lease)  # type: ignore[arg-type]
    assert active_lease(journal.records()) is None


def test_the_drills_end_commits_unflushed_and_leaves_every_later_commit_durable(store: EvidenceStore) -> None:
    """The end of a drill and its lease's release commit without their own fsync (losing them is safe);
    the connection must not stay that way, or drill_started and every check result after would too."""

    def synchronous() -> int:
        with store.engine.connect() as conn:  # the pool hands this thread its one connection back
            return int(conn.exec_driver_sql("PRAGMA synchronous").scalar_one())

    store.append("warm", "note", {})
    durable = synchronous()
    assert durable >= 2  # FULL (or EXTRA): the store's default
    clock = Clock()
    target = MemoryTarget(clock, deploy_seconds=0)
    result, _drill = _deferred_drill(store, target, clock, "rel-1")
    assert result.status is Status.PASS
    assert synchronous() == durable
    records = TargetJournal(store, target.identity()).records()
    assert [r.kind for r in records][-2:] == ["drill_finished", "lease_released"]
    assert store.verify(target_chain_id(target.identity())).ok


def test_a_busy_database_while_taking_the_lease_is_read_again_not_an_error(
    store: EvidenceStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite can answer "database is locked" under heavy load; the lease transaction wrote nothing,
    so the taker reads and decides again. (A busy database cannot be produced on demand: the store's
    lock is replaced for one call, the boundary this test cannot drive.)"""
    from contextlib import contextmanager

    from sqlalchemy.exc import OperationalError

    real = store.locked
    calls = []

    @contextmanager
    def busy_once(chain_id: str) -> Any:
        calls.append(chain_id)
        if len(calls) == 1:
            raise OperationalError("BEGIN IMMEDIATE", {}, Exception("database is locked"))
        with real(chain_id) as txn:
            yield txn

    monkeypatch.setattr(store, "locked", busy_once)
    journal = TargetJournal(store, {"type": "memory", "name": "m"}, sleep=lambda _s: None)
    lease = journal.acquire("rel-1:dag.drill", purpose="drill", wait=0)
    assert len(calls) == 2 and active_lease(journal.records()) == lease
    assert [r.kind for r in journal.records()] == ["lease_acquired"]
