"""Asset-triggered releases: a registered model version starts the release DAG; a promotion is an event.

* The training pipeline announces a new registry version with :func:`announce_model_version` inside
  a task whose ``outlets`` hold the policy's ``release.trigger.asset``: Airflow records an Asset event
  with ``extra = {model, version, uri[, sha256]}`` (:func:`registry_event_extra`) when that task
  succeeds. The release DAG is scheduled on that Asset (``schedule=[Asset(uri)]``; Airflow's own
  machinery, no sensor).
* The release's ``start`` step reads the triggering event from ``triggering_asset_events``
  (:func:`apply_asset_trigger`): its registry version becomes the run's ``model_uri``,
  ``model_version`` (and ``model_sha256`` when the event names one) and is recorded with the event's
  source in ``release_started``. A run parameter that disagrees with the event refuses the release:
  a parameter cannot override what the event pinned. A manual run (no triggering event) keeps its
  parameters.
* The promote step's outlet (``deployment.promoted_asset``) carries the promoted version
  (:func:`promotion_event_extra`); ``monitoring.follow_promotions`` schedules the monitoring DAG on
  it, so monitoring runs when the live version changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.sdk import Context

    from release_gates.policy import ReleasePolicy

#: The run parameters an asset event fills (and that no run parameter may contradict).
EVENT_PARAMS = ("model_uri", "model_version", "model_sha256")


def registry_event_extra(model: str, version: str | int, *, sha256: str | None = None) -> dict[str, str]:
    """The ``extra`` of a "model version registered" Asset event."""
    extra = {"model": model, "version": str(version), "uri": f"models:/{model}/{version}"}
    if sha256:
        extra["sha256"] = sha256
    return extra


def announce_model_version(
    context: Context, asset_uri: str, model: str, version: str | int, *, sha256: str | None = None
) -> dict[str, str]:
    """In a training task with ``outlets=[Asset(asset_uri)]``: attach the registry version to the
    Asset event Airflow records when the task succeeds. Returns the extra."""
    from airflow.sdk import Asset

    extra = registry_event_extra(model, version, sha256=sha256)
    event_extra: dict[str, Any] = dict(extra)
    context["outlet_events"][Asset(asset_uri)].extra = event_extra
    return extra


class AssetTriggerError(ValueError):
    """The triggering event cannot start this release (wrong model, unreadable, or contradicted)."""


def triggering_event(policy: ReleasePolicy, context: Mapping[str, Any]) -> Any | None:
    """The newest event of the policy's trigger asset that started this run (None: a manual run)."""
    trigger = policy.release.trigger
    events = context.get("triggering_asset_events")
    if trigger is None or not events:
        return None
    from airflow.sdk import Asset

    wanted = {trigger.asset, Asset(trigger.asset).uri}  # as written, and as Airflow normalizes it
    matching = [e for asset in events for e in events[asset] if getattr(asset, "uri", None) in wanted]
    if not matching:
        return None
    return max(matching, key=lambda e: str(getattr(e, "timestamp", "")))


def event_inputs(policy: ReleasePolicy, event: Any) -> dict[str, str]:
    """The run parameters the event pins, checked against the policy's registered model."""
    from release_gates.scoring.registry import RegistryError, parse_registry_uri

    extra = dict(getattr(event, "extra", None) or {})
    trigger = policy.release.trigger
    assert trigger is not None
    expected = trigger.registered_model or policy.release.model
    uri = str(extra.get("uri") or "")
    if not uri and extra.get("model") and extra.get("version"):
        uri = f"models:/{extra['model']}/{extra['version']}"
    try:
        name, version = parse_registry_uri(uri)
    except RegistryError as exc:
        raise AssetTriggerError(f"the triggering asset event names no registry version: {exc}") from None
    if name != expected or str(extra.get("version") or version) != version:
        raise AssetTriggerError(
            f"the triggering asset event names {uri} (version {extra.get('version')}); this release "
            f"takes versions of registered model {expected!r} only"
        )
    pinned = {"model_uri": uri, "model_version": version}
    if extra.get("sha256"):
        pinned["model_sha256"] = str(extra["sha256"])
    return pinned


def apply_asset_trigger(policy: ReleasePolicy, inputs: dict[str, Any], context: Mapping[str, Any]) -> bool:
    """Fill ``inputs`` from the triggering registry event (see the module docstring); False when
    the run was not asset-triggered. Raises :class:`AssetTriggerError` on a contradiction."""
    event = triggering_event(policy, context)
    if event is None:
        return False
    pinned = event_inputs(policy, event)
    for key in EVENT_PARAMS:
        given = str(inputs.get(key) or "").strip()
        if given and key in pinned and given != pinned[key]:
            raise AssetTriggerError(
                f"run parameter {key}={given!r} contradicts the registry event that triggered this run "
                f"({pinned[key]!r}); a run parameter cannot override what the event pinned"
            )
    inputs.update(pinned)
    inputs["trigger"] = {
        "asset": policy.release.trigger.asset if policy.release.trigger else None,
        "extra": dict(getattr(event, "extra", None) or {}),
        "source_dag_id": getattr(event, "source_dag_id", None),
        "source_run_id": getattr(event, "source_run_id", None),
        "source_task_id": getattr(event, "source_task_id", None),
        "timestamp": str(getattr(event, "timestamp", "") or ""),
    }
    return True


def promotion_event_extra(release_id: str, target: Mapping[str, Any], version: str) -> dict[str, Any]:
    """The ``extra`` of the promote step's Asset event: what is live now, and which release put it there."""
    return {"release_id": release_id, "target": dict(target), "version": version}
