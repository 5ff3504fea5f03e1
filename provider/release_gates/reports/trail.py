"""Where a report's facts come from: one release's evidence chain, and earlier releases of its model.

A report reads nothing but evidence records. They come from the evidence store (the seal step, the
Airflow UI, ``release-gates report RELEASE_ID``) or from an exported bundle (``--bundle``), which an
auditor can regenerate the report from offline; the bundle is verified before anything is built.
Earlier releases of the same model (for "what changed" and the findings history) come from a store
when one is given.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from release_gates.evidence.record import EvidenceRecord
from release_gates.evidence.verify import VerifyReport, verify_bundle
from release_gates.exceptions import TrailError
from release_gates.results import Severity

if TYPE_CHECKING:
    from release_gates.evidence import ChainInfo, EvidenceStore
    from release_gates.evidence.queries import ChainSummary

SEVERITIES: tuple[str, ...] = tuple(s.value for s in Severity)
#: The record kinds :func:`digest` reads: a chain's scores, notifications, reports and policy text
#: are never parsed for a list of releases.
DIGEST_KINDS = (
    "release_started",
    "release_sealed",
    "gate_decision",
    "remediation_item",
    "human_decision",
    "promotion",
    "rollback",
    "check_result",
)


def dag_id_of(release_id: str, run_id: str | None) -> str | None:
    """The DAG id a chain named ``<dag_id>__<run_id>`` appears to belong to: a guess, for display only.

    Run ids are chosen by whoever triggers the run, so a chain of one DAG can be named like another's;
    what may be shown to whom is decided on :attr:`ReleaseDigest.recorded_dag_id` alone.
    """
    if run_id and release_id.endswith(f"__{run_id}"):
        return release_id[: -len(run_id) - 2] or None
    return None


def first_payload(records: Iterable[EvidenceRecord], kind: str) -> dict[str, Any] | None:
    return next((r.payload for r in records if r.kind == kind), None)


def last_payload(records: Sequence[EvidenceRecord], kind: str) -> dict[str, Any] | None:
    return next((r.payload for r in reversed(records) if r.kind == kind), None)


def active_severity_counts(results: Iterable[dict[str, Any]]) -> dict[str, int]:
    """Unwaived findings by severity over the given check results."""
    counts = dict.fromkeys(SEVERITIES, 0)
    for result in results:
        for finding in result.get("findings") or []:
            if not finding.get("waived_by") and finding.get("severity") in counts:
                counts[finding["severity"]] += 1
    return counts


@dataclass(frozen=True)
class ReleaseDigest:
    """What the Releases page and the findings history need of one release chain."""

    release_id: str
    model: str | None
    model_version: str | None
    run_id: str | None
    #: The DAG to link to: the recorded one, else (older chains) the one the id appears to name.
    dag_id: str | None
    created_at: str
    sealed_at: str | None
    head_hash: str
    decision: str | None
    reasons: tuple[str, ...]
    gates: dict[str, str]
    findings_by_severity: dict[str, int]
    items: tuple[dict[str, Any], ...]
    #: The DAG the release ran in, as ``release_started`` recorded it (None for older chains).
    recorded_dag_id: str | None = None
    #: (check id, finished at) of the checks that passed (PASS/WARN): what closes remediation items.
    passes: tuple[tuple[str, str], ...] = ()

    @property
    def label(self) -> str:
        version = f"v{self.model_version}" if self.model_version not in (None, "") else "?"
        return f"{version} {self.created_at[:10]}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "release_id": self.release_id,
            "model": self.model,
            "model_version": self.model_version,
            "run_id": self.run_id,
            "dag_id": self.dag_id,
            "dag_id_recorded": self.recorded_dag_id is not None,
            "created_at": self.created_at,
            "sealed_at": self.sealed_at,
            "decision": self.decision or ("in progress" if self.sealed_at is None else None),
            "reasons": list(self.reasons),
            "gates": self.gates,
            "findings_by_severity": self.findings_by_severity,
            "open_items": len(self.items),
        }


def digest(
    release_id: str, records: Sequence[EvidenceRecord], *, created_at: str, sealed_at: str | None, head: str
) -> ReleaseDigest:
    from release_gates.gates import fold, latest_results

    started = first_payload(records, "release_started") or {}
    sealed = last_payload(records, "release_sealed")
    state = fold(records)
    version = (started.get("inputs") or {}).get("model_version")
    run_id = started.get("run_id")
    recorded_dag_id = started.get("dag_id") if isinstance(started.get("dag_id"), str) else None
    return ReleaseDigest(
        release_id=release_id,
        model=started.get("model"),
        model_version=None if version is None else str(version),
        run_id=run_id,
        dag_id=recorded_dag_id or dag_id_of(release_id, run_id),
        created_at=created_at,
        sealed_at=sealed_at,
        head_hash=head,
        decision=sealed.get("decision") if sealed else None,
        reasons=tuple(sealed.get("reasons") or ()) if sealed else (),
        gates=dict(state.gates),
        findings_by_severity=active_severity_counts(latest_results(records).values()),
        items=tuple(state.open_items),
        recorded_dag_id=recorded_dag_id or None,
        passes=tuple(
            (str(r["check_id"]), str(r["finished_at"]))
            for r in latest_results(records).values()
            if r.get("status") in ("PASS", "WARN") and r.get("finished_at")
        ),
    )


class ReleaseIndex:
    """Digests of the release chains in a store, cached by head hash (a chain that moves is read again).

    Lists are read a page at a time (:func:`release_gates.evidence.queries.chain_summaries`: one
    query, only the opening payload of each chain parsed), and the digests a page lacks in one more
    query over :data:`DIGEST_KINDS` — never every record of every chain.
    """

    def __init__(self, store: EvidenceStore) -> None:
        self.store = store
        self._cache: dict[str, ReleaseDigest] = {}

    def _cached(self, chain: ChainInfo | ChainSummary) -> ReleaseDigest | None:
        cached = self._cache.get(chain.release_id)
        return cached if cached is not None and cached.head_hash == chain.head_hash else None

    def _digest(self, chain: ChainInfo | ChainSummary, records: Sequence[EvidenceRecord]) -> ReleaseDigest:
        found = digest(
            chain.release_id,
            records,
            created_at=chain.created_at,
            sealed_at=chain.sealed_at,
            head=chain.head_hash,
        )
        self._cache[chain.release_id] = found
        return found

    def digest_of(self, chain: ChainInfo | ChainSummary) -> ReleaseDigest:
        cached = self._cached(chain)
        if cached is not None:
            return cached
        return self._digest(chain, self.store.records(chain.release_id, kind=DIGEST_KINDS))

    def digests(self, chains: Sequence[ChainInfo | ChainSummary]) -> list[ReleaseDigest]:
        """The digests of ``chains``, in their order; those not cached read in one query."""
        from release_gates.evidence.queries import records_of

        missing = [c for c in chains if self._cached(c) is None]
        read = records_of(self.store, [c.release_id for c in missing], kinds=DIGEST_KINDS) if missing else {}
        for chain in missing:
            self._digest(chain, read[chain.release_id])
        return [self._cache[c.release_id] for c in chains]

    def page(self, limit: int = 50, *, page: int = 1, before: str | None = None) -> list[ReleaseDigest]:
        """One page of releases, newest first: page ``page`` (1-based) of ``limit``, or the ``limit``
        after the cursor ``before`` (:attr:`~release_gates.evidence.queries.ChainSummary.cursor`)."""
        from release_gates.evidence.queries import chain_summaries

        summaries = chain_summaries(
            self.store, limit=limit, offset=(max(page, 1) - 1) * limit, before=before, releases_only=True
        )
        return self.digests(summaries)

    def recent(self, limit: int = 50) -> list[ReleaseDigest]:
        """The most recently started releases, newest first."""
        return self.page(limit)

    def earlier_of_model(
        self,
        model: str,
        before: str,
        *,
        exclude: str = "",
        limit: int = 10,
        scan: int = 200,
        keep: Callable[[ReleaseDigest], bool] | None = None,
    ) -> list[ReleaseDigest]:
        """Releases of ``model`` started before ``before`` (ISO time), newest first (only those ``keep``
        accepts, when given), among the ``scan`` releases started last before it; a release of another
        model costs its opening payload only."""
        from release_gates.evidence.queries import chain_summaries

        out: list[ReleaseDigest] = []
        cursor, scanned = None, 0
        while scanned < scan and len(out) < limit:
            summaries = chain_summaries(
                self.store,
                limit=min(100, scan - scanned),
                before=cursor,
                releases_only=True,
                created_before=before,
            )
            if not summaries:
                break
            scanned, cursor = scanned + len(summaries), summaries[-1].cursor
            candidates = [s for s in summaries if s.model == model and s.release_id != exclude]
            while candidates and len(out) < limit:
                batch, candidates = candidates[: limit - len(out)], candidates[limit - len(out) :]
                out += [d for d in self.digests(batch) if keep is None or keep(d)]
        return out[:limit]


@dataclass
class Trail:
    """One release's records plus what is known about earlier releases of the same model."""

    release_id: str
    records: list[EvidenceRecord]
    verify: VerifyReport | None
    source: str
    created_at: str
    sealed_at: str | None = None
    #: Earlier releases of the model, newest first (empty without a store).
    history: list[ReleaseDigest] = field(default_factory=list)
    #: Records of the most recent earlier *sealed* release of the model, when there is one.
    previous: list[EvidenceRecord] | None = None
    previous_id: str | None = None
    #: Whether earlier releases could be looked up at all (a bundle alone has none).
    history_available: bool = True

    @property
    def model(self) -> str | None:
        started = first_payload(self.records, "release_started") or {}
        model: str | None = started.get("model")
        return model


