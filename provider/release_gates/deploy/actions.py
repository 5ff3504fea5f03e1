"""Promotion and real rollback: move a target to a version, wait until it settles, check its health.

Each returns the evidence record to append (kind ``promotion`` or ``rollback``): versions, timings,
health, the AWS calls with their request ids, and an error if a step failed. Nothing here raises on
a platform error — the caller records first, then decides (retry, fail, roll back).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from release_gates.deploy.calls import TargetError, now_iso

if TYPE_CHECKING:
    from release_gates.deploy.targets import DeploymentTarget


def change_version(
    target: DeploymentTarget,
    version: str,
    *,
    action: str,
    stable_timeout: float,
    from_version: str | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    """Set ``version`` on ``target``, wait for it to settle, then check health.

    ``from_version`` is what the target served before this change when it is already known (a
    retried promotion finds the candidate live; the first attempt's record knows what came before).
    Returns ``status``: ``done`` (stable and healthy), ``unhealthy`` (stable, health check failed),
    or ``error`` (a step failed; ``error`` says which and why).
    """
    version = target.normalize_version(version)
    target.calls.drain()
    record: dict[str, Any] = {
        "action": action,
        "target": target.identity(),
        "to_version": version,
        "from_version": from_version,
        "reason": reason,
        "started_at": now_iso(),
        "steps": [],
    }
    started = time.monotonic()
    step = "read_current"
    try:
        serving = target.current_version()
        record["serving_before"] = serving
        if record["from_version"] is None:
            record["from_version"] = serving
        _step(record, step, started, serving=serving)
        if serving != version:
            step = "set_version"
            target.set_version(version)
            _step(record, step, started)
        step = "wait_stable"
        settled = target.wait_stable(stable_timeout, version=version)
        _step(record, step, started, polls=settled.get("polls"))
        step = "health"
        health = target.health()
        _step(record, step, started, healthy=health.healthy)
    except TargetError as exc:
        record.update(status="error", error={"step": step, **exc.to_dict()}, healthy=None)
        record["summary"] = f"{action} of {target.description} to {version} failed at {step}: {exc}"
    else:
        record.update(healthy=health.healthy, health=health.to_dict())
        record["status"] = "done" if health.healthy else "unhealthy"
        record["summary"] = f"{action}: {target.description} {record['from_version']} → {version}, " + (
            "stable and healthy" if health.healthy else f"unhealthy: {health.reason}"
        )
    record.update(
        finished_at=now_iso(),
        duration_s=round(time.monotonic() - started, 4),
        api_calls=target.calls.drain(),
    )
    return record


def _step(record: dict[str, Any], name: str, started: float, **facts: Any) -> None:
    record["steps"].append(
        {"step": name, "at": now_iso(), "t_s": round(time.monotonic() - started, 4), **facts}
    )
