"""``make demo``: release two candidates of the mortgage-approval model end to end, locally.

1. prepares real data and two candidates (fair, biased), a serving image and an offline Trivy DB;
2. starts an AWS API emulator (moto) with the Lambda function, alarm and bucket the policy checks,
   and ``airflow standalone`` (SQLite, LocalExecutor) with this repository's ``dags/``;
3. triggers the release DAG for both candidates through the REST API and plays the humans (ethics
   reviewer, release manager) through the HITL REST API;
4. prints, per run, gates → verdict → top findings, remediation items, human decisions, the final
   decision and the evidence chain's verification.

Everything started is stopped on exit, also on Ctrl-C; ``KEEP=1`` leaves Airflow running.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from release_gates.demo import aws
from release_gates.demo.humans import Answer, play_runs
from release_gates.demo.standalone import Standalone

DAG_ID = "release_mortgage_approval"
USERS = {"admin": "admin", "aisha": "aisha", "tomas": "tomas", "li": "li", "marta": "marta"}


def say(message: str) -> None:
    print(message, flush=True)


class Demo:
    def __init__(self, repo: Path, work: Path, keep: bool) -> None:
        self.repo = repo
        self.work = work
        self.keep = keep
        self.moto: subprocess.Popen[bytes] | None = None
        self.airflow: Standalone | None = None

    def stop(self) -> None:
        if self.airflow is not None:
            self.airflow.stop()
        aws.stop(self.moto)

    def run(self) -> int:
        from release_gates.demo.prepare import prepare
        from release_gates.demo.summary import print_release

        started = time.monotonic()
        say("== 1/4 preparing real data, two candidates, an image and an offline vulnerability DB")
        assets = prepare(self.repo / "include", self.work, log=say)

        say("== 2/4 starting the AWS API emulator and Airflow (standalone, SQLite)")
        self.moto, moto_url = aws.start_moto(self.work / "moto.log")
        resources = aws.setup(moto_url)
        say(f"  AWS emulator on {moto_url}: Lambda {resources['function']} (alias live → v2), alarm, bucket")
        evidence_url = f"sqlite:///{self.work / 'evidence.db'}"
        os.environ["RELEASE_GATES_EVIDENCE_URL"] = evidence_url
        trivy = {"cache_dir": str(assets.trivy_cache), "skip_db_update": True, "offline_scan": True}
        self.airflow = Standalone(
            self.work / "airflow",
            self.repo / "dags",
            USERS,
            extra_env={
                "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(aws.connection(moto_url)),
                "AIRFLOW_CONN_TRIVY_DEFAULT": json.dumps(
                    {"conn_type": "release_gates_trivy", "extra": trivy}
                ),
                "RELEASE_GATES_EVIDENCE_URL": evidence_url,
                "AWS_DEFAULT_REGION": aws.REGION,
            },
        ).start()
        airflow = self.airflow
        say(f"  Airflow on {airflow.base_url} (log: {airflow.log_path})")
        airflow.wait_for_dag(DAG_ID)

        say("== 3/4 triggering both releases; the humans answer through the REST API")
        runs = trigger_candidates(airflow, assets)
        play_runs(airflow, DAG_ID, runs, {name: _script(name) for name in runs}, log=say)

        say("== 4/4 results")
        decisions = {name: print_release(f"{DAG_ID}__{run_id}", name, say) for name, run_id in runs.items()}
        elapsed = time.monotonic() - started
        engine = _engine_seconds([f"{DAG_ID}__{run_id}" for run_id in runs.values()])
        say(f"\nDone in {elapsed:.0f} s ({engine:.0f} s of it inside check engines, summed over both runs).")
        say(f"Airflow UI: {airflow.base_url} (user admin, password admin)")
        say(f"Evidence store: {evidence_url}  ·  try: release-gates evidence list --url {evidence_url}")
        if self.keep:
            say("KEEP=1: Airflow keeps running; press Ctrl-C to stop everything.")
            while True:
                time.sleep(3600)
        expected = {"fair": "released", "biased": "held"}
        if decisions != expected:
            say(f"unexpected decisions {decisions} (expected {expected}); see {airflow.log_path}")
            return 1
        return 0


def trigger_candidates(airflow: Any, assets: Any) -> dict[str, str]:
    """Trigger the release DAG once per candidate through the REST API; returns name → run id."""
    runs = {}
    for name, candidate in assets.candidates.items():
        conf = {
            "model_version": candidate.version,
            "model_uri": str(candidate.model),
            "model_sha256": candidate.sha256,
            "image": str(assets.image),
            "datasets": {"eval": str(candidate.eval_data)},
        }
        runs[name] = airflow.trigger(DAG_ID, conf)
        say(f"  triggered {name!r} candidate (version {candidate.version}): run {runs[name]}")
    return runs


def _engine_seconds(release_ids: list[str]) -> float:
    """Time spent inside check engines, from the results' own timestamps in the evidence trail."""
    from datetime import datetime

    from release_gates.evidence import EvidenceStore

    store = EvidenceStore()
    total = 0.0
    for release_id in release_ids:
        for record in store.records(release_id, kind="check_result"):
            started, finished = record.payload.get("started_at"), record.payload.get("finished_at")
            if started and finished:
                total += (datetime.fromisoformat(finished) - datetime.fromisoformat(started)).total_seconds()
    return total


def _script(candidate: str) -> dict[str, Answer]:
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
            "ethics.decision": Answer(
                "aisha",
                "Delay release",
                "Approval rates for Black applicants fail the four-fifths rule; retrain.",
            ),
        }
    return {
        **reviews,
        "signoff.release_ethics_reviewer": Answer("aisha", "Approve"),
        "signoff.release_release_manager": Answer("admin", "Approve"),
    }


def main() -> int:
    repo = Path(os.environ.get("RELEASE_GATES_REPO", Path.cwd())).resolve()
    if not (repo / "include" / "release_policy.yaml").is_file():
        say(f"run the demo from the repository root (no include/release_policy.yaml in {repo})")
        return 2
    work = repo / ".demo"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir()
    demo = Demo(repo, work, keep=os.environ.get("KEEP", "") not in ("", "0"))
    try:
        return demo.run()
    except KeyboardInterrupt:
        say("\ninterrupted; stopping everything")
        return 130
    finally:
        demo.stop()


if __name__ == "__main__":
    sys.exit(main())
