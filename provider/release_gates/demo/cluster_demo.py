"""``make cluster-demo``: the ``make demo`` releases on the production topology, without Docker.

Same candidates, policy, humans and expected outcome as ``make demo`` (the fair candidate is
released, the biased one held), but Airflow runs as production runs it
(:class:`~release_gates.demo.cluster.Cluster`): PostgreSQL for the metadata and, in its own database,
the evidence store; Redis as the Celery broker; scheduler, dag-processor, triggerer and API server as
separate processes; two Celery workers. Prints which worker ran which tasks.

Everything started is stopped on exit, also on Ctrl-C; ``KEEP=1`` leaves the cluster running.
Working files go to ``.demo/cluster/``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from release_gates.demo import aws
from release_gates.demo.cluster import Cluster
from release_gates.demo.humans import Answer, play_runs
from release_gates.demo.run import DAG_ID, USERS, _engine_seconds, _script, say, trigger_candidates

EXPECTED = {"fair": "released", "biased": "held"}


def release(
    cluster: Cluster,
    runs: Mapping[str, str],
    scripts: Mapping[str, Mapping[str, Answer]],
    *,
    log: Callable[[str], None] = say,
    timeout: float = 1800,
) -> list[dict[str, Any]]:
    """Play the humans of each run (name → run id) until every run has finished; returns the answers."""
    return play_runs(cluster, DAG_ID, runs, scripts, log=log, timeout=timeout)


def placement(cluster: Cluster, run_id: str) -> dict[str, list[str]]:
    """Worker hostname → the tasks of the run that ran there (latest try)."""
    where: dict[str, list[str]] = defaultdict(list)
    for ti in cluster.task_instances(DAG_ID, run_id):
        if ti.get("hostname"):
            where[ti["hostname"]].append(ti["task_id"])
    return dict(sorted(where.items()))


class ClusterDemo:
    def __init__(self, repo: Path, work: Path, keep: bool) -> None:
        self.repo = repo
        self.work = work
        self.keep = keep
        self.moto: subprocess.Popen[bytes] | None = None
        self.cluster: Cluster | None = None

    def stop(self) -> None:
        if self.cluster is not None:
            self.cluster.stop()
        aws.stop(self.moto)

    def run(self) -> int:
        from release_gates.demo.prepare import prepare
        from release_gates.demo.summary import print_release

        started = time.monotonic()
        say("== 1/4 preparing real data, two candidates, an image and an offline vulnerability DB")
        assets = prepare(self.repo / "include", self.work, log=say)

        say("== 2/4 starting the AWS API emulator and the cluster")
        self.moto, moto_url = aws.start_moto(self.work / "moto.log")
        aws.setup(moto_url)
        trivy = {"cache_dir": str(assets.trivy_cache), "skip_db_update": True, "offline_scan": True}
        self.cluster = Cluster(
            self.work / "airflow",
            self.repo / "dags",
            USERS,
            workers=2,
            extra_env={
                "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(aws.connection(moto_url)),
                "AIRFLOW_CONN_TRIVY_DEFAULT": json.dumps(
                    {"conn_type": "release_gates_trivy", "extra": trivy}
                ),
                "AWS_DEFAULT_REGION": aws.REGION,
            },
        )
        cluster = self.cluster.start()
        # This process reads the evidence too (the summaries below): same store as the workers.
        os.environ["RELEASE_GATES_EVIDENCE_URL"] = cluster.evidence_url
        say(f"  PostgreSQL: metadata {cluster.metadata_db}, evidence {cluster.evidence_db}")
        say(f"  Redis broker {cluster.broker_url}; Celery workers: {', '.join(cluster.celery_workers())}")
        say(f"  API server {cluster.base_url}; logs: {cluster.logs}")
        cluster.wait_for_dag(DAG_ID)

        say("== 3/4 triggering both releases; the humans answer through the REST API")
        runs = trigger_candidates(cluster, assets)
        release(cluster, runs, {name: _script(name) for name in runs})

        say("== 4/4 results")
        decisions = {}
        for name, run_id in runs.items():
            decisions[name] = print_release(f"{DAG_ID}__{run_id}", name, say)
            for host, tasks in placement(cluster, run_id).items():
                say(f"  ran on {host}: {len(tasks)} tasks ({', '.join(sorted(tasks)[:6])}, …)")
        engine = _engine_seconds([f"{DAG_ID}__{run_id}" for run_id in runs.values()])
        say(
            f"\nDone in {time.monotonic() - started:.0f} s "
            f"({engine:.0f} s of it inside check engines, summed over both runs)."
        )
        if self.keep:
            say(f"KEEP=1: the cluster keeps running at {cluster.base_url} (admin / admin); Ctrl-C stops it.")
            while True:
                time.sleep(3600)
        if decisions != EXPECTED:
            say(f"unexpected decisions {decisions} (expected {EXPECTED}); logs in {cluster.logs}")
            return 1
        return 0


def main() -> int:
    repo = Path(os.environ.get("RELEASE_GATES_REPO", Path.cwd())).resolve()
    if not (repo / "include" / "release_policy.yaml").is_file():
        say(f"run the demo from the repository root (no include/release_policy.yaml in {repo})")
        return 2
    work = repo / ".demo" / "cluster"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    demo = ClusterDemo(repo, work, keep=os.environ.get("KEEP", "") not in ("", "0"))
    # A plain `kill` must stop the cluster too: turn SIGTERM into an exit that runs the finally below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        return demo.run()
    except KeyboardInterrupt:
        say("\ninterrupted; stopping everything")
        return 130
    finally:
        demo.stop()


if __name__ == "__main__":
    sys.exit(main())
