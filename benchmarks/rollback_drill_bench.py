"""Rollback drill overhead against a local moto server (real HTTP, boto3 through the Airflow hook).

Prints figures; asserts nothing. For each target type, a live drill (``mode: live``, the target
itself) and a shadow drill (``mode: shadow``: a stand-in created, drilled and removed) run
``--drills`` times each, interleaved, on the same resource (each drill restores it), and it reports,
per drill and mode:

* wall — the engine call, end to end;
* platform wait — time in ``wait_stable`` and ``health`` steps (polling the platform);
* overhead — wall minus platform wait: reading versions and history, issuing the changes, retries
  bookkeeping, building the result;
* engine only — wall minus the time inside every AWS call: the drill's own Python.

moto answers every call in milliseconds and settles instantly, so "platform wait" here is the cost
of the polling calls themselves; on AWS it is dominated by the deployment. The last table puts the
overhead of both modes side by side: shadow / live (target: at most 1.5). A third figure, ``live +
journal``, is the live drill as the operator runs it — under the target's lease, with
``drill_started``/``drill_finished`` in the target's evidence chain (SQLite here) — next to the bare
engine call (the drill of the release before the journal existed).

    .venv/bin/python benchmarks/rollback_drill_bench.py [--drills 20]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "MOTO_ECS_SERVICE_RUNNING": "1"},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=1).close()
            return proc, url
        except urllib.error.HTTPError:
            return proc, url
        except OSError:
            if time.monotonic() > deadline:
                proc.terminate()
                raise SystemExit("moto_server did not start") from None
            time.sleep(0.1)


def make_lambda(client: Any) -> dict[str, Any]:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("app.py", "def handler(e, c):\n    return 1\n")
    role = client("iam").create_role(RoleName="bench", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    lam = client("lambda")
    lam.create_function(
        FunctionName="bench-scorer",
        Runtime="python3.12",
        Role=role,
        Handler="app.handler",
        Code={"ZipFile": archive.getvalue()},
        Publish=True,
    )
    for _ in range(2):
        lam.update_function_code(FunctionName="bench-scorer", ZipFile=archive.getvalue())
        lam.publish_version(FunctionName="bench-scorer")
    lam.create_alias(FunctionName="bench-scorer", Name="live", FunctionVersion="3")
    return {"type": "lambda", "name": "bench-scorer", "alias": "live"}


def make_ecs(client: Any) -> dict[str, Any]:
    ecs = client("ecs")
    ecs.create_cluster(clusterName="bench")
    for i in range(3):
        ecs.register_task_definition(
            family="bench-scorer", containerDefinitions=[{"name": "app", "image": f"s:{i}", "memory": 128}]
        )
    ecs.create_service(cluster="bench", serviceName="scorer", taskDefinition="bench-scorer:3", desiredCount=1)
    return {"type": "ecs", "name": "scorer", "cluster": "bench"}


def make_s3_pointer(client: Any) -> dict[str, Any]:
    s3 = client("s3")
    s3.create_bucket(Bucket="bench-models")
    s3.put_bucket_versioning(Bucket="bench-models", VersioningConfiguration={"Status": "Enabled"})
    for i in range(3):
        version = s3.put_object(Bucket="bench-models", Key="scorer/model", Body=f"m{i}".encode())["VersionId"]
        body = json.dumps({"key": "scorer/model", "version_id": version}).encode()
        s3.put_object(Bucket="bench-models", Key="scorer/current", Body=body)
    return {"type": "s3_pointer", "name": "bench-models/scorer/current"}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


#: A live drill's window that is always open (one starts every minute, for a minute).
ALWAYS_OPEN = {"cron": "* * * * *", "duration": "1m"}
MODES: dict[str, dict[str, Any]] = {
    "live": {"mode": "live", "window": ALWAYS_OPEN},
    "shadow": {"mode": "shadow"},
    "journal": {"mode": "live", "window": ALWAYS_OPEN},
}
#: The evidence store the journaled drills write to (set in main()).
STORE: dict[str, Any] = {}
#: Per journaled drill: seconds spent in the journal's own calls (state read, writes).
JOURNAL_SECONDS: list[float] = []


def one_drill(hook: Any, target_spec: dict[str, Any], mode: str) -> dict[str, Any]:
    from release_gates.checks.rollback_drill import run_rollback_drill
    from release_gates.policy import RollbackDrillCheck

    spec = RollbackDrillCheck(
        kind="rollback_drill", target={**target_spec, "poll_interval": 0.5}, **MODES[mode]
    )
    target = hook.deployment_target(spec.target)
    began = time.perf_counter()
    result = journaled_drill(target, spec) if mode == "journal" else run_rollback_drill(target, spec)
    wall = time.perf_counter() - began
    if result.status.value != "PASS":
        raise SystemExit(f"{target_spec['type']} {mode}: drill {result.status.value}: {result.summary}")
    calls = [c for s in result.metrics["steps"] for a in s["attempts"] for c in a["api_calls"]]
    api = sum(c["duration_ms"] for c in calls) / 1000
    platform = result.metrics["platform_wait_seconds"]
    return {"wall": wall, "platform": platform, "api": api, "calls": len(calls)}


@contextlib.contextmanager
def journal_time() -> Iterator[None]:
    """Add the time spent inside to the current drill's entry of JOURNAL_SECONDS."""
    began = time.perf_counter()
    try:
        yield
    finally:
        JOURNAL_SECONDS[-1] += time.perf_counter() - began