def load_from_store(store: EvidenceStore, release_id: str, *, history: int = 10) -> Trail:
    """The chain from the store, verified, with up to ``history`` earlier releases of its model."""
    info = store.chain(release_id)
    records = store.records(release_id)
    trail = Trail(
        release_id=release_id,
        records=records,
        verify=store.verify(release_id),
        source=f"evidence store {store!r}",
        created_at=info.created_at,
        sealed_at=info.sealed_at,
    )
    if history > 0:
        attach_history(trail, ReleaseIndex(store), limit=history)
    return trail


def attach_history(trail: Trail, index: ReleaseIndex, *, limit: int = 10) -> None:
    """Earlier releases of the trail's model from ``index``, and the previous sealed one's records."""
    model = trail.model
    if not model:
        return
    # Only releases of the same DAG: a report is served to whoever may read this DAG's runs, so it must
    # not carry another DAG's releases of the same model (their ids, decisions or findings).
    started = first_payload(trail.records, "release_started") or {}
    dag_id = started.get("dag_id") if isinstance(started.get("dag_id"), str) else None
    trail.history = index.earlier_of_model(
        model,
        trail.created_at,
        exclude=trail.release_id,
        limit=limit,
        keep=lambda digest: digest.recorded_dag_id == dag_id,
    )
    previous = next((d for d in trail.history if d.sealed_at is not None), None)
    if previous is not None:
        trail.previous = index.store.records(previous.release_id)
        trail.previous_id = previous.release_id


