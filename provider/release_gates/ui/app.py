"""The "Release gates" pages served by the Airflow API server (mounted at ``/release-gates``).

* ``/runs/{dag_id}/{run_id}`` — the tab on each DAG run: gates and verdicts, findings by severity,
  remediation items (overdue first in red), human decisions, the evidence chain's verification, the
  report files;
* ``/releases`` — the navigation page: releases of every model, newest first, a page at a time
  (``?limit=``, ``?page=`` or the ``?before=`` cursor of the page before), and the open remediation
  items of the releases shown, by deadline;
* ``/api/…`` — the same as JSON; ``/files/…`` — report files, served only if they still match the
  sha256 recorded in evidence.

Every route needs an authenticated Airflow user (the API's JWT: ``Authorization: Bearer`` or the UI's
``_token`` cookie) and, for a release, read access to its DAG's runs: Airflow does not authenticate
plugin routes itself. The DAG a release belongs to is the one its ``release_started`` record names,
never one read from an id (run ids are chosen by whoever triggers a run). A chain recorded before that
field existed names no DAG, so only a user who may read the runs of every DAG sees it. Pages show
aggregates from the evidence trail only, and may be framed by the Airflow UI only
(``Content-Security-Policy: frame-ancestors 'self'``).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlparse

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.responses import FileResponse, HTMLResponse

from release_gates.ui.release_ids import legacy_release_id_for, release_id_for
from release_gates.ui.routes import URL_PREFIX

if TYPE_CHECKING:
    from release_gates.evidence import EvidenceRecord, EvidenceStore
    from release_gates.reports.rows import ReleaseReport
    from release_gates.reports.trail import ReleaseDigest, ReleaseIndex

TEMPLATES = Path(__file__).parent / "templates"
SECURITY_HEADERS = {
    "Content-Security-Policy": "frame-ancestors 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


# --------------------------------------------------------------------------------------------------
# Evidence access (one store and one digest index per process; sealed chains never change)
# --------------------------------------------------------------------------------------------------


class _Evidence:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._store: EvidenceStore | None = None
        self._index: ReleaseIndex | None = None
        self._records: dict[str, tuple[str, list[EvidenceRecord]]] = {}
        self._passes: dict[str, tuple[str, dict[str, str]]] = {}

    @property
    def store(self) -> EvidenceStore:
        with self._lock:
            if self._store is None:
                from release_gates.hooks.evidence import EvidenceStoreHook

                self._store = EvidenceStoreHook().get_store()
            return self._store

    @property
    def index(self) -> ReleaseIndex:
        from release_gates.reports.trail import ReleaseIndex

        store = self.store
        with self._lock:
            if self._index is None:
                self._index = ReleaseIndex(store)
            return self._index

    def records(self, release_id: str, head_hash: str) -> list[EvidenceRecord]:
        cached = self._records.get(release_id)
        if cached is not None and cached[0] == head_hash:
            return cached[1]
        records = self.store.records(release_id)
        with self._lock:
            if len(self._records) > 256:
                self._records.clear()
            self._records[release_id] = (records[-1].hash if records else "", records)
        return records

    def production_passes(self, chain_id: str) -> dict[str, str]:
        """Check id → the latest production window it passed in, from the monitoring chain's folded
        state (its latest verified snapshot and what follows), cached by the chain's head hash."""
        from release_gates.evidence.queries import head_of
        from release_gates.monitoring.snapshot import load_state

        head = head_of(self.store, chain_id)
        if head is None:
            return {}
        cached = self._passes.get(chain_id)
        if cached is not None and cached[0] == head[1]:
            return cached[1]
        folded = load_state(self.store, chain_id)
        with self._lock:
            if len(self._passes) > 256:
                self._passes.clear()
            self._passes[chain_id] = (folded.head_hash, dict(folded.state.last_pass))
        return folded.state.last_pass

    def reset(self, store: EvidenceStore | None = None) -> None:
        with self._lock:
            self._store, self._index, self._records, self._passes = store, None, {}, {}


EVIDENCE = _Evidence()


def _is_run_of(found: ReleaseDigest, dag_id: str, run_id: str) -> bool:
    """Whether a chain found under the run's release id recorded this run of this DAG. An older
    chain names no DAG (and a chain without ``release_started`` not even its run): it may be this
    run's, and :class:`Access` decides who may see it."""
    if found.recorded_dag_id is None:
        return found.run_id in (run_id, None)
    return found.recorded_dag_id == dag_id and found.run_id == run_id


