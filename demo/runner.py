"""``python -m demo``: release three candidates of the mortgage-approval model end to end, locally.

``--topology standalone`` (``make demo``, the default) runs ``airflow standalone`` (SQLite,
LocalExecutor) with the evidence store in SQLite; ``--topology cluster`` (``make cluster-demo``) runs
Airflow as production runs it, without Docker (:class:`~release_gates_testing.cluster.Cluster`):
PostgreSQL for the metadata and, in its own database, the evidence store; Redis as the Celery broker;
scheduler, dag-processor, triggerer and API server as separate processes; two Celery workers. Both:

1. prepare real data, the live version's outputs and three candidates (fair, biased, and swapped:
   the biased model with the fair model's evaluation file), a serving image and an offline Trivy DB;
2. start an AWS API emulator (moto) with the Lambda function, alarm and bucket the policy checks,
   and Airflow with this repository's ``dags/``;
3. trigger the release DAG for every candidate through the REST API, each dataset pinned by its
   sha256, and play the humans (reviewers, ethics reviewer, release manager) through the HITL REST API;
4. print, per run, gates → verdict → top findings, remediation items, human decisions, the final
   decision and the evidence chain's verification (on the cluster also which worker ran which tasks),
   then each candidate's outcome against what it must be (:mod:`demo.outcomes`).

The fair candidate must be released with no warning from lineage or drift, the biased one held by the
ethics gate, and the swapped one held because its predictions do not come from its model; the exit
status is 0 only when all three are.
Everything started is stopped on exit, also on Ctrl-C or SIGTERM; ``KEEP=1`` leaves Airflow running.
Working files go to ``.demo/`` (``.demo/cluster/`` for the cluster).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from demo.outcomes import EXPECTED, Outcome
from demo.prepare import Candidate, DemoAssets
from release_gates.evidence.signing import DEFAULT_SIGNING_CONN_ID, PublicKeys, SigningKey
from release_gates_testing import aws
from release_gates_testing.airflow import Standalone
from release_gates_testing.humans import Answer, play_runs

DAG_ID = "release_mortgage_approval"
USERS = {"admin": "admin", "aisha": "aisha", "tomas": "tomas", "li": "li", "marta": "marta", "sam": "sam"}
#: Who submits the releases: the ML engineer who built the candidates, none of the approvers (the
#: policy lets no submitter sign off their own release).
SUBMITTER = "sam"
TOPOLOGIES = ("standalone", "cluster")


def say(message: str) -> None:
    print(message, flush=True)


def human_script(candidate: str) -> dict[str, Answer]:
    """What the demo's humans decide. Steps not listed are answered with their default (fail closed)."""
    accept = "Reviewed the intervals with the data steward; monitored after release."
    reviews = {
        "data.review": Answer("tomas", "Accept risk", accept),
        "ethics.review": Answer("aisha", "Accept risk", accept),
        "security.review": Answer("li", "Accept risk", accept),
        "operations.review": Answer("marta", "Accept risk", accept),
    }
    if candidate == "biased":
        return {
            **reviews,
            "data.decision": Answer(
                "tomas", "Delay release", "Its decisions drift from the live version's; retrain first."
            ),
            "ethics.decision": Answer(
                "aisha",
                "Delay release",
                "Approval rates for Black applicants fail the four-fifths rule; retrain.",
            ),
        }
    if candidate == "swapped":
        resubmit = "The evaluation file's predictions are not this model's; resubmit with its own."
        return {
            **reviews,
            "data.decision": Answer("tomas", "Delay release", resubmit),
            "ethics.decision": Answer("aisha", "Delay release", resubmit),
        }
    return {
        **reviews,
        "signoff.release_ethics_reviewer": Answer("aisha", "Approve"),
        "signoff.release_release_manager": Answer("admin", "Approve"),
    }


def release_conf(assets: DemoAssets, candidate: Candidate) -> dict[str, Any]:
    """The release DAG's trigger parameters for ``candidate`` (the cluster benchmark uses them too)."""
    return {
        "model_version": candidate.version,
        "model_uri": str(candidate.model),
        "model_sha256": candidate.sha256,
        "image": str(assets.image),
        # Every dataset pinned: the training half, the candidate's evaluation file and the live
        # version's outputs, each with its sha256 (the policy allow-lists demo/data/ for them).
        "datasets": assets.dataset_pins(candidate),
    }


