"""Replay a sealed release: re-derive its gate verdicts and its decision from the evidence, today's rules.

An auditor asks, a year later: given what was recorded, does the current gate logic reach the same
verdicts and decision? And: which past releases would a changed rule have decided differently?

What is re-derived and what is taken as fact:

* **Check results are facts.** Replay re-runs no check. A check's recorded status carries over to
  the replay policy when the check's spec there is the one it ran under (the policy it ran under is
  ``inputs.policy_sha256`` of its result, read back from the chain's policy snapshots). A check whose
  spec changed — a stricter threshold, another dataset — has no result under the replay policy:
  its recorded status was judged against the old spec, so it counts as missing (fail closed: the
  gate is blocked, never passed), and the difference says which fields changed.
* **Gate verdicts are re-derived**: :func:`release_gates.gates.decide_gate` over the results as they
  stood when each recorded ``gate_decision`` was taken, with the replay policy's checks of the gate.
* **Human decisions are facts**: who answered what, and whether the answer was accepted, as recorded.
  :func:`release_gates.gates.fold` then judges them against the replayed verdicts — a waiver clears
  a gate only while its decision is still one a waiver may clear.
* **The decision is re-derived**: :func:`release_gates.gates.final_decision` with the replay policy's
  gates and sign-off steps, promotion and rollback as recorded.

The replayed verdicts and decision are compared with the recorded ``gate_decision`` records and the
``release_sealed`` decision. The policy is, by default, the snapshot the release recorded
(:mod:`release_gates.evidence.snapshot`); a chain without one is an error, never "same". A chain is
verified first and a chain that does not verify is refused. With trusted public keys that includes
its signatures — the seal's checkpoint must hold — and without them the report notes that nothing
proves the chain is the one that was sealed: whoever can rewrite a bundle (or the database) can make
any chain, its policy snapshot included, replay as "same".

No Airflow here: ``release-gates evidence replay`` and tests call it directly.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from release_gates.exceptions import ReleaseGatesError

if TYPE_CHECKING:
    from release_gates.evidence.record import EvidenceRecord
    from release_gates.evidence.signing import PublicKeys
    from release_gates.evidence.snapshot import Snapshot
    from release_gates.evidence.store import EvidenceStore
    from release_gates.gates import GateVerdict
    from release_gates.policy import ReleasePolicy

#: Spec fields that describe a check and decide nothing: a change to them keeps its recorded status.
DESCRIPTIVE_FIELDS = frozenset({"description"})


class ReplayError(ReleaseGatesError, ValueError):
    """The release cannot be replayed (no policy, chain broken, not sealed …). Never read as "same"."""


# --------------------------------------------------------------------------------------------------
# The chain, verified
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Chain:
    """A release's records, verified, and where they were read."""

    release_id: str
    records: list[EvidenceRecord]
    source: str
    #: What was checked of its signatures (:attr:`~release_gates.evidence.verify.VerifyReport.signatures`):
    #: ``verified`` only when trusted keys were given.
    signatures: str = "none"


def chain_from_store(store: EvidenceStore, release_id: str, *, keys: PublicKeys | None = None) -> Chain:
    """The chain from the store, verified (with ``keys``: its signatures too); :class:`ReplayError`
    when it is missing or does not verify."""
    from release_gates.exceptions import EvidenceNotFoundError

    try:
        report = store.verify(release_id, keys=keys)
        records = store.records(release_id)
    except EvidenceNotFoundError as exc:
        raise ReplayError(str(exc.args[0])) from None
    return _verified(release_id, records, report, "evidence store")


def _verified(release_id: str, records: list[EvidenceRecord], report: Any, source: str) -> Chain:
    if not report.ok:
        raise ReplayError(
            f"the evidence chain of {release_id} does not verify ({report.problem}); replay refuses a "
            f"chain it cannot trust — see `release-gates evidence verify {release_id}`"
        )
    # Read after verifying: the records replayed must be the records verified, not a longer chain.
    if len(records) != report.records or (records and records[-1].hash != report.head_hash):
        raise ReplayError(f"the evidence chain of {release_id} changed while it was read; replay again")
    return Chain(release_id, records, source, report.signatures)