def journaled_drill(target: Any, spec: Any) -> Any:
    """What RollbackDrillOperator does around the engine on a task's first try: the lease decided on
    from the target's chain and written with ``drill_started`` (one commit), the drill's end and the
    lease's release in another; the lease taken first, with recovery, when the target is not free.
    One TargetJournal for the task, as the operator uses."""
    from release_gates.checks.drill_recovery import TargetDrillJournal, recover_unfinished_drills
    from release_gates.checks.rollback_drill import run_rollback_drill
    from release_gates.deploy.target_journal import TargetJournal

    class TimedDrillJournal(TargetDrillJournal):
        """Adds the time spent in the journal's own calls to JOURNAL_SECONDS (its direct cost)."""

        def drill_started(self, *args: Any, **kwargs: Any) -> None:
            with journal_time():
                super().drill_started(*args, **kwargs)

        def drill_finished(self, *args: Any, **kwargs: Any) -> None:
            with journal_time():
                super().drill_finished(*args, **kwargs)

    release = f"bench__run_{uuid.uuid4().hex[:8]}"  # each drill is another release's, as in production
    holder, check = f"{release}:rollback_drill", "operations.rollback_drill"
    began = time.perf_counter()
    journal = TargetJournal(STORE["store"], target.identity())
    deferred = journal.defer(holder, purpose="rollback drill", release_id=release)
    JOURNAL_SECONDS.append(time.perf_counter() - began)
    if deferred is None:
        with journal.hold(holder, purpose="rollback drill", release_id=release) as lease:
            recover_unfinished_drills(target, journal, lease=lease, by=holder, stable_timeout=60)
            return run_rollback_drill(target, spec, journal=TimedDrillJournal(journal, lease, release, check))
    drill_journal = TimedDrillJournal(
        journal, None, release, check, holder, deferred=deferred, current_version=target.current_version
    )
    try:
        return run_rollback_drill(target, spec, journal=drill_journal)
    finally:
        if drill_journal.lease is not None:
            journal.release(drill_journal.lease)