def load_bundle(path: str | Path) -> tuple[dict[str, Any], VerifyReport]:
    path = Path(path)
    try:
        bundle = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise TrailError(f"cannot read evidence bundle {path}: {exc}") from exc
    if not isinstance(bundle, dict):
        raise TrailError(f"{path} is not an evidence bundle (a JSON object)")
    return bundle, verify_bundle(bundle)


def load_from_bundle(path: str | Path, *, store: EvidenceStore | None = None, history: int = 10) -> Trail:
    """An exported bundle, verified offline; earlier releases only when a store is also given."""
    bundle, report = load_bundle(path)
    try:
        records = [
            EvidenceRecord(**{k: row[k] for k in EvidenceRecord.__dataclass_fields__})
            for row in sorted(bundle["records"], key=lambda r: int(r["seq"]))
        ]
    except (KeyError, TypeError) as exc:
        raise TrailError(f"evidence bundle {path} has a malformed record: {exc}") from exc
    created = records[0].recorded_at if records else bundle.get("exported_at", "")
    trail = Trail(
        release_id=str(bundle["release_id"]),
        records=records,
        verify=report,
        source=f"evidence bundle {Path(path).name}",
        created_at=created,
        sealed_at=(bundle.get("head") or {}).get("sealed_at"),
        history_available=store is not None,
    )
    if store is not None and history > 0:
        attach_history(trail, ReleaseIndex(store), limit=history)
    return trail
