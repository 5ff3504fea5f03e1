"""Wall time of the release DAG on one Celery worker against two (production topology, no Docker).

The ``make demo`` release of the fair candidate (eight checks in four gates, two-person sign-off,
promotion) runs on :class:`release_gates_testing.cluster.Cluster` with 1, then 2 workers of
``--concurrency`` task slots each (default 1: a worker stands for a one-slot machine, so two workers
can run checks of different gates side by side). Wall time runs from the REST trigger to the end of
the run and includes the scripted humans, who answer 5 s after a step parks (the same for both).
Also printed: the check phase (first check started → last check finished, from the task instances)
and the sum of the checks' own run times. Prints figures only.

    PYTHONPATH=. .venv/bin/python benchmarks/cluster_bench.py [--runs 2] [--concurrency 1]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def _seconds(ti: dict[str, Any], key: str) -> float:
    return datetime.fromisoformat(ti[key]).timestamp()


def check_phase(instances: list[dict[str, Any]], check_ids: set[str]) -> tuple[float, float]:
    """(first check start → last check end, sum of check durations) in seconds."""
    checks = [
        ti for ti in instances if ti["task_id"] in check_ids and ti.get("start_date") and ti.get("end_date")
    ]
    span = max(_seconds(ti, "end_date") for ti in checks) - min(_seconds(ti, "start_date") for ti in checks)
    return span, sum(_seconds(ti, "end_date") - _seconds(ti, "start_date") for ti in checks)


def reset_alias(moto_url: str) -> None:
    """Put the Lambda alias back on version 2, where every measured release starts."""
    import boto3  # type: ignore[import-untyped]

    from release_gates_testing import aws

    client = boto3.client(
        "lambda",
        endpoint_url=moto_url,
        region_name=aws.REGION,
        aws_access_key_id="demo",
        aws_secret_access_key="demo",
    )
    client.update_alias(FunctionName=aws.FUNCTION, Name="live", FunctionVersion="2")


def measure(
    workers: int, args: argparse.Namespace, assets: Any, moto_url: str, work: Path
) -> list[dict[str, float]]:
    from demo.runner import (
        DAG_ID,
        SUBMITTER,
        USERS,
        airflow_connections,
        human_script,
        play_release,
        release_conf,
    )
    from release_gates.evidence.signing import SigningKey
    from release_gates.policy import load_policy
    from release_gates_testing.cluster import Cluster

    check_ids = {
        check_id for _, _, check_id in load_policy(REPO / "include" / "release_policy.yaml").iter_checks()
    }
    # The demo's own trigger parameters: every dataset pinned, the candidate's model and image.
    conf = release_conf(assets, assets.candidates["fair"])
    cluster = Cluster(
        work / f"airflow-{workers}",
        REPO / "dags",
        USERS,
        workers=workers,
        worker_concurrency=args.concurrency,
        extra_env=airflow_connections(moto_url, assets, SigningKey.generate()),
    )
    results = []
    try:
        cluster.start()
        cluster.wait_for_dag(DAG_ID)
        for attempt in range(args.runs + 1):  # the first run warms caches (.pyc, trivy, pandas)
            reset_alias(moto_url)
            began = time.monotonic()
            run_id = cluster.trigger(DAG_ID, conf, as_user=SUBMITTER)
            play_release(cluster, {"fair": run_id}, {"fair": human_script("fair")}, log=lambda _: None)
            wall = time.monotonic() - began
            state = cluster.run_state(DAG_ID, run_id)
            span, busy = check_phase(cluster.task_instances(DAG_ID, run_id), check_ids)
            label = "warm-up" if attempt == 0 else f"run {attempt}"
            print(
                f"  {workers} worker(s), {label}: {wall:6.1f} s wall, check phase {span:5.1f} s, "
                f"checks busy {busy:5.1f} s ({state})",
                flush=True,
            )
            if state != "success":
                raise RuntimeError(f"run {run_id} ended {state}; logs in {cluster.logs}")
            if attempt:
                results.append({"wall": wall, "span": span, "busy": busy})
    finally:
        cluster.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2, help="measured runs per configuration")
    parser.add_argument("--concurrency", type=int, default=1, help="task slots per worker")
    args = parser.parse_args()

    from demo.prepare import prepare
    from demo.runner import setup_aws
    from release_gates_testing import aws

    with tempfile.TemporaryDirectory(prefix="rg-cluster-bench-") as tmp:
        work = Path(tmp)
        assets = prepare(REPO / "include", work, log=lambda _: None)
        moto, moto_url = aws.start_moto(work / "moto.log")
        try:
            # As the demo does: each Lambda version carries its model sha256 and the scanned image.
            setup_aws(moto_url, assets)
            figures = {n: measure(n, args, assets, moto_url, work) for n in (1, 2)}
        finally:
            aws.stop_moto(moto)

    print(f"release DAG (fair candidate), {args.concurrency} slot(s) per worker, median of {args.runs}:")
    medians = {n: {k: statistics.median(r[k] for r in runs) for k in runs[0]} for n, runs in figures.items()}
    for n, m in medians.items():
        print(
            f"  {n} worker(s): {m['wall']:6.1f} s wall, check phase {m['span']:5.1f} s, "
            f"checks busy {m['busy']:5.1f} s"
        )
    one, two = medians[1], medians[2]
    print(
        f"speed-up with 2 workers: wall {one['wall'] / two['wall']:.2f}×, "
        f"check phase {one['span'] / two['span']:.2f}×"
    )


if __name__ == "__main__":
    main()
