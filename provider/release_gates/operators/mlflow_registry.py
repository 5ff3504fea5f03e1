"""Registry candidates inside the release DAG: resolved and pinned at start, then read from evidence.

* :func:`resolve_registry_candidate` — the ``start`` step downloads a ``models:/<name>/<version>``
  candidate (:mod:`release_gates.scoring.registry`), hashes it (a given sha256 must match) and
  returns the pin that ``release_started`` records under ``inputs.candidate_registry``;
* :func:`~release_gates.operators.candidate_pin.pinned_candidate` — every later step (score,
  checks) loads the candidate from that pin: the file in the release's artifact folder, downloaded
  again when this worker has no copy, and refused when its bytes are not the pinned ones. Run
  parameters no longer matter once pinned;
* :func:`registry_promotion_check` — immediately before the promotion of an ``mlflow_alias``
  target: the version promoted is the pinned one and the registry still serves the pinned bytes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from release_gates.operators.candidate_pin import REGISTRY_PIN, registry_client, registry_pin

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator, Context

    from release_gates.policy import ReleasePolicy


def start_registry_inputs(
    operator: BaseOperator, policy: ReleasePolicy, inputs: dict[str, Any], context: Context
) -> str | None:
    """The ``start`` step's registry work on its ``inputs`` (before the chain opens): the version of
    the triggering Asset event when the run was asset-triggered (:mod:`.release_trigger`), then the
    registry candidate's pin (:data:`REGISTRY_PIN`, and ``model_sha256_verified``).

    Returns why the release must be refused (recorded by :func:`refuse_start` once the chain is
    open), or None.
    """
    from release_gates.operators.release_trigger import AssetTriggerError, apply_asset_trigger
    from release_gates.scoring.registry import RegistryError

    try:
        triggered = apply_asset_trigger(policy, inputs, context)
        pin = resolve_registry_candidate(
            operator,
            policy,
            context,
            str(getattr(operator, "release_id", "")),
            uri=str(inputs["model_uri"]) if triggered else None,
            sha256=str(inputs.get("model_sha256") or "") if triggered else None,
        )
    except (AssetTriggerError, RegistryError) as exc:
        return str(exc)
    if pin is not None:
        inputs[REGISTRY_PIN] = pin
        inputs["model_sha256_verified"] = pin["sha256"]
    return None


def refuse_start(operator: Any, problem: str, context: Context) -> None:
    """Record ``release_refused`` (stage ``candidate``) and fail ``start`` without retry."""
    from airflow.sdk.exceptions import AirflowFailException

    from release_gates.inputs.preflight import RELEASE_REFUSED

    summary = f"1 input problem(s): candidate model: {problem}"
    operator.append_evidence(
        RELEASE_REFUSED,
        {
            "stage": "candidate",
            "summary": summary,
            "problems": [{"input": "candidate model", "problem": problem}],
        },
        context,
    )
    operator.log.error("Candidate: %s", problem)
    raise AirflowFailException(f"release refused at start: {summary} (evidence {operator.release_id})")


def resolve_registry_candidate(
    operator: BaseOperator,
    policy: ReleasePolicy,
    context: Context,
    release_id: str,
    *,
    uri: str | None = None,
    sha256: str | None = None,
) -> dict[str, Any] | None:
    """The pin of the policy's registry candidate for this run, or None for a file candidate.

    ``uri`` and ``sha256`` (an asset event's registry version) replace the rendered policy values.
    Raises
    :class:`~release_gates.scoring.registry.RegistryError` when the version cannot be resolved or
    its file does not match a given sha256.
    """
    from release_gates.artifacts import artifact_dir
    from release_gates.operators.base import render_policy_values
    from release_gates.scoring.registry import is_registry_uri, resolve_registry_model

    if policy.candidate is None:
        return None
    raw = policy.candidate.model_dump(mode="json", exclude_none=True)
    rendered = render_policy_values(operator, raw, context)
    uri = uri or str(rendered.get("uri") or "")
    if not is_registry_uri(uri):
        return None
    expected = (sha256 if sha256 is not None else str(rendered.get("sha256") or "")).strip() or None
    client = registry_client(str(rendered.get("mlflow_conn_id") or "mlflow_default"))
    resolved = resolve_registry_model(
        client,
        uri,
        model_format=str(rendered.get("format") or "skops"),
        dest_dir=artifact_dir(release_id, "candidate"),
        expected_sha256=expected,
    )
    return {
        **resolved.to_evidence(),
        "format": str(rendered.get("format") or "skops"),
        "mlflow_conn_id": str(rendered.get("mlflow_conn_id") or "mlflow_default"),
        "sha256_source": "policy or run (verified against the registry file)"
        if expected
        else "computed from the registry file at release start",
    }


def registry_promotion_check(target: Any, version: str, records: Iterable[Any]) -> tuple[str, list[str]]:
    """``(version to promote, reasons to refuse)`` for a target that serves registry versions.

    Other targets, or a release without a registry pin: ``(version, [])`` unchanged. With a pin, the
    version is the pinned one (a different non-empty version is refused), and the registry must
    still serve the pinned bytes for it (an artifact re-uploaded after the gates is refused).
    """
    if getattr(target, "type", None) != "mlflow_alias":
        return version, []
    pin = registry_pin(records)
    if pin is None:
        return version, [
            "the release pinned no models:/ candidate, so nothing says which registry bytes were judged"
        ]
    reasons: list[str] = []
    pinned_version = str(pin["version"])
    if str(pin["name"]) != target.model:
        reasons.append(f"the release judged models:/{pin['name']}; the target's model is {target.model}")
    if version and version != pinned_version:
        reasons.append(f"version {version} is not the judged version {pinned_version}")
    try:
        now = target.artifact_sha256(pinned_version, str(pin.get("format") or "skops"))
    except Exception as exc:  # an unreadable artifact cannot be shown to be the judged one
        reasons.append(f"the registry artifact of version {pinned_version} cannot be read: {exc}")
    else:
        if now != pin["sha256"]:
            reasons.append(
                f"the registry artifact of version {pinned_version} changed since the gates: sha256 "
                f"{now[:12]}…, judged {str(pin['sha256'])[:12]}…"
            )
    return pinned_version, reasons


def registry_promotion_guard(operator: Any, target: Any, version: str, context: Context) -> str:
    """The version ``PromoteModelOperator`` promotes on a registry alias, after
    :func:`registry_promotion_check`; a reason to refuse is recorded as a refused ``promotion`` and
    fails the task without retry (nothing changed on the target). Then the tags the alias move sets
    on the version: the decision, the release and its evidence chain head (every gate and sign-off
    is behind it). Other targets: ``version`` unchanged, nothing read. For every target, the extra
    of the step's outlet events (``deployment.promoted_asset``): the version about to go live.
    """
    if getattr(target, "type", None) != "mlflow_alias":
        _promotion_event(operator, target, version, context)
        return version
    from airflow.sdk.exceptions import AirflowFailException

    from release_gates.deploy import TargetError
    from release_gates.deploy.calls import now_iso

    store, release_id = operator.evidence_store, str(operator.release_id)
    records = store.records(release_id)
    promoted, reasons = registry_promotion_check(target, version, records)
    if reasons:
        try:
            serving: str | None = target.current_version()
        except TargetError:
            serving = None
        record = {
            "action": "promotion",
            "status": "refused",
            "target": target.identity(),
            "to_version": promoted,
            "from_version": serving,
            "serving_before": serving,
            "healthy": None,
            "reasons": reasons,
            "summary": f"promotion of {target.description} to {promoted} refused: {reasons[0]}",
            "finished_at": now_iso(),
            "api_calls": target.calls.drain(),
        }
        seq = operator.append_evidence("promotion", record, context).seq
        operator.log.error("%s (evidence %s #%d)", record["summary"], release_id, seq)
        raise AirflowFailException(f"{record['summary']} (evidence {release_id} #{seq})")
    head = store.chain(release_id)
    pin = registry_pin(records) or {}
    target.pending_tags = {
        "release_gates.decision": "promoted",
        "release_gates.release_id": release_id,
        "release_gates.evidence_head": f"{head.head_seq}:{head.head_hash}",
        "release_gates.model_sha256": str(pin.get("sha256") or ""),
    }
    _promotion_event(operator, target, promoted, context)
    return promoted


def _promotion_event(operator: Any, target: Any, version: str, context: Context) -> None:
    """The extra of the promote step's outlet events (Airflow emits them only if the step succeeds)."""
    from release_gates.operators.release_trigger import promotion_event_extra

    outlets = list(getattr(operator, "outlets", None) or [])
    events = context.get("outlet_events")
    for asset in outlets:
        if events is not None and getattr(asset, "uri", None):
            extra = promotion_event_extra(str(operator.release_id), target.identity(), version)
            events[asset].extra = extra
