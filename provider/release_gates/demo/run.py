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

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from release_gates.demo import aws
from release_gates.demo.humans import Answer, HitlResponder

DAG_ID = "release_mortgage_approval"
USERS = {"admin": "admin", "aisha": "aisha", "tomas": "tomas", "li": "li", "marta": "marta"}


def say(message: str) -> None:
    print(message, flush=True)


class Demo:
    def __init__(self, repo: Path, work: Path, keep: bool) -> None:
        self.repo = repo
        self.work = work
        self.keep = keep
        self.procs: list[subprocess.Popen[bytes]] = []
        self.port = aws.free_port()
        self.base_url = f"http://localhost:{self.port}"

    # -- services ---------------------------------------------------------------------------------

    def airflow_env(self, moto_url: str, trivy_cache: Path) -> dict[str, str]:
        home = self.work / "airflow"
        home.mkdir(parents=True, exist_ok=True)
        passwords = home / "passwords.json"
        passwords.write_text(json.dumps(USERS))
        bin_dir = str(Path(sys.executable).parent)
        return {
            **os.environ,
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.repo / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{u}:admin" for u in USERS),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__BASE_URL": self.base_url,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": os.urandom(32).hex(),
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(aws.connection(moto_url)),
            "AIRFLOW_CONN_TRIVY_DEFAULT": json.dumps(
                {
                    "conn_type": "release_gates_trivy",
                    "extra": {"cache_dir": str(trivy_cache), "skip_db_update": True, "offline_scan": True},
                }
            ),
            "RELEASE_GATES_EVIDENCE_URL": f"sqlite:///{self.work / 'evidence.db'}",
            "AWS_DEFAULT_REGION": aws.REGION,
        }

    def start_airflow(self, env: dict[str, str]) -> None:
        log = (self.work / "airflow-standalone.log").open("wb")
        airflow = Path(sys.executable).with_name("airflow")
        proc = subprocess.Popen(
            [str(airflow), "standalone"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs.append(proc)
        import httpx

        deadline = time.monotonic() + 300
        while True:
            try:
                if httpx.get(f"{self.base_url}/api/v2/monitor/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = (self.work / "airflow-standalone.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"airflow standalone did not come up:\n{tail}")
            time.sleep(2)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                    proc.wait(timeout=20)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)

    # -- the releases -----------------------------------------------------------------------------

    def wait_for_dag(self, client: Any, headers: dict[str, str]) -> None:
        deadline = time.monotonic() + 300
        while client.get(f"/api/v2/dags/{DAG_ID}", headers=headers).status_code != 200:
            if time.monotonic() > deadline:
                errors = client.get("/api/v2/importErrors", headers=headers).json()
                raise RuntimeError(f"the release DAG was not parsed: {errors}")
            time.sleep(2)
        client.patch(f"/api/v2/dags/{DAG_ID}", json={"is_paused": False}, headers=headers).raise_for_status()

    def trigger(self, client: Any, headers: dict[str, str], conf: dict[str, Any]) -> str:
        response = client.post(f"/api/v2/dags/{DAG_ID}/dagRuns", json={"logical_date": None, "conf": conf},
                               headers=headers)  # fmt: skip
        if response.status_code >= 300:
            raise RuntimeError(f"trigger refused: {response.status_code} {response.text[:500]}")
        run_id: str = response.json()["dag_run_id"]
        return run_id

    def run(self) -> int:
        from release_gates.demo.prepare import prepare

        started = time.monotonic()
        say("== 1/4 preparing real data, two candidates, an image and an offline vulnerability DB")
        assets = prepare(self.repo / "include", self.work, log=say)

        say("== 2/4 starting the AWS API emulator and Airflow (standalone, SQLite)")
        moto, moto_url = aws.start_moto(self.work / "moto.log")
        self.procs.append(moto)
        resources = aws.setup(moto_url)
        say(f"  AWS emulator on {moto_url}: Lambda {resources['function']} (alias live → v2), alarm, bucket")
        env = self.airflow_env(moto_url, assets.trivy_cache)
        os.environ["RELEASE_GATES_EVIDENCE_URL"] = env["RELEASE_GATES_EVIDENCE_URL"]
        self.start_airflow(env)
        say(f"  Airflow on {self.base_url} (log: {self.work / 'airflow-standalone.log'})")

        import httpx

        client = httpx.Client(base_url=self.base_url, timeout=30)
        responder = HitlResponder(client, USERS, log=say)
        headers = {"Authorization": f"Bearer {responder.token('admin')}"}
        self.wait_for_dag(client, headers)

        say("== 3/4 triggering both releases; the humans answer through the REST API")
        runs = {}
        for name, candidate in assets.candidates.items():
            conf = {
                "model_version": candidate.version,
                "model_uri": str(candidate.model),
                "model_sha256": candidate.sha256,
                "image": str(assets.image),
                "datasets": {"eval": str(candidate.eval_data)},
            }
            runs[name] = self.trigger(client, headers, conf)
            say(f"  triggered {name!r} candidate (version {candidate.version}): run {runs[name]}")

        threads = [
            threading.Thread(target=self.play, args=(responder, client, headers, name, run_id), daemon=True)
            for name, run_id in runs.items()
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        say("== 4/4 results")
        from release_gates.demo.summary import print_release

        decisions = {name: print_release(f"{DAG_ID}__{run_id}", name, say) for name, run_id in runs.items()}
        elapsed = time.monotonic() - started
        say(f"\nDone in {elapsed:.0f} s. Airflow UI: {self.base_url} (user admin, password admin)")
        say(f"Evidence store: {env['RELEASE_GATES_EVIDENCE_URL']}  ·  try: release-gates evidence list")
        if self.keep:
            say("KEEP=1: Airflow keeps running; press Ctrl-C to stop everything.")
            while True:
                time.sleep(3600)
        expected = {"fair": "released", "biased": "held"}
        return 0 if decisions == expected else 1

    def play(
        self, responder: HitlResponder, client: Any, headers: dict[str, str], name: str, run_id: str
    ) -> None:
        script = _script(name)

        def finished() -> bool:
            state = client.get(f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}", headers=headers).json().get("state")
            return state in ("success", "failed")

        responder.play(DAG_ID, script, done=finished, run_id=run_id, timeout=1800, poll=2, fallback=True)


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