def chain_from_bundle(path: str | Path, *, keys: PublicKeys | None = None) -> Chain:
    """An exported bundle, verified offline (no database; with ``keys``: its signatures too);
    :class:`ReplayError` when it does not verify."""
    from release_gates.evidence.record import EvidenceRecord
    from release_gates.evidence.verify import verify_bundle
    from release_gates.exceptions import BundleError

    path = Path(path)
    try:
        bundle = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise ReplayError(f"cannot read evidence bundle {path}: {exc}") from None
    if not isinstance(bundle, dict):
        raise ReplayError(f"{path} is not an evidence bundle (a JSON object)")
    try:
        report = verify_bundle(bundle, keys=keys)
        rows = sorted(bundle["records"], key=lambda r: int(r["seq"]))
        records = [EvidenceRecord(**{k: row[k] for k in EvidenceRecord.__dataclass_fields__}) for row in rows]
    except (BundleError, KeyError, TypeError, ValueError) as exc:
        raise ReplayError(f"evidence bundle {path} is malformed: {exc}") from None
    return _verified(str(bundle["release_id"]), records, report, f"bundle {path.name}")


# --------------------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Difference:
    """One thing the replay decides differently from the record, and why."""

    what: str
    recorded: str | None
    replayed: str | None
    reason: str

    def __str__(self) -> str:
        return f"{self.what}: {self.recorded or '—'} → {self.replayed or '—'} — {self.reason}"


@dataclass(frozen=True)
class GateReplay:
    """One gate: its last recorded verdict against the same decision replayed."""

    gate: str
    recorded: str | None
    replayed: str | None
    recorded_cleared: bool
    replayed_cleared: bool
    reason: str
    people: list[str]
    #: Checks whose recorded result does not carry over to the replay policy → why.
    not_carried_over: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ReplayReport:
    release_id: str
    source: str
    records: int
    policy: dict[str, Any]
    gates: list[GateReplay]
    recorded_decision: str | None
    replayed_decision: str
    recorded_reasons: list[str]
    replayed_reasons: list[str]
    differences: list[Difference]
    notes: list[str]

    @property
    def same(self) -> bool:
        return not self.differences

    @property
    def decision_changed(self) -> bool:
        return self.recorded_decision != self.replayed_decision

    def to_dict(self) -> dict[str, Any]:
        return {
            "release_id": self.release_id,
            "source": self.source,
            "records": self.records,
            "same": self.same,
            "policy": self.policy,
            "gates": [
                {
                    "gate": g.gate,
                    "recorded": g.recorded,
                    "replayed": g.replayed,
                    "recorded_cleared": g.recorded_cleared,
                    "replayed_cleared": g.replayed_cleared,
                    "reason": g.reason,
                    "people": g.people,
                    "not_carried_over": g.not_carried_over,
                }
                for g in self.gates
            ],
            "decision": {"recorded": self.recorded_decision, "replayed": self.replayed_decision},
            "reasons": {
                "recorded": self.recorded_reasons,
                "replayed": self.replayed_reasons,
                "match": self.recorded_reasons == self.replayed_reasons,
            },
            "differences": [d.__dict__ for d in self.differences],
            "notes": self.notes,
        }


# --------------------------------------------------------------------------------------------------
# Replay
# --------------------------------------------------------------------------------------------------


def approval_task_ids(policy: ReleasePolicy) -> list[str]:
    """The sign-off steps of the policy's release DAG, by task id, in the order the seal reads them.

    ``signoff.<approval>_<role>``, as :func:`release_gates.dag_factory._signoff` names them (that
    module imports Airflow; the integration test of replay checks the two agree on a built DAG).
    """
    return [
        f"signoff.{name}_{role}" for name, approval in policy.approvals.items() for role in approval.roles
    ]