def bench(hook: Any, target_spec: dict[str, Any], drills: int) -> dict[str, dict[str, Any]]:
    """Both modes, interleaved drill by drill so that both see the same server and machine load."""
    rows: dict[str, list[dict[str, Any]]] = {mode: [] for mode in MODES}
    JOURNAL_SECONDS.clear()
    for _ in range(drills):
        for mode in MODES:
            rows[mode].append(one_drill(hook, target_spec, mode))
    return {
        mode: {
            "wall": [r["wall"] for r in found],
            "platform": [r["platform"] for r in found],
            "overhead": [r["wall"] - r["platform"] for r in found],
            "engine": [r["wall"] - r["api"] for r in found],
            "calls": found[0]["calls"],
        }
        for mode, found in rows.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drills", type=int, default=20)
    args = parser.parse_args()

    proc, url = start_moto()
    home = tempfile.mkdtemp(prefix="rg-bench-airflow-")
    os.environ.update(
        {
            "AIRFLOW_HOME": home,
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(
                {
                    "conn_type": "aws",
                    "login": "testing",
                    "password": "testing",
                    "extra": {"region_name": "us-east-1", "endpoint_url": url},
                }
            ),
        }
    )
    try:
        from release_gates.evidence import EvidenceStore
        from release_gates.hooks.aws import AwsDeploymentHook

        STORE["store"] = EvidenceStore(f"sqlite:///{home}/evidence.db")
        hook = AwsDeploymentHook("aws_default")
        targets = {"lambda": make_lambda(hook.get_client), "ecs": make_ecs(hook.get_client)}
        targets["s3_pointer"] = make_s3_pointer(hook.get_client)
        bench(hook, targets["lambda"], 2)  # warm up: imports, service models, connections
        print(f"rollback drill on moto ({url}), {args.drills} drills per target and mode; seconds per drill")
        print(
            f"{'target':<11} {'mode':<7} {'API calls':>9} {'figure':<14} {'median':>8} {'p95':>8} {'mean':>8}"
        )
        ratios = []
        for name, spec in targets.items():
            by_mode = bench(hook, spec, args.drills)
            for mode, figures in by_mode.items():
                for i, key in enumerate(("wall", "platform", "overhead", "engine")):
                    values = figures[key]
                    label = {"platform": "platform wait", "engine": "engine only"}.get(key, key)
                    first = i == 0
                    print(
                        f"{name if first and mode == 'live' else '':<11} {mode if first else '':<7} "
                        f"{figures['calls'] if first else '':>9} {label:<14} "
                        f"{statistics.median(values):>8.4f} {percentile(values, 0.95):>8.4f} "
                        f"{statistics.mean(values):>8.4f}"
                    )
            live = statistics.median(by_mode["live"]["overhead"])
            shadow = statistics.median(by_mode["shadow"]["overhead"])
            journaled = statistics.median(by_mode["journal"]["overhead"])
            # Paired: each round runs live, shadow and journal back to back, so the ratio of one
            # round's journal and live overheads sees the same machine load; its median is steadier
            # than the ratio of the two medians on a shared machine.
            pairs = zip(by_mode["journal"]["overhead"], by_mode["live"]["overhead"], strict=True)
            paired = statistics.median(j / b for j, b in pairs)
            # The journal's own calls, timed around each one inside the journaled drills: its direct
            # cost, free of the server's jitter that the difference of two overheads carries.
            own = statistics.median(JOURNAL_SECONDS)
            ratios.append(
                (
                    name,
                    live,
                    shadow,
                    journaled,
                    paired,
                    own,
                    by_mode["live"]["calls"],
                    by_mode["shadow"]["calls"],
                )
            )
        print(
            "\noverhead per drill (median): shadow / live (target <= 1.5); live + journal / live "
            "(target <= 1.10), as a ratio of medians and as the median of paired rounds; the journal's "
            "own calls per drill and (live + those) / live"
        )
        print(
            f"{'target':<11} {'live s':>8} {'shadow s':>9} {'ratio':>6} {'journal s':>10} {'ratio':>6} "
            f"{'paired':>7} {'own ms':>7} {'own':>5} {'calls live/shadow':>18}"
        )
        for name, live, shadow, journaled, paired, own, live_calls, shadow_calls in ratios:
            print(
                f"{name:<11} {live:>8.4f} {shadow:>9.4f} {shadow / live:>6.2f} {journaled:>10.4f} "
                f"{journaled / live:>6.2f} {paired:>7.2f} {own * 1000:>7.2f} {(live + own) / live:>5.2f} "
                f"{f'{live_calls}/{shadow_calls}':>18}"
            )
    finally:
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    main()