def setup_aws(moto_url: str, assets: DemoAssets) -> dict[str, Any]:
    """The emulated AWS side; each Lambda version carries what it serves: the live version (2) the
    previous release's model, each candidate's version its model, all the scanned image."""
    return aws.setup(moto_url, model_sha256s=assets.model_sha256s(), image_digest=assets.image_digest)


def trigger_candidates(
    airflow: Standalone, assets: DemoAssets, log: Callable[[str], None] = say
) -> dict[str, str]:
    """Trigger the release DAG once per candidate through the REST API; returns name → run id."""
    runs = {}
    for name, candidate in assets.candidates.items():
        runs[name] = airflow.trigger(DAG_ID, release_conf(assets, candidate), as_user=SUBMITTER)
        log(f"  {SUBMITTER} triggered {name!r} candidate (version {candidate.version}): run {runs[name]}")
    return runs


def play_release(
    airflow: Standalone,
    runs: Mapping[str, str],
    scripts: Mapping[str, Mapping[str, Answer]],
    *,
    log: Callable[[str], None] = say,
    timeout: float = 1800,
) -> list[dict[str, Any]]:
    """Play the humans of each release run (name → run id) until every run has finished."""
    return play_runs(airflow, DAG_ID, runs, scripts, log=log, timeout=timeout)


def placement(airflow: Standalone, run_id: str) -> dict[str, list[str]]:
    """Worker hostname → the tasks of the run that ran there (latest try)."""
    where: dict[str, list[str]] = defaultdict(list)
    for ti in airflow.task_instances(DAG_ID, run_id):
        if ti.get("hostname"):
            where[ti["hostname"]].append(ti["task_id"])
    return dict(sorted(where.items()))


def airflow_connections(moto_url: str, assets: DemoAssets, signing: SigningKey) -> dict[str, str]:
    """Environment for every Airflow component: the AWS emulator, the offline Trivy DB, and the key
    that signs each release's seal and attestation (made for this demo; production keeps it in a
    secrets backend)."""
    trivy = {"cache_dir": str(assets.trivy_cache), "skip_db_update": True, "offline_scan": True}
    key = {"conn_type": "generic", "password": signing.private_pem(), "extra": {"key_id": signing.key_id}}
    return {
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(aws.connection(moto_url)),
        "AIRFLOW_CONN_TRIVY_DEFAULT": json.dumps({"conn_type": "release_gates_trivy", "extra": trivy}),
        f"AIRFLOW_CONN_{DEFAULT_SIGNING_CONN_ID.upper()}": json.dumps(key),
        "AWS_DEFAULT_REGION": aws.REGION,
    }


