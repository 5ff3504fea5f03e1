"""The release's model card (``MODEL_CARD.md``, Hugging Face format) built from its evidence records only.

What the model is for and what it must not be used beyond (the policy's ``release`` section and gate
rationales), the data it was trained and evaluated on (the policy's ``datasets`` and the fingerprints
the release read), its evaluation per subgroup with intervals (the fairness checks' recorded metrics,
small groups suppressed as recorded), the gate verdicts, waivers in force, human answers and the
decision. Every figure cites the record it was read from as ``[evidence #<seq> <kind>]``
(:data:`CITATION`), and the chain id is named once at the top, so an auditor checks a number against
``release-gates evidence verify`` or an exported bundle. Nothing is inferred that the evidence does not
hold: no licence is recorded, so the metadata has none; a check without a result says so.

Rendered by hand, the metadata with PyYAML, rather than with ``huggingface_hub``'s ``ModelCard`` /
``ModelCardData``: the seal step writes the card on Airflow workers, where ``huggingface_hub`` (and
its HTTP stack) is no dependency, and a sealed card's sha256 must not depend on which optional
packages a worker happens to have. The layout is the Hub's (a YAML block between ``---`` lines, then
Markdown; ``model-index`` per the Hub's schema); the tests load every card with
``huggingface_hub.ModelCard``. No Airflow here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from release_gates.artifacts import write_atomic
from release_gates.reports.model_card_sections import (
    Evidence,
    answers_section,
    cite,
    data_section,
    datasets_read,
    decision_section,
    details_section,
    gates_section,
    group_name,
    intended_use_section,
    kind_of,
    latest_results,
    limitations_section,
    md,
    num,
    other_checks_section,
    suppressed,
    waivers_section,
)
from release_gates.reports.wording import METRIC_NAMES

if TYPE_CHECKING:
    from release_gates.evidence import EvidenceRecord
    from release_gates.evidence.verify import VerifyReport
    from release_gates.policy import ReleasePolicy

FILE_NAME = "MODEL_CARD.md"
#: How a figure names its evidence record: ``[evidence #12 check_result]``.
CITATION = re.compile(r"\[evidence #(\d+) ([a-z_]+)\]")
#: The Hub's task for the binary classifiers fairness checks evaluate (labels and predictions in tables).
TASK = {"type": "tabular-classification", "name": "Binary classification"}


@dataclass(frozen=True)
class ModelCard:
    """The card's metadata (the YAML block) and Markdown body."""

    metadata: dict[str, Any]
    body: str

    @property
    def text(self) -> str:
        block = yaml.safe_dump(self.metadata, sort_keys=False, allow_unicode=True, width=10_000)
        return f"---\n{block}---\n\n{self.body}"


def build_model_card(
    records: Sequence[EvidenceRecord],
    *,
    release_id: str | None = None,
    policy: ReleasePolicy | None = None,
    pending_seal: Mapping[str, Any] | None = None,
    verify: VerifyReport | None = None,
) -> ModelCard:
    """The model card of a release chain.

    ``policy`` is read only when the chain holds no snapshot of the policy it started with, and only
    if its sha256 is the recorded one. ``pending_seal`` is the ``release_sealed`` payload the seal
    step is about to record (the card is written, and its sha256 recorded, before the seal).
    """
    records = list(records)
    started = next((r for r in records if r.kind == "release_started"), None)
    ev = Evidence(
        records=records,
        release_id=release_id or (records[0].release_id if records else "unknown"),
        started=started,
        results=latest_results(records),
        policy=None,
        policy_cite="",
        notes=[],
    )
    ev.policy, ev.policy_cite = _recorded_policy(ev, policy)
    evaluations = [_fairness(ev, record) for record in ev.results.values() if kind_of(record) == "fairness"]
    decision, decision_lines = decision_section(ev, pending_seal)
    body = [
        *_header(ev, verify),
        *details_section(ev),
        *intended_use_section(ev),
        *limitations_section(ev),
        *data_section(ev),
        "## Evaluation",
        "",
    ]
    if evaluations:
        for evaluation in evaluations:
            body += evaluation.lines
    else:
        body += ["No fairness check recorded a result in this release: no subgroup evaluation to report.", ""]
    body += [
        *other_checks_section(ev),
        *gates_section(ev),
        *waivers_section(ev),
        *answers_section(ev),
        *decision_lines,
    ]
    body += [f"Note: {n}" for n in ev.notes] + ([""] if ev.notes else [])
    sealed = any(r.kind == "release_sealed" for r in records)
    return ModelCard(_metadata(ev, evaluations, decision, sealed), "\n".join(body))