def find_release(dag_id: str, run_id: str) -> ReleaseDigest | None:
    """The chain of a DAG run: the one its ``release_started`` record says it is.

    Looked up under the release DAG's id for the run (:func:`release_id_for`), then under the id
    older chains were given, then among recent chains (a release DAG with its own ``release_id``);
    a chain found under the run's id but recorded by another DAG or run is not this run's.
    """
    from release_gates.evidence import EvidenceNotFoundError

    index = EVIDENCE.index
    for release_id in dict.fromkeys((release_id_for(dag_id, run_id), legacy_release_id_for(dag_id, run_id))):
        try:
            found = index.digest_of(index.store.chain(release_id))
        except EvidenceNotFoundError:
            continue
        if _is_run_of(found, dag_id, run_id):
            return found
    from release_gates.evidence.queries import chain_summaries

    # Among the 200 releases started last, those that recorded this run: only their digests are read.
    runs = [s for s in chain_summaries(index.store, limit=200, releases_only=True) if s.run_id == run_id]
    recent = index.digests(runs)
    recorded = (d for d in recent if d.recorded_dag_id == dag_id)
    older = (d for d in recent if d.recorded_dag_id is None and d.dag_id in (dag_id, None))
    return next(recorded, None) or next(older, None)


def release_report(found: ReleaseDigest, access: Access) -> ReleaseReport:
    """The release's report; earlier releases of its model only where the user may read them."""
    from release_gates.reports.build import build_report
    from release_gates.reports.trail import Trail

    records = EVIDENCE.records(found.release_id, found.head_hash)
    trail = Trail(
        release_id=found.release_id,
        records=records,
        verify=EVIDENCE.store.verify(found.release_id),
        source="evidence store",
        created_at=found.created_at,
        sealed_at=found.sealed_at,
    )
    if trail.model:
        # Releases of one model may run in several DAGs: history from a DAG the user may not read
        # would show its findings, so it is left out (looked for further back, up to 10 shown).
        earlier = EVIDENCE.index.earlier_of_model(
            trail.model, trail.created_at, exclude=trail.release_id, limit=50
        )
        trail.history = [d for d in earlier if access.may_read(d)][:10]
        previous = next((d for d in trail.history if d.sealed_at is not None), None)
        if previous is not None:
            trail.previous = EVIDENCE.records(previous.release_id, previous.head_hash)
            trail.previous_id = previous.release_id
    return build_report(trail)


def report_files(records: list[EvidenceRecord]) -> list[dict[str, Any]]:
    """The files of the latest successful ``report`` record, and the signed attestation the seal names
    (served like them: only while it matches the sha256 recorded)."""
    files: list[dict[str, Any]] = []
    for record in reversed(records):
        if record.kind == "report" and record.payload.get("status") == "ok":
            files = list(record.payload.get("files") or [])
            break
    sealed = next((r.payload for r in reversed(records) if r.kind == "release_sealed"), {})
    attestation = sealed.get("attestation")
    if isinstance(attestation, dict) and attestation.get("status") == "signed":
        files.append({**attestation, "media_type": "application/json"})
    return files


def report_status(records: list[EvidenceRecord]) -> dict[str, Any] | None:
    last = next((r for r in reversed(records) if r.kind == "report"), None)
    return (
        None if last is None else {"seq": last.seq, **{k: v for k, v in last.payload.items() if k != "files"}}
    )


def open_items_across(
    digests: list[ReleaseDigest], now: datetime, production: Sequence[dict[str, Any]] = ()
) -> list[dict[str, Any]]:
    """Remediation items still open — the one definition in
    :mod:`release_gates.monitoring.remediation_items`: until the item's check passes again, in a later
    release of the model (``digests``) or in production (``production``: monitoring CheckResults).
    Sorted by deadline, overdue flagged."""
    from release_gates.monitoring.remediation_items import is_open, passes_of_results

    results = [{"check_id": c, "status": "PASS", "finished_at": t} for d in digests for c, t in d.passes]
    passes = passes_of_results([*results, *production])
    out = []
    for found in digests:
        for item in found.items:
            if not is_open(item, passes):
                continue
            try:
                overdue = datetime.fromisoformat(str(item.get("deadline"))) < now
            except ValueError:
                overdue = False
            out.append(
                {
                    **item,
                    "release_id": found.release_id,
                    "model": found.model,
                    "model_version": found.model_version,
                    "dag_id": found.dag_id,
                    "run_id": found.run_id,
                    "overdue": overdue,
                }
            )
    return sorted(out, key=lambda i: str(i.get("deadline")))


def production_results(digests: list[ReleaseDigest]) -> list[dict[str, Any]]:
    """The production passes of the models in ``digests`` (they close items), as CheckResults: the
    latest pass of each check in each model's monitoring chain — an item closes on any pass after it
    was found, so the latest decides — read from the chain's folded state, not from every window."""
    from release_gates.monitoring.plan import monitor_chain_id

    out: list[dict[str, Any]] = []
    for model in sorted({d.model for d in digests if d.model}):
        passes = EVIDENCE.production_passes(monitor_chain_id(model))
        out += [{"check_id": c, "status": "PASS", "finished_at": at} for c, at in passes.items()]
    return out