@dataclass(frozen=True)
class _Rules:
    """The replay policy as replay reads it, with the policies the chain's checks ran under."""

    policy: ReleasePolicy
    #: The policy file's sha256 (a snapshot's recorded one, or the file given).
    sha256: str
    #: What ``release_started`` names: the policy a check ran under unless its result says otherwise.
    recorded_sha256: str
    #: Every snapshot in the chain, parsed, by the file's sha256 (None: it does not parse).
    known: Mapping[str, ReleasePolicy | None]

    @property
    def gate_checks(self) -> dict[str, list[str]]:
        return {
            gate.id: [cid for _, _, cid in self.policy.iter_checks() if cid.startswith(f"{gate.id}.")]
            for gate in self.policy.gates
        }

    def not_carried_over(self, check_id: str, result: Mapping[str, Any]) -> str | None:
        """Why the check's recorded status does not hold under the replay policy; None when it does."""
        now = next((_spec(c) for _, c, cid in self.policy.iter_checks() if cid == check_id), None)
        ran_under = str((result.get("inputs") or {}).get("policy_sha256") or self.recorded_sha256)
        if now is None or ran_under == self.sha256:
            return None  # not a check of the replay policy (no gate reads it), or the very same policy
        old_policy = self.known.get(ran_under)
        if old_policy is None:
            return (
                f"{check_id} ran under policy {ran_under[:12]}…, of which the chain holds no readable "
                "snapshot: whether its spec changed cannot be told, and replay re-runs no check"
            )
        old = next((_spec(c) for _, c, cid in old_policy.iter_checks() if cid == check_id), {})
        if old == now:
            return None
        changed = sorted(k for k in set(old) | set(now) if old.get(k) != now.get(k))
        return (
            f"{check_id}'s spec changed since it ran ({', '.join(changed)}): its recorded "
            f"{result.get('status')} was judged under the old spec, and replay re-runs no check"
        )


@dataclass
class _Replayed:
    """The chain with each gate decision replaced by its replay (same seq and hash, so the human
    answers that name a decision still name it)."""

    records: list[EvidenceRecord] = field(default_factory=list)
    verdicts: dict[int, GateVerdict] = field(default_factory=dict)  # recorded decision's seq → replay
    dropped: dict[int, dict[str, str]] = field(default_factory=dict)  # seq → checks not carried over


def replay(chain: Chain, policy: ReleasePolicy | None = None) -> ReplayReport:
    """Replay ``chain`` under ``policy`` (default: the snapshot it recorded); see the module docstring."""
    from release_gates.gates import final_decision, fold

    records = chain.records
    if not records or records[0].kind != "release_started":
        raise ReplayError(
            f"{chain.release_id} is not a release: its chain does not open with release_started"
        )
    started = records[0]
    sealed = next((r for r in reversed(records) if r.kind == "release_sealed"), None)
    if sealed is None:
        raise ReplayError(
            f"release {chain.release_id} is not sealed: it has no recorded decision to compare; replay it "
            "once its seal step has run"
        )
    notes: list[str] = []
    if chain.signatures != "verified":
        notes.append(
            "its signatures were not checked (no trusted public key given): nothing proves this chain, its "
            "policy snapshot included, is the one that was sealed — give the public key to check them"
        )
    rules, described = _rules(chain.release_id, started, records, policy, notes)
    body = [r for r in records if r.kind != "release_sealed"]
    replayed = _replay_gates(body, rules)
    state = fold(replayed.records)
    decision, reasons = final_decision(rules.policy, state, approval_task_ids(rules.policy))
    replayed_reasons = _worded_as_sealed(decision.value, reasons, body)
    summary = sealed.payload
    gates, differences = _compare_gates(
        rules, started=started, body=body, summary=summary, replayed=replayed, cleared_by=state.cleared_by
    )
    recorded_decision = summary.get("decision")
    recorded_reasons = [str(r) for r in summary.get("reasons") or []]
    if recorded_decision != decision.value:
        why = "; ".join(replayed_reasons) or "every gate cleared, signed off and promoted"
        differences.append(Difference("decision", recorded_decision, decision.value, why))
    elif recorded_reasons != replayed_reasons:
        notes.append("same decision, reasons worded differently: " + "; ".join(replayed_reasons))
    return ReplayReport(
        release_id=chain.release_id,
        source=chain.source,
        records=len(records),
        policy={
            **described,
            "sha256": rules.sha256,
            "same_as_recorded": rules.sha256 == rules.recorded_sha256,
        },
        gates=gates,
        recorded_decision=recorded_decision,
        replayed_decision=decision.value,
        recorded_reasons=recorded_reasons,
        replayed_reasons=replayed_reasons,
        differences=differences,
        notes=notes,
    )