def write_model_card(card: ModelCard, out_dir: str | Path) -> Path:
    """Write ``MODEL_CARD.md`` to ``out_dir`` (atomically: a reader never sees half a card)."""
    path = Path(out_dir) / FILE_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, card.text)
    return path


def _recorded_policy(ev: Evidence, given: ReleasePolicy | None) -> tuple[ReleasePolicy | None, str]:
    """The policy the release started with: its snapshot in the chain, else ``given`` if its sha256 is
    the recorded one. Anything else leaves the policy out (and says why): a card never describes
    rules the release was not decided by."""
    from release_gates.evidence.snapshot import PolicySnapshotError, snapshots_in
    from release_gates.policy import PolicyError, parse_policy

    recorded = str((ev.started_payload.get("policy") or {}).get("sha256") or "")
    try:
        snapshots = snapshots_in(ev.records)
    except PolicySnapshotError as exc:
        ev.notes.append(f"the policy is left out: {exc}")
        return None, ""
    snapshot = next((s for s in snapshots if recorded and s.sha256 == recorded), None)
    if snapshot is not None:
        record = next(r for r in ev.records if f"{r.kind} #{r.seq}" == snapshot.where)
        try:
            return parse_policy(snapshot.text, source=f"<{snapshot.where}>"), cite(record)
        except PolicyError as exc:
            ev.notes.append(f"the recorded policy does not parse ({exc.problems[0]}): it is left out")
            return None, ""
    if given is not None and ev.started is not None and recorded and given.sha256 == recorded:
        ev.notes.append(
            "the policy is read from the file given, whose sha256 is the one the release recorded"
        )
        return given, cite(ev.started)
    ev.notes.append(
        "the chain holds no snapshot of the policy the release started with: intended use, data "
        "descriptions and gate rationales are left out"
    )
    return None, ""


def _header(ev: Evidence, verify: VerifyReport | None) -> list[str]:
    p = ev.started_payload
    version = (p.get("inputs") or {}).get("model_version")
    title = f"# Model card: {p.get('model') or 'unknown model'}, version {num(version)}"
    head = ev.records[-1] if ev.records else None
    span = f"records #1–#{head.seq}, head `{head.hash}`" if head else "no records"
    if verify is None:
        state = "The chain was not verified when this card was written."
    elif verify.ok:
        state = f"The chain verifies ({verify.records} records)."
    else:
        state = f"**The chain does NOT verify**: {md(verify.problem)}."
    return [
        title,
        "",
        f"Generated from the evidence chain `{ev.release_id}` only ({span}). {state} Every figure cites "
        "the record it was read from as [evidence #seq kind]; check them with `release-gates evidence "
        "verify` or in an exported bundle.",
        "",
    ]


@dataclass(frozen=True)
class _Evaluation:
    lines: list[str]
    #: model-index ``results`` entries (the Hub's schema): one per fairness check.
    index: list[dict[str, Any]]