def releases_view(access: Access, limit: int, page: int, before: str | None) -> dict[str, Any]:
    """One page of the releases the user may read, their open items, and where the next page starts.

    A page is ``limit`` releases of the store, newest first; the user sees those of them whose
    recorded DAG they may read. ``next_before`` is the cursor of the page after (None at the end).
    """
    from release_gates.evidence.queries import cursor_of

    limit = max(1, min(limit, 500))
    try:
        listed = EVIDENCE.index.page(limit, page=1 if before else page, before=before)
    except ValueError as exc:  # a cursor that is not one
        raise HTTPException(400, str(exc)) from None
    digests = access.visible(listed)
    now = datetime.now(UTC)
    last = listed[-1] if len(listed) == limit else None
    return {
        "releases": digests,
        "items": open_items_across(digests, now, production_results(digests)),
        "now": now,
        "page": None if before else max(page, 1),
        "limit": limit,
        "next_before": cursor_of(last.created_at, last.release_id) if last else None,
    }


# --------------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _environment() -> Any:
    from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, select_autoescape

    from release_gates.reports.render import TEMPLATES as REPORT_TEMPLATES

    env = Environment(
        loader=ChoiceLoader([FileSystemLoader(str(TEMPLATES)), FileSystemLoader(str(REPORT_TEMPLATES))]),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["q"] = lambda value: quote(str(value), safe="")
    return env


def _page(template: str, **context: Any) -> HTMLResponse:
    html = _environment().get_template(template).render(prefix=URL_PREFIX, **context)
    return HTMLResponse(html)


def run_view(access: Access, dag_id: str, run_id: str) -> dict[str, Any]:
    from release_gates.ui.canary import canary_rows

    found = find_release(dag_id, run_id)
    if found is None:
        return {"dag_id": dag_id, "run_id": run_id, "release": None}
    access.require(found)
    report = release_report(found, access)
    records = EVIDENCE.records(found.release_id, found.head_hash)
    files = [
        {
            "name": f["name"],
            "sha256": f["sha256"],
            "href": f"{URL_PREFIX}/files/{quote(found.release_id, safe='')}/{quote(f['name'])}",
        }
        for f in report_files(records)
    ]
    return {
        "dag_id": dag_id,
        "run_id": run_id,
        "release": report,
        "files": files,
        "report_status": report_status(records),
        "canary": canary_rows(records),
    }


def _run_json(view: dict[str, Any]) -> dict[str, Any]:
    report: ReleaseReport | None = view["release"]
    if report is None:
        return {"dag_id": view["dag_id"], "run_id": view["run_id"], "release": None}
    data = report.to_dict()
    for key in ("fairness", "drift", "history"):  # chart data: in report.json, not on the on-call API
        data.pop(key, None)
    return {**data, "files": view["files"], "report_status": view["report_status"], "canary": view["canary"]}


# --------------------------------------------------------------------------------------------------
# Authorization
# --------------------------------------------------------------------------------------------------


def _can_read_runs(user: Any, dag_id: str | None) -> bool:
    """Airflow's auth manager: may ``user`` read the runs of ``dag_id`` (None: of every DAG)?"""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails
    from airflow.models.dag import DagModel

    # As Airflow's own routes ask it (``requires_access_dag``): with the DAG's team, if it has one.
    details = DagDetails(id=dag_id, team_name=DagModel.get_team_name(dag_id)) if dag_id else None
    return bool(
        get_auth_manager().is_authorized_dag(
            method="GET", access_entity=DagAccessEntity.RUN, details=details, user=user
        )
    )


class Access:
    """What one user may read in one request: the runs of the DAG each release recorded.

    A release is readable when the user may read the runs of the DAG its ``release_started``
    record names. A chain that names none (recorded before the field existed, or not written by
    the release DAG) cannot be tied to a DAG — its id can be crafted — so only a user who may read
    the runs of every DAG sees it. Each DAG is asked of the auth manager once per request.
    """

    def __init__(self, user: Any) -> None:
        self.user = user
        self._answers: dict[str | None, bool] = {}

    def may_read_runs_of(self, dag_id: str | None) -> bool:
        if dag_id not in self._answers:
            self._answers[dag_id] = _can_read_runs(self.user, dag_id)
        return self._answers[dag_id]

    def may_read(self, found: ReleaseDigest) -> bool:
        return self.may_read_runs_of(found.recorded_dag_id)

    def require(self, found: ReleaseDigest) -> None:
        if self.may_read(found):
            return
        if found.recorded_dag_id is None:
            raise HTTPException(
                403,
                "this release's evidence names no DAG (recorded before releases did); "
                "only users who may read the runs of every DAG may read it",
            )
        raise HTTPException(403, "you may not read the runs of this release's DAG")

    def visible(self, digests: list[ReleaseDigest]) -> list[ReleaseDigest]:
        return [d for d in digests if self.may_read(d)]


# --------------------------------------------------------------------------------------------------
# The app
# --------------------------------------------------------------------------------------------------


def create_app() -> FastAPI:
    """The FastAPI app the plugin mounts at ``/release-gates`` (built on the first request)."""
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
    from airflow.api_fastapi.core_api.security import get_user, requires_access_dag

    app = FastAPI(title="Release gates", docs_url=None, redoc_url=None, openapi_url=None)
    read_run = [Depends(requires_access_dag(method="GET", access_entity=DagAccessEntity.RUN))]
    # Bound as a default, not as an annotation: this module's annotations are strings (PEP 563) that
    # FastAPI resolves in module globals, where a name imported here would not be found.
    authenticated = Depends(get_user)

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        for header, value in SECURITY_HEADERS.items():
            response.headers.setdefault(header, value)
        return response

    # The run routes check the DAG in the path first (as Airflow's own run routes do), then that the
    # release found for the run recorded that DAG (run_view → Access.require).
    @app.get("/runs/{dag_id}/{run_id}", response_class=HTMLResponse, dependencies=read_run)
    def run_tab(dag_id: str, run_id: str, user: Any = authenticated) -> HTMLResponse:
        return _page("run.html.j2", **run_view(Access(user), dag_id, run_id), now=datetime.now(UTC))

    @app.get("/api/runs/{dag_id}/{run_id}", dependencies=read_run)
    def run_api(dag_id: str, run_id: str, user: Any = authenticated) -> dict[str, Any]:
        return _run_json(run_view(Access(user), dag_id, run_id))

    @app.get("/releases", response_class=HTMLResponse)
    def releases_page(
        limit: int = 50, page: int = 1, before: str | None = None, user: Any = authenticated
    ) -> HTMLResponse:
        return _page("releases.html.j2", **releases_view(Access(user), limit, page, before))

    @app.get("/api/releases")
    def releases_api(
        limit: int = 50, page: int = 1, before: str | None = None, user: Any = authenticated
    ) -> dict[str, Any]:
        view = releases_view(Access(user), limit, page, before)
        return {
            "releases": [d.to_dict() for d in view["releases"]],
            "open_items": view["items"],
            **{key: view[key] for key in ("page", "limit", "next_before")},
        }

    @app.get("/files/{release_id}/{name}")
    def report_file(release_id: str, name: str, user: Any = authenticated) -> FileResponse:
        return serve_report_file(_release_for(Access(user), release_id), name)

    @app.get("/api/releases/{release_id}/records/{seq}")
    def evidence_record(release_id: str, seq: int, user: Any = authenticated) -> dict[str, Any]:
        found = _release_for(Access(user), release_id)
        record = next((r for r in EVIDENCE.records(found.release_id, found.head_hash) if r.seq == seq), None)
        if record is None:
            raise HTTPException(404, f"no record #{seq} in {found.release_id}")
        return record.to_dict()

    return app


def serve_report_file(found: ReleaseDigest, name: str) -> FileResponse:
    """A report file recorded in evidence, only while it still matches its recorded sha256."""
    files = report_files(EVIDENCE.records(found.release_id, found.head_hash))
    entry = next((f for f in files if f.get("name") == name), None)
    if entry is None:
        raise HTTPException(404, f"no report file {name!r} recorded for this release")
    path = Path(unquote(urlparse(str(entry["uri"])).path))
    if not path.is_file():
        raise HTTPException(404, f"report file {name} is not on this server (stored at {entry['uri']})")
    if hashlib.sha256(path.read_bytes()).hexdigest() != entry.get("sha256"):
        raise HTTPException(409, f"report file {name} no longer matches the sha256 recorded in evidence")
    return FileResponse(path, media_type=entry.get("media_type"))


def _release_for(access: Access, release_id: str) -> ReleaseDigest:
    """The chain named ``release_id``, if the user may read the DAG it recorded (never the DAG its
    id appears to name)."""
    from release_gates.evidence import EvidenceNotFoundError

    index = EVIDENCE.index
    try:
        found = index.digest_of(index.store.chain(release_id))
    except EvidenceNotFoundError:
        raise HTTPException(404, f"no evidence chain {release_id!r}") from None
    access.require(found)
    return found