def _rules(
    release_id: str,
    started: EvidenceRecord,
    records: Sequence[EvidenceRecord],
    policy: ReleasePolicy | None,
    notes: list[str],
) -> tuple[_Rules, dict[str, Any]]:
    """The replay policy (given, or the recorded snapshot) and how to describe where it came from."""
    from release_gates.evidence.snapshot import PolicySnapshotError, snapshots_in

    recorded_sha = str((started.payload.get("policy") or {}).get("sha256") or "")
    try:
        snapshots = snapshots_in(records)
    except PolicySnapshotError as exc:
        raise ReplayError(str(exc)) from None
    known = _parsed_snapshots(snapshots)
    if policy is not None:
        if policy.sha256 == recorded_sha:
            notes.append("the policy file given is the policy the release ran under (same sha256)")
        return _Rules(policy, policy.sha256, recorded_sha, known), {"origin": "file", "where": policy.source}
    snapshot = next((s for s in snapshots if s.sha256 == recorded_sha), None)
    if snapshot is None:
        others = ", ".join(f"{s.sha256[:12]}… ({s.where})" for s in snapshots)
        raise ReplayError(
            f"release {release_id} recorded no snapshot of the policy it started with (sha256 "
            f"{recorded_sha[:12] or 'unknown'}…)" + (f"; it holds snapshots of {others}" if others else "")
            + ": the rules it ran under are unknown. Give --policy FILE to replay it under a policy"
        )  # fmt: skip
    parsed = known.get(snapshot.sha256)
    if parsed is None:
        raise ReplayError(
            f"the policy snapshot of {release_id} ({snapshot.where}) does not parse with this version of "
            "the policy language; give --policy FILE"
        )
    if not snapshot.exact:
        notes.append(
            f"the policy snapshot has {snapshot.credentials_redacted} credential(s) masked, so its text "
            "does not hash to the policy's sha256; the rules are unaffected"
        )
    return _Rules(parsed, snapshot.sha256, recorded_sha, known), {
        "origin": "snapshot",
        "where": snapshot.where,
    }


def _parsed_snapshots(snapshots: Sequence[Snapshot]) -> dict[str, ReleasePolicy | None]:
    """Every snapshot's policy by the file sha256 (None: it does not parse, its specs are unknown)."""
    from release_gates.policy import PolicyError, parse_policy

    parsed: dict[str, ReleasePolicy | None] = {}
    for snapshot in snapshots:
        if snapshot.sha256 not in parsed:
            try:
                parsed[snapshot.sha256] = parse_policy(snapshot.text, source=f"<{snapshot.where}>")
            except PolicyError:
                parsed[snapshot.sha256] = None
    return parsed


def _spec(check: Any) -> dict[str, Any]:
    dumped: dict[str, Any] = check.model_dump(mode="json", exclude_none=True)
    return {k: v for k, v in dumped.items() if k not in DESCRIPTIVE_FIELDS}