def _fairness(ev: Evidence, record: EvidenceRecord) -> _Evaluation:
    payload, src = record.payload, cite(record)
    check_id = str(payload.get("check_id"))
    metrics = payload.get("metrics") or {}
    level = f"confidence {num(metrics.get('confidence'))}"
    datasets = datasets_read(record)
    if not datasets:  # no fingerprint recorded: the dataset the policy names, without one
        specs = {cid: check for _, check, cid in ev.policy.iter_checks()} if ev.policy is not None else {}
        named = getattr(specs.get(check_id), "data", None)
        datasets = [(str(named), {})] if named else []
    data = ", ".join(
        f"`{name}`" + (f" ({num(facts['rows'])} rows)" if facts.get("rows") is not None else "")
        for name, facts in datasets
    )
    lines = [
        f"### `{check_id}` on {data or 'data not named in the evidence'} {src}",
        "",
        f"Status {payload.get('status')}; {num(metrics.get('rows'))} rows; intervals at {level}; decision "
        f"rule {md(metrics.get('decision'))}; groups under {num(metrics.get('min_cell_size'))} rows "
        f"suppressed, under {num(metrics.get('min_group_size'))} not decided on {src}",
        "",
        "| Criterion | Grouping | Groups compared | Value | Interval | Threshold | Status | Source |",
        "|---|---|---|---|---|---|---|---|",
    ]
    results: list[dict[str, Any]] = []
    for c in metrics.get("criteria") or []:
        rule = f"{c.get('metric')} {str(c.get('rule')).replace('_', ' ')}"
        interval = f"{num(c.get('ci_low'))}–{num(c.get('ci_high'))}" if c.get("ci_low") is not None else "—"
        lines.append(
            f"| {md(rule)} | {md(' × '.join(c.get('grouping') or []))} | "
            f"{md(' vs '.join(c.get('groups_compared') or []))} | {num(c.get('value'))} | {interval} | "
            f"{num(c.get('threshold'))} | {c.get('status')} | {src} |"
        )
        if isinstance(c.get("value"), int | float):
            compared = " vs ".join(c.get("groups_compared") or [])
            results.append({"type": f"{c.get('metric')}_{c.get('rule')}", "value": c["value"],
                            "name": f"{rule}, {compared} {src}"})  # fmt: skip
    groups = [g for g in metrics.get("groups") or [] if isinstance(g, Mapping)]
    names = _metric_order(groups)
    lines += ["", f"Rates per group, each with its interval at {level}:", ""]
    lines += ["| Group | n | " + " | ".join(METRIC_NAMES.get(m, m) for m in names) + " | Source |"]
    lines += ["|---|---|" + "---|" * len(names) + "---|"]
    for entry in groups:
        group = group_name(entry.get("group") or {})
        if suppressed(entry, metrics):
            n = entry.get("n") if not isinstance(entry.get("n"), int) else f"<{metrics.get('min_cell_size')}"
            lines.append(
                f"| {md(group)} | {md(n)} | " + " | ".join("suppressed" for _ in names) + f" | {src} |"
            )
            continue
        cells = []
        for m in names:
            rate = (entry.get("rates") or {}).get(m) or {}
            cells.append(f"{num(rate.get('value'))} ({num(rate.get('ci_low'))}–{num(rate.get('ci_high'))})")
            if isinstance(rate.get("value"), int | float):
                results.append(
                    {"type": m, "value": rate["value"], "name": f"{METRIC_NAMES.get(m, m)}, {group} {src}"}
                )
        lines.append(f"| {md(group)} | {num(entry.get('n'))} | " + " | ".join(cells) + f" | {src} |")
    name, facts = datasets[0] if datasets else ("unnamed", {})
    dataset: dict[str, Any] = {
        "type": name,
        "name": name + (f" ({facts['uri']})" if facts.get("uri") else ""),
    }
    if facts.get("sha256"):
        dataset["revision"] = facts["sha256"]
    index = [{"task": dict(TASK), "dataset": dataset, "metrics": results}] if results else []
    return _Evaluation([*lines, ""], index)


def _metric_order(groups: Sequence[Mapping[str, Any]]) -> list[str]:
    recorded = list(dict.fromkeys(m for g in groups for m in (g.get("rates") or {})))
    return [m for m in METRIC_NAMES if m in recorded] + [m for m in recorded if m not in METRIC_NAMES]


def _metadata(
    ev: Evidence, evaluations: Sequence[_Evaluation], decision: str | None, sealed: bool
) -> dict[str, Any]:
    """The YAML block: the Hub's keys (no ``license``: none is recorded) and where the card came from."""
    p = ev.started_payload
    model = str(p.get("model") or "unknown-model")
    tags = ["release-gates", f"risk-tier-{p.get('risk_tier') or 'unknown'}"]
    if decision:
        tags.append(f"release-{decision}")
    data: dict[str, Any] = {"tags": tags}
    results = [r for e in evaluations for r in e.index]
    if results:  # the Hub's metric ids (``metrics``) are evaluate's; ours are named in model-index only
        data["pipeline_tag"] = TASK["type"]
        data["model-index"] = [{"name": model, "results": results}]
    head = ev.records[-1] if ev.records else None
    inputs = p.get("inputs") or {}
    data["release_gates"] = {
        "chain": ev.release_id,
        "head": {"seq": head.seq, "hash": head.hash} if head else None,
        "model_version": None if inputs.get("model_version") is None else str(inputs["model_version"]),
        "model_sha256": inputs.get("model_sha256_verified"),
        "policy_sha256": (p.get("policy") or {}).get("sha256"),
        "decision": decision,
        "decision_sealed": sealed,
    }
    return data
