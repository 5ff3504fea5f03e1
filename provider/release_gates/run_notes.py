"""The release decision as the DAG run's note, where Airflow users already look (grid, runs list).

A held release is a green "success" run: every task did its job, the job was to hold. The note says
``HELD: <reason>`` so nobody takes that run for a release.

How the note gets there. Airflow 3.3 runs tasks through the Task SDK, whose execution API lets a task
read its DAG run (``note`` included) but not write its note: only a *trigger* carries a note there;
the public REST API (``PATCH /api/v2/dags/{dag_id}/dagRuns/{run_id}``) can, but a task holds no user
credentials for it, and a task process has no metadata-database session (the supervisor blocks ORM
access). So the seal step pushes the note text as an XCom (:data:`RUN_NOTE_KEY`), and a *listener*
(Airflow's public listener interface, registered by the provider's plugin) writes it when the run
ends: ``on_dag_run_success`` / ``on_dag_run_failed`` fire in the component that changed the run's
state — the scheduler, or ``dag.test()`` — with the run as an ORM object in its session, so setting
``dag_run.note`` is committed with that state change. A note a person wrote is kept below ours.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow.listeners import hookimpl

#: The XCom key the seal step pushes the note under.
RUN_NOTE_KEY = "release_gates_run_note"
#: The note column's size (``dag_run_note.content``).
NOTE_LIMIT = 1000
LABELS = {"released": "RELEASED", "held": "HELD", "aborted": "ABORTED", "rolled_back": "ROLLED BACK"}


def run_note(summary: Mapping[str, Any], release_id: str) -> str:
    """The note for a sealed release: ``HELD: <first reason>`` (the decision in capitals, then the
    one-line reason), and on a second line the evidence chain to open."""
    decision = str(summary.get("decision") or "undecided")
    label = LABELS.get(decision, decision.upper())
    reasons = [str(r) for r in summary.get("reasons") or [] if str(r).strip()]
    waived = sorted(summary.get("waived") or {})
    if reasons:
        reason = reasons[0] + (f" (+{len(reasons) - 1} more)" if len(reasons) > 1 else "")
    elif decision == "released":
        reason = (
            "every gate cleared"
            + (f" (waived: {', '.join(waived)})" if waived else "")
            + (", signed off and promoted")
        )
    else:
        reason = "no reason recorded"
    first = " ".join(f"{label}: {reason}".split())  # one line, whatever the reason held
    second = f"Evidence: {release_id} (Release gates tab of this run)"
    return f"{first[: NOTE_LIMIT - len(second) - 2]}\n\n{second}"


def note_with(existing: str | None, ours: str) -> str:
    """``ours`` on top; a note someone wrote stays below it (ours replaces an earlier one of ours)."""
    kept = (existing or "").strip()
    if not kept or kept.split(":", 1)[0] in LABELS.values() or kept == ours:
        return ours
    return f"{ours}\n\n{kept}"[:NOTE_LIMIT]


def _session_of(dag_run: Any) -> Any:
    """The session the run's state change is being made in: the run's own, or — when the caller
    passed a detached run with its session (``dag.test()`` does) — the thread's scoped session,
    which is the one the caller is using (Airflow's sessions are thread-scoped)."""
    from sqlalchemy.orm import object_session

    session = object_session(dag_run)
    if session is None:
        from airflow import settings

        scoped: Any = settings.Session  # None only before Airflow configured its ORM
        session = scoped()
    return session


def write_run_note(dag_run: Any, session: Any) -> str | None:
    """Set the run's note from the seal's :data:`RUN_NOTE_KEY` XCom; None (nothing done) when the run
    has none — not a release DAG, or a release whose seal did not finish."""
    from airflow.models.dagrun import DagRunNote
    from airflow.models.xcom import XComModel
    from sqlalchemy import select

    query = (
        select(XComModel)
        .where(
            XComModel.dag_id == dag_run.dag_id,
            XComModel.run_id == dag_run.run_id,
            XComModel.key == RUN_NOTE_KEY,
        )
        .limit(1)
    )
    row = session.scalars(query).first()
    if row is None:
        return None
    ours = XComModel.deserialize_value(row)
    if not isinstance(ours, str) or not ours:
        return None
    # The note row itself, by the run's id: the run object may not belong to this session.
    note = session.get(DagRunNote, dag_run.id)
    if note is None:
        note = DagRunNote(content=ours)  # type: ignore[no-untyped-call]
        note.dag_run_id = dag_run.id
        session.add(note)
    else:
        note.content = note_with(note.content, ours)
    return str(note.content)


def _write_safely(dag_run: Any) -> None:
    """:func:`write_run_note` in a savepoint: whatever goes wrong, the caller's transaction (the
    scheduler's, which also holds the run's new state) is left as it was; the note is only a note."""
    import logging

    try:
        session = _session_of(dag_run)
        with session.begin_nested():
            write_run_note(dag_run, session)
    except Exception:
        logging.getLogger(__name__).exception("could not write the release decision as the run's note")


@hookimpl
def on_dag_run_success(dag_run: Any, msg: str) -> None:
    _write_safely(dag_run)


@hookimpl
def on_dag_run_failed(dag_run: Any, msg: str) -> None:
    _write_safely(dag_run)