def _replay_gates(body: Sequence[EvidenceRecord], rules: _Rules) -> _Replayed:
    """Each recorded gate decision of a gate of the replay policy, decided again in its place: over
    the results recorded before it, with the replay policy's checks of the gate."""
    from release_gates.gates import decide_gate, latest_results

    gate_checks = rules.gate_checks
    replayed = _Replayed()
    for index, record in enumerate(body):
        gate = record.payload.get("gate") if record.kind == "gate_decision" else None
        if not isinstance(gate, str) or gate not in gate_checks:
            replayed.records.append(record)
            continue
        results = latest_results(body[:index])
        why_not = {
            cid: why for cid, result in results.items() if (why := rules.not_carried_over(cid, result))
        }
        verdict = decide_gate(gate, gate_checks[gate], {c: r for c, r in results.items() if c not in why_not})
        replayed.verdicts[record.seq] = verdict
        replayed.dropped[record.seq] = {c: w for c, w in why_not.items() if c in gate_checks[gate]}
        replayed.records.append(replace(record, payload=verdict.to_payload()))
    return replayed


def _worded_as_sealed(decision: str, reasons: list[str], records: Sequence[EvidenceRecord]) -> list[str]:
    """The reasons as the seal step words them (operators/release.py, ``SealReleaseOperator``): a
    refused promotion and a release refused at start are said first. The integration test of replay
    compares them with the sealed reasons of real runs."""
    refused = [r.payload for r in records if r.kind == "promotion" and r.payload.get("status") == "refused"]
    if refused and decision == "held":
        reasons = [f"promotion refused: {refused[-1].get('summary')}"] + [
            r for r in reasons if r != "not promoted"
        ]
    refusals = [r.payload for r in records if r.kind == "release_refused"]
    if refusals:
        reasons = [f"refused at start: {refusals[-1].get('summary')}", *reasons]
    return reasons


def _compare_gates(
    rules: _Rules,
    *,
    started: EvidenceRecord,
    body: Sequence[EvidenceRecord],
    summary: Mapping[str, Any],
    replayed: _Replayed,
    cleared_by: Mapping[str, dict[str, Any]],
) -> tuple[list[GateReplay], list[Difference]]:
    """Each gate's last recorded verdict against its replay, and every verdict that differs."""
    decided: dict[str, list[EvidenceRecord]] = {}
    for record in body:
        if record.kind == "gate_decision" and record.payload.get("gate"):
            decided.setdefault(str(record.payload["gate"]), []).append(record)
    gate_checks = rules.gate_checks
    ran = [str(g) for g in started.payload.get("gates") or []]
    waived = summary.get("waived") or {}
    gates: list[GateReplay] = []
    differences: list[Difference] = []
    for gate in dict.fromkeys([*gate_checks, *ran, *decided]):
        records = decided.get(gate, [])
        people = [
            _person(r.payload) for r in body if r.kind == "human_decision" and r.payload.get("gate") == gate
        ]
        recorded = str(records[-1].payload.get("outcome")) if records else None
        recorded_cleared = recorded == "passed" or gate in waived
        if gate not in gate_checks:
            why = "not a gate of the replay policy: its decision no longer counts"
            gates.append(GateReplay(gate, recorded, None, recorded_cleared, False, why, people))
            differences.append(Difference(f"gate {gate}", recorded, None, why))
            continue
        if not records:
            why = "never decided in this release" if gate in ran else "a gate the release never ran: it holds"
            gates.append(GateReplay(gate, None, None, False, False, why, people))
            if gate not in ran:
                differences.append(Difference(f"gate {gate}", None, None, why))
            continue
        for earlier in records[:-1]:  # a re-decided gate: each decision is replayed in its place
            outcome, again = str(earlier.payload.get("outcome")), replayed.verdicts[earlier.seq]
            if again.outcome.value != outcome:
                what = f"gate {gate} (decision #{earlier.seq})"
                why = _why(again, replayed.dropped[earlier.seq])
                differences.append(Difference(what, outcome, again.outcome.value, why))
        seq = records[-1].seq
        last = replayed.verdicts[seq].outcome.value
        replayed_cleared = last == "passed" or gate in cleared_by
        why = _why(replayed.verdicts[seq], replayed.dropped[seq])
        gates.append(
            GateReplay(
                gate, recorded, last, recorded_cleared, replayed_cleared, why, people, replayed.dropped[seq]
            )
        )
        if recorded != last or recorded_cleared != replayed_cleared:
            if recorded_cleared and not replayed_cleared and gate in waived:
                by = waived[gate].get("by") if isinstance(waived[gate], dict) else None
                why += f"; the recorded waiver or acceptance by {by} does not clear a {last} gate"
            recorded_cell, replayed_cell = (
                _cleared(recorded, recorded_cleared),
                _cleared(last, replayed_cleared),
            )
            differences.append(Difference(f"gate {gate}", recorded_cell, replayed_cell, why))
    return gates, differences


