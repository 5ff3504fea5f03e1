"""The sections of a release's model card (:mod:`release_gates.reports.model_card`), each read from the
evidence records and citing them.

Every line that states a figure ends with the citation of the record it was read from
(:func:`cite`); numbers are written as recorded (:func:`num`), so they compare equal to the record.
Text people typed (rationales, statements) goes through :func:`md`. No Airflow here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from release_gates.evidence import EvidenceRecord
    from release_gates.policy import ReleasePolicy

#: Unwaived findings listed per check among the limitations (an image scan may hold hundreds).
MAX_FINDINGS = 10
_PROBLEM_STATUSES = ("FAIL", "ERROR", "INCONCLUSIVE", "WARN")


def cite(record: EvidenceRecord) -> str:
    return f"[evidence #{record.seq} {record.kind}]"


def md(value: Any) -> str:
    """Text from the evidence (people's rationales included) safe inside a Markdown table cell."""
    text = "—" if value in (None, "") else str(value)
    return " ".join(text.split()).replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def num(value: Any) -> str:
    """A recorded number exactly as recorded (``repr`` of a JSON float round-trips), so it can be
    compared with the record it cites."""
    return "—" if value is None else str(value)


@dataclass
class Evidence:
    """The records a card reads, indexed once."""

    records: Sequence[EvidenceRecord]
    release_id: str
    started: EvidenceRecord | None
    #: The latest ``check_result`` record per check id, in chain order.
    results: dict[str, EvidenceRecord]
    policy: ReleasePolicy | None
    #: What the policy-derived lines cite (the snapshot's record, or release_started for a file given).
    policy_cite: str
    notes: list[str]

    @property
    def started_payload(self) -> Mapping[str, Any]:
        return self.started.payload if self.started else {}

    def record_of(self, payload: Mapping[str, Any]) -> EvidenceRecord | None:
        """The record holding this very payload object (what :func:`release_gates.gates.fold` keeps)."""
        return next((r for r in self.records if r.payload is payload), None)


def kind_of(record: EvidenceRecord) -> str:
    return str(record.payload.get("kind") or "")


def latest_results(records: Iterable[EvidenceRecord]) -> dict[str, EvidenceRecord]:
    latest: dict[str, EvidenceRecord] = {}
    for record in records:
        if record.kind == "check_result" and record.payload.get("check_id"):
            latest[str(record.payload["check_id"])] = record
    return latest


def details_section(ev: Evidence) -> list[str]:
    if ev.started is None:
        return [
            "## Model details",
            "",
            "The chain holds no `release_started` record: it is not a release.",
            "",
        ]
    src, p = cite(ev.started), ev.started_payload
    inputs = p.get("inputs") or {}
    lines = [
        "## Model details",
        "",
        f"- Model `{md(p.get('model'))}`, version {md(inputs.get('model_version'))}, risk tier "
        f"{md(p.get('risk_tier'))} {src}",
    ]
    if ev.policy is not None and ev.policy.release.description:
        lines.append(f"- What it decides: {md(ev.policy.release.description)} {ev.policy_cite}")
    verified = inputs.get("model_sha256_verified")
    if verified:
        lines.append(
            f"- Model file `{md(inputs.get('model_uri'))}`, sha256 `{verified}` (verified at start) {src}"
        )
    elif inputs.get("model_sha256"):
        lines.append(
            f"- Model sha256 `{inputs['model_sha256']}` as named by the run, not verified at start {src}"
        )
    for record in ev.records:
        scored = record.payload.get("model") if record.kind == "model_scored" else None
        if isinstance(scored, Mapping) and scored.get("sha256") and record.payload.get("status") != "ERROR":
            lines.append(f"- Model scored inside the release: sha256 `{scored['sha256']}` {cite(record)}")
    if inputs.get("image"):
        lines.append(f"- Serving image `{md(inputs['image'])}` {src}")
    lines += [
        f"- Policy sha256 `{(p.get('policy') or {}).get('sha256')}` {src}",
        f"- Release run `{md(p.get('run_id'))}`, triggered by {md(p.get('triggered_by'))} {src}",
        "- License: none recorded in the evidence, so the metadata names none.",
        "",
    ]
    return lines


def intended_use_section(ev: Evidence) -> list[str]:
    lines = ["## Intended use", ""]
    policy = ev.policy
    if policy is None:
        return [
            *lines,
            "Not known: the policy the release ran under is not in the evidence (see the notes).",
            "",
        ]
    description = policy.release.description or "The policy does not say what the model decides."
    lines += [
        f"{md(description)} Risk tier: {policy.release.risk_tier} {ev.policy_cite}",
        "",
        "It may be used only as released under these gates, each with its reason:",
        "",
    ]
    for gate in policy.gates:
        lines.append(
            f"- **{md(gate.title or gate.id)}** (owner: {gate.owner}): {md(gate.rationale)} " + ev.policy_cite
        )
    for name, approval in policy.approvals.items():
        lines.append(
            f"- Sign-off `{name}`: one distinct person of each role {', '.join(approval.roles)} approves"
            + (f" ({md(approval.description)})" if approval.description else "")
            + f" {ev.policy_cite}"
        )
    return [*lines, "", *_documents(ev)]


def _documents(ev: Evidence) -> list[str]:
    """Documentation checks (``kind: documents``) the release recorded: each document's state, where it
    is, who reviewed which version when, and what the policy says it is for."""
    specs = {cid: check for _, check, cid in ev.policy.iter_checks()} if ev.policy is not None else {}
    lines: list[str] = []
    for check_id, record in ev.results.items():
        if kind_of(record) != "documents":
            continue
        payload, src = record.payload, cite(record)
        lines.append(f"- `{check_id}`: {payload.get('status')} — {md(payload.get('summary'))} {src}")
        declared = getattr(specs.get(check_id), "documents", None) or {}
        recorded = (payload.get("metrics") or {}).get("documents") or {}
        for name, facts in recorded.items() if isinstance(recorded, Mapping) else []:
            if not isinstance(facts, Mapping):
                continue
            review = facts.get("review") if isinstance(facts.get("review"), Mapping) else None
            seen = "no review recorded"
            if review:
                seen = f"reviewed by {md(review.get('user'))} at {md(review.get('at'))}"
                seen += f" (sha256 `{review.get('sha256')}`)"
            lines.append(
                f"  - {md(name)}: {md(facts.get('status'))}, `{md(facts.get('location'))}`, owner "
                f"{md(facts.get('owner_role'))}, {seen} {src}"
            )
            purpose = getattr(
                declared.get(name) if isinstance(declared, Mapping) else None, "description", ""
            )
            if purpose:
                lines.append(f"    - What it is for: {md(purpose)} {ev.policy_cite}")
    return ["### Documentation", "", *lines, ""] if lines else []


def limitations_section(ev: Evidence) -> list[str]:
    lines = ["## Limitations", ""]
    declared = [str(c) for c in ev.started_payload.get("checks") or []]
    for check_id in declared:
        if check_id not in ev.results and ev.started is not None:
            lines.append(
                f"- `{check_id}` recorded no result: not evaluated in this release {cite(ev.started)}"
            )
    for check_id, record in ev.results.items():
        payload = record.payload
        if payload.get("status") not in _PROBLEM_STATUSES:
            continue
        open_findings = [
            f for f in payload.get("findings") or [] if isinstance(f, Mapping) and not f.get("waived_by")
        ]
        lines.append(f"- `{check_id}` {payload.get('status')}: {md(payload.get('summary'))} {cite(record)}")
        for finding in open_findings[:MAX_FINDINGS]:
            lines.append(f"  - {finding.get('severity')}: {md(finding.get('title'))} {cite(record)}")
        if len(open_findings) > MAX_FINDINGS:
            lines.append(
                f"  - and {len(open_findings) - MAX_FINDINGS} more unwaived finding(s) {cite(record)}"
            )
    for record in ev.results.values():
        metrics = record.payload.get("metrics") or {}
        small = [
            group_name(g.get("group") or {}) for g in metrics.get("groups") or [] if suppressed(g, metrics)
        ]
        if kind_of(record) == "fairness" and small:
            lines.append(
                f"- Groups under {metrics.get('min_cell_size')} rows are not evaluated separately "
                "(suppressed): "
                f"{md(', '.join(dict.fromkeys(small)))} {cite(record)}"
            )
    if len(lines) == 2:
        lines.append("None recorded: every check that ran passed.")
    return [*lines, ""]


def data_section(ev: Evidence) -> list[str]:
    """Per dataset: what the policy says of it, the run's override, and every fingerprint read."""
    lines = ["## Training and evaluation data", ""]
    declared = dict(ev.policy.datasets) if ev.policy is not None else {}
    overrides = (ev.started_payload.get("inputs") or {}).get("datasets") or {}
    read = _fingerprints(ev)
    names = list(dict.fromkeys([*declared, *overrides, *read]))
    if not names:
        return [*lines, "No dataset is named in the policy or read by a check.", ""]
    for name in names:
        lines += [f"### {name}", ""]
        spec = declared.get(name)
        if spec is not None:
            lines.append(
                f"- {md(spec.description or 'not described')}; owner {md(spec.owner)}; legal basis "
                f"{md(spec.legal_basis)} {ev.policy_cite}"
            )
            pin = f"sha256 pin `{spec.sha256}`" if spec.sha256 else "no sha256 pin"
            lines.append(f"- In the policy: `{md(spec.uri)}`, {pin} {ev.policy_cite}")
        override = overrides.get(name)
        if isinstance(override, Mapping) and ev.started is not None:
            pinned = f"pinned sha256 `{override.get('sha256')}`" if override.get("sha256") else "not pinned"
            lines.append(f"- This run read it from `{md(override.get('uri'))}`, {pinned} {cite(ev.started)}")
        for facts, record in read.get(name, []):
            size = ", ".join(f"{num(facts[k])} {k}" for k in ("rows", "bytes") if facts.get(k) is not None)
            lines.append(
                f"- Read by `{md(record.payload.get('check_id') or record.kind)}`: "
                f"`{md(facts.get('uri'))}`, "
                f"sha256 `{facts.get('sha256')}`" + (f" ({size})" if size else "") + f" {cite(record)}"
            )
            pins = [p for p in (spec.sha256 if spec else None, (override or {}).get("sha256")) if p]
            if pins and facts.get("sha256") not in pins:
                lines.append(f"  - **The sha256 read is not the pinned one** {cite(record)}")
        lines.append("")
    return lines


def _fingerprints(ev: Evidence) -> dict[str, list[tuple[Mapping[str, Any], EvidenceRecord]]]:
    """Dataset fingerprints the release recorded (checks' inputs, the score step's sources), by name;
    the same sha256 and uri once per dataset, first record cited."""
    found: dict[str, list[tuple[Mapping[str, Any], EvidenceRecord]]] = {}
    seen: set[tuple[str, Any, Any]] = set()

    def add(name: str, facts: Mapping[str, Any], record: EvidenceRecord) -> None:
        key = (name, facts.get("sha256"), facts.get("uri"))
        if facts.get("sha256") and key not in seen:
            seen.add(key)
            found.setdefault(name, []).append((facts, record))

    for record in ev.records:
        if record.kind == "model_scored" and record.payload.get("status") != "ERROR":
            for name, entry in (record.payload.get("datasets") or {}).items():
                if isinstance(entry, Mapping) and isinstance(entry.get("source"), Mapping):
                    add(str(name), entry["source"], record)
    for record in ev.results.values():
        for name, facts in datasets_read(record):
            add(name, facts, record)
    return found


def group_name(group: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in group.items())


def suppressed(entry: Mapping[str, Any], metrics: Mapping[str, Any]) -> bool:
    """A group shown without rates: suppressed when recorded, and any group smaller than the check's
    ``min_cell_size`` even if its rates were recorded (privacy holds whatever the record says)."""
    n, floor = entry.get("n"), metrics.get("min_cell_size")
    small = isinstance(n, int) and isinstance(floor, int) and n < floor
    return bool(entry.get("suppressed")) or not isinstance(n, int) or small


def datasets_read(record: EvidenceRecord) -> list[tuple[str, Mapping[str, Any]]]:
    """The datasets a check result read, by name: the fingerprints the attestation takes its dataset
    subjects from (a scored dataset's source file, with the rows read from its scored artifact)."""
    from release_gates.evidence.statement import _dataset_entries

    out = []
    for name, facts in _dataset_entries(record.payload.get("inputs") or {}):
        source = facts.get("source") if facts.get("predictions") == "scored" else None
        out.append((name, {**source, "rows": facts.get("rows")} if isinstance(source, Mapping) else facts))
    return out


def other_checks_section(ev: Evidence) -> list[str]:
    others = [(c, r) for c, r in ev.results.items() if kind_of(r) != "fairness"]
    if not others:
        return []
    lines = ["### Other checks", "", "| Check | Kind | Status | Summary | Source |", "|---|---|---|---|---|"]
    for check_id, record in others:
        p = record.payload
        lines.append(
            f"| `{check_id}` | {md(p.get('kind'))} | {p.get('status')} | {md(p.get('summary'))} | "
            f"{cite(record)} |"
        )
    return [*lines, ""]


def gates_section(ev: Evidence) -> list[str]:
    from release_gates.gates import fold

    decided: dict[str, EvidenceRecord] = {}
    for record in ev.records:
        if record.kind == "gate_decision" and record.payload.get("gate"):
            decided[str(record.payload["gate"])] = record
    gate_ids = list(dict.fromkeys([*map(str, ev.started_payload.get("gates") or []), *decided]))
    cleared = fold(ev.records).cleared_by
    lines = [
        "## Gate verdicts",
        "",
        "| Gate | Verdict | Why | Checks | Cleared by | Source |",
        "|---|---|---|---|---|---|",
    ]
    for gate in gate_ids:
        decision = decided.get(gate)
        checks = "; ".join(
            f"`{c}` {r.payload.get('status')} {cite(r)}"
            for c, r in ev.results.items()
            if c.split(".", 1)[0] == gate
        )
        by = cleared.get(gate)
        by_record = ev.record_of(by) if by else None
        clearing = f"{by.get('choice')} by {by.get('user')} {cite(by_record)}" if by and by_record else "—"
        verdict = decision.payload.get("outcome") if decision else "no decision recorded"
        reason = decision.payload.get("reason") if decision else None
        lines.append(
            f"| {gate} | {md(verdict)} | {md(reason)} | {checks or '—'} | {clearing} | "
            f"{cite(decision) if decision else '—'} |"
        )
    return [*lines, ""]


def waivers_section(ev: Evidence) -> list[str]:
    """Policy waivers that covered findings, recorded waivers, and gates a person waived or accepted."""
    from release_gates.gates import fold

    statements: dict[str, str] = {}
    if ev.policy is not None:
        statements = {w.id: w.statement for w in ev.policy.waivers}
        for _, check, _ in ev.policy.iter_checks():
            statements.update({w.id: w.statement for w in getattr(check, "waivers", [])})
    lines: list[str] = []
    for check_id, record in ev.results.items():
        payload = record.payload
        applied = [
            a for a in (payload.get("metrics") or {}).get("waivers_applied") or [] if isinstance(a, Mapping)
        ]
        named = {str(a.get("id")) for a in applied}
        for f in payload.get("findings") or []:
            if isinstance(f, Mapping) and f.get("waived_by") and str(f["waived_by"]) not in named:
                named.add(str(f["waived_by"]))
                waiver = (f.get("data") or {}).get("waiver") or {}
                applied.append(
                    {"id": f["waived_by"], "owner": waiver.get("owner"), "expires": waiver.get("expires")}
                )
        for a in applied:
            wid = str(a.get("id"))
            statement = f": {md(statements[wid])} {ev.policy_cite}" if wid in statements else ""
            count = f", {num(a['findings'])} finding(s)" if a.get("findings") is not None else ""
            lines.append(
                f"- Policy waiver `{md(wid)}` on `{check_id}` (owner {md(a.get('owner'))}, expires "
                f"{md(a.get('expires') or 'not stated')}{count}) {cite(record)}{statement}"
            )
    for record in ev.records:
        if record.kind == "waiver_applied":
            p = record.payload
            lines.append(
                f"- Waiver `{md(p.get('id') or p.get('waiver'))}` on gate {md(p.get('gate'))} (owner "
                f"{md(p.get('owner'))}, expires {md(p.get('expires') or 'not stated')}): "
                f"{md(p.get('statement'))} {cite(record)}"
            )
    for gate, payload in fold(ev.records).cleared_by.items():
        answer = ev.record_of(payload)
        if answer is not None:
            what = "waived" if payload.get("choice") == "waive" else "risk accepted"
            lines.append(
                f"- Gate {gate} {what} by {md(payload.get('user'))} at {md(payload.get('responded_at'))}: "
                f"“{md(payload.get('rationale'))}” {cite(answer)}"
            )
    return ["## Waivers in force", "", *(lines or ["None."]), ""]


def answers_section(ev: Evidence) -> list[str]:
    answers = [r for r in ev.records if r.kind == "human_decision"]
    owners = {g.id: g.owner for g in ev.policy.gates} if ev.policy is not None else {}
    lines = ["## Human decisions and sign-offs", ""]
    if not answers:
        return [*lines, "None recorded.", ""]
    lines += [
        "| Step | Who | Role | Choice | When | Accepted | Rationale | Source |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for record in answers:
        p = record.payload
        role = p.get("role") or (
            f"owner of gate {p['gate']}: {owners[p['gate']]}" if p.get("gate") in owners else None
        )
        accepted = "yes" if p.get("authorized") else f"no: {p.get('problem') or 'not authorized'}"
        lines.append(
            f"| {md(p.get('task_id'))} | {md(p.get('user'))} | {md(role)} | {md(p.get('choice'))} | "
            f"{md(p.get('responded_at'))} | {md(accepted)} | {md(p.get('rationale'))} | {cite(record)} |"
        )
    return [*lines, ""]


def decision_section(ev: Evidence, pending: Mapping[str, Any] | None) -> tuple[str | None, list[str]]:
    """The decision: the seal's, else the one the seal step is about to record; fail closed otherwise."""
    sealed = next((r for r in reversed(ev.records) if r.kind == "release_sealed"), None)
    stages = [r for r in ev.records if r.kind == "release_decision"]
    lines = ["## Decision", ""]
    if sealed is not None:
        decision, reasons = sealed.payload.get("decision"), sealed.payload.get("reasons") or []
        source = cite(sealed)
    elif pending is not None:
        decision, reasons = pending.get("decision"), pending.get("reasons") or []
        source = (
            "(recorded by the `release_sealed` record that closes this chain right after this card's report)"
        )
    else:
        return None, [*lines, "**NOT DECIDED**: the chain is not sealed, so the model is not released.", ""]
    why = "; ".join(md(r) for r in reasons) or "every gate cleared and signed off"
    lines.append(f"**{str(decision or 'no decision').upper().replace('_', ' ')}** — {why} {source}")
    for record in stages:
        lines.append(f"- Stage {md(record.payload.get('stage'))}: {_stage(record.payload)} {cite(record)}")
    return (str(decision) if decision else None), [*lines, ""]


def _stage(payload: Mapping[str, Any]) -> str:
    """What one ``release_decision`` record says: gates cleared, signed off, or its summary."""
    if "cleared" in payload:
        state = "every gate cleared" if payload["cleared"] is True else "gates not cleared"
    elif "approved" in payload:
        state = "signed off" if payload["approved"] is True else "not signed off"
    else:
        state = str(payload.get("summary") or "recorded")
    reasons = "; ".join(str(r) for r in payload.get("reasons") or [])
    return md(state + (f" ({reasons})" if reasons else ""))