class Demo:
    def __init__(self, repo: Path, work: Path, *, topology: str, keep: bool) -> None:
        self.repo = repo
        self.work = work
        self.topology = topology
        self.keep = keep
        self.moto: subprocess.Popen[bytes] | None = None
        self.airflow: Standalone | None = None
        #: Candidate → its outcome, once the runs have finished.
        self.outcomes: dict[str, Outcome] = {}
        #: Signs the seals and attestations of this demo's releases; verify trusts its public half.
        self.signing = SigningKey.generate()
        self.trusted_keys = PublicKeys({self.signing.key_id: self.signing.public_key})

    def stop(self) -> None:
        if self.airflow is not None:
            self.airflow.stop()
        aws.stop_moto(self.moto)

    def run(self) -> int:
        from demo.outcomes import judge
        from demo.prepare import prepare
        from demo.summary import engine_seconds, print_release

        started = time.monotonic()
        say("== 1/4 preparing real data, three candidates, an image and an offline vulnerability DB")
        assets = prepare(self.repo / "include", self.work, log=say)

        say(f"== 2/4 starting the AWS API emulator and Airflow ({self.topology})")
        self.moto, moto_url = aws.start_moto(self.work / "moto.log")
        resources = setup_aws(moto_url, assets)
        say(f"  AWS emulator on {moto_url}: Lambda {resources['function']} (alias live → v2), alarm, bucket")
        airflow, logs = self._start_airflow(airflow_connections(moto_url, assets, self.signing))
        airflow.wait_for_dag(DAG_ID)

        say(f"== 3/4 triggering {len(assets.candidates)} releases; the humans answer through the REST API")
        runs = trigger_candidates(airflow, assets)
        play_release(airflow, runs, {name: human_script(name) for name in runs})

        say("== 4/4 results")
        for name, run_id in runs.items():
            print_release(f"{DAG_ID}__{run_id}", name, say, keys=self.trusted_keys)
            if self.topology == "cluster":
                for host, tasks in placement(airflow, run_id).items():
                    say(f"  ran on {host}: {len(tasks)} tasks ({', '.join(sorted(tasks)[:6])}, …)")
        self.outcomes = {name: judge(name, f"{DAG_ID}__{run_id}") for name, run_id in runs.items()}
        say("\nOutcomes:")
        for name, outcome in self.outcomes.items():
            verdict = "as expected" if outcome.as_expected else "UNEXPECTED: " + "; ".join(outcome.problems)
            say(f"  {name:<8} {str(outcome.decision).upper():<9} {verdict} — {outcome.reason}")
        engine = engine_seconds([f"{DAG_ID}__{run_id}" for run_id in runs.values()])
        say(
            f"\nDone in {time.monotonic() - started:.0f} s "
            f"({engine:.0f} s of it inside check engines, summed over {len(runs)} runs)."
        )
        evidence_url = os.environ["RELEASE_GATES_EVIDENCE_URL"]
        say(f"Airflow UI: {airflow.base_url} (user admin, password admin)")
        say(f"Evidence store: {evidence_url}  ·  try: release-gates evidence list --url {evidence_url}")
        if self.keep:
            say("KEEP=1: Airflow keeps running; press Ctrl-C to stop everything.")
            while True:
                time.sleep(3600)
        if set(self.outcomes) != set(EXPECTED) or not all(o.as_expected for o in self.outcomes.values()):
            say(f"not every candidate ended as expected ({EXPECTED}); logs in {logs}")
            return 1
        return 0

    def _start_airflow(self, connections: Mapping[str, str]) -> tuple[Standalone, Path]:
        """Start the chosen topology; returns it and where its logs are.

        Sets ``RELEASE_GATES_EVIDENCE_URL`` here too: this process reads the evidence for the summaries.
        """
        if self.topology == "cluster":
            from release_gates_testing.cluster import Cluster

            cluster = Cluster(
                self.work / "airflow", self.repo / "dags", USERS, workers=2, extra_env=connections
            )
            self.airflow = cluster
            cluster.start()
            os.environ["RELEASE_GATES_EVIDENCE_URL"] = cluster.evidence_url
            say(f"  PostgreSQL: metadata {cluster.metadata_db}, evidence {cluster.evidence_db}")
            say(f"  Redis broker {cluster.broker_url}; Celery workers: {', '.join(cluster.celery_workers())}")
            say(f"  API server {cluster.base_url}; logs: {cluster.logs}")
            return cluster, cluster.logs
        evidence_url = f"sqlite:///{self.work / 'evidence.db'}"
        os.environ["RELEASE_GATES_EVIDENCE_URL"] = evidence_url
        standalone = Standalone(
            self.work / "airflow",
            self.repo / "dags",
            USERS,
            extra_env={**connections, "RELEASE_GATES_EVIDENCE_URL": evidence_url},
        )
        self.airflow = standalone
        standalone.start()
        say(f"  Airflow on {standalone.base_url} (log: {standalone.log_path})")
        return standalone, standalone.log_path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m demo",
        description="Release three candidates of the mortgage-approval model, end to end.",
    )
    parser.add_argument(
        "--topology",
        choices=TOPOLOGIES,
        default="standalone",
        help="airflow standalone on SQLite (default), or the Celery cluster on PostgreSQL and Redis",
    )
    args = parser.parse_args(argv)
    repo = Path(os.environ.get("RELEASE_GATES_REPO", Path.cwd())).resolve()
    if not (repo / "include" / "release_policy.yaml").is_file():
        say(f"run the demo from the repository root (no include/release_policy.yaml in {repo})")
        return 2
    work = repo / ".demo" if args.topology == "standalone" else repo / ".demo" / "cluster"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    demo = Demo(repo, work, topology=args.topology, keep=os.environ.get("KEEP", "") not in ("", "0"))
    # A plain `kill` must stop Airflow too: turn SIGTERM into an exit that runs the finally below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        return demo.run()
    except KeyboardInterrupt:
        say("\ninterrupted; stopping everything")
        return 130
    finally:
        demo.stop()