def _why(verdict: GateVerdict, dropped: Mapping[str, str]) -> str:
    return "; ".join([verdict.reason, *dropped.values()])


def _cleared(outcome: str | None, cleared: bool) -> str | None:
    """``remediate (cleared)`` for a gate a person waived or accepted; the outcome alone otherwise."""
    return f"{outcome} (cleared)" if outcome and outcome != "passed" and cleared else outcome


def _person(payload: Mapping[str, Any]) -> str:
    who = payload.get("user") or ("nobody (timed out)" if payload.get("timed_out") else "nobody")
    said = f"{payload.get('choice') or 'no answer'} by {who}"
    return said if payload.get("authorized") else f"{said} (not accepted)"


# --------------------------------------------------------------------------------------------------
# Every sealed release of a model under one policy
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FleetReplay:
    """``replay --all``: every sealed release of a model under one policy."""

    model: str
    policy: dict[str, Any]
    reports: list[ReplayReport]
    errors: dict[str, str]
    unsealed: list[str]

    @property
    def changed(self) -> list[ReplayReport]:
        return [r for r in self.reports if r.decision_changed]

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "policy": self.policy,
            "replayed": len(self.reports),
            "changed": [
                {
                    "release_id": r.release_id,
                    "recorded": r.recorded_decision,
                    "replayed": r.replayed_decision,
                    "reasons": r.replayed_reasons,
                    "differences": [d.__dict__ for d in r.differences],
                }
                for r in self.changed
            ],
            "gate_differences_only": [
                r.release_id for r in self.reports if not r.same and not r.decision_changed
            ],
            "errors": self.errors,
            "unsealed": self.unsealed,
        }


def replay_all(
    store: EvidenceStore,
    policy: ReleasePolicy,
    *,
    model: str | None = None,
    keys: PublicKeys | None = None,
) -> FleetReplay:
    """Replay every sealed release of ``model`` (default: the policy's) under ``policy``.

    A chain that does not verify or cannot be replayed is listed under ``errors``, never skipped
    silently; releases still running are listed as unsealed.
    """
    from release_gates.exceptions import EvidenceError

    model = model or policy.release.model
    reports: list[ReplayReport] = []
    errors: dict[str, str] = {}
    unsealed: list[str] = []
    for release_id, records in store.release_chains(model).items():
        if not any(r.kind == "release_sealed" for r in records):
            unsealed.append(release_id)
            continue
        try:
            chain = _verified(release_id, records, store.verify(release_id, keys=keys), "evidence store")
            reports.append(replay(chain, policy))
        except (ReplayError, EvidenceError) as exc:
            errors[release_id] = str(exc)
    info = {"origin": "file", "where": policy.source, "sha256": policy.sha256}
    return FleetReplay(model, info, reports, errors, unsealed)
