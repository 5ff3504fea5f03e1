"""Answering Human-in-the-loop steps through Airflow's REST API, as named users.

The demo uses it to play the ethics reviewer and the release manager against ``airflow
standalone``; tests use the same code against the API app in-process. Every answer goes through
``PATCH …/hitlDetails`` with the user's own token, so Airflow checks that the user is assigned.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Answer:
    """How one human step is answered: by whom, which option, and the form input."""

    user: str
    option: str
    rationale: str | None = None

    def params(self) -> dict[str, Any]:
        return {"rationale": self.rationale} if self.rationale is not None else {}


@dataclass
class HitlResponder:
    """Answers pending HITL requests of a DAG run according to a script ``{task_id: Answer}``."""

    client: Any  # an httpx.Client (demo) or the API app's TestClient (tests), with the API as base URL
    passwords: Mapping[str, str]
    log: Callable[[str], None] = print
    _tokens: dict[str, str] = field(default_factory=dict)
    answered: list[dict[str, Any]] = field(default_factory=list)

    def token(self, user: str) -> str:
        if user not in self._tokens:
            response = self.client.post(
                "/auth/token", json={"username": user, "password": self.passwords[user]}
            )
            if response.status_code not in (200, 201):
                raise RuntimeError(f"cannot log in as {user}: {response.status_code} {response.text[:200]}")
            self._tokens[user] = response.json()["access_token"]
        return self._tokens[user]

    def _headers(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(user)}"}

    def pending(self, dag_id: str, run_id: str = "~", *, as_user: str) -> list[dict[str, Any]]:
        response = self.client.get(
            f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/hitlDetails",
            params={"response_received": "false", "limit": 100},
            headers=self._headers(as_user),
        )
        response.raise_for_status()
        details: list[dict[str, Any]] = response.json()["hitl_details"]
        return details

    def answer(self, detail: Mapping[str, Any], answer: Answer) -> dict[str, Any]:
        ti = detail["task_instance"]
        url = (
            f"/api/v2/dags/{ti['dag_id']}/dagRuns/{ti['dag_run_id']}/taskInstances/{ti['task_id']}/"
            f"{ti.get('map_index', -1)}/hitlDetails"
        )
        body = {"chosen_options": [answer.option], "params_input": answer.params()}
        retried = False
        for attempt in range(5):
            response = self.client.patch(url, json=body, headers=self._headers(answer.user))
            # A 5xx here is usually a busy metadata DB (SQLite under load): the request rolled back,
            # so asking again is safe.
            if response.status_code < 500:
                break
            retried = True
            time.sleep(2 * (attempt + 1))
        status = response.status_code
        if status == 409 and retried and self._landed(url, answer):
            status = 200  # an earlier attempt of ours did land; anything else is a refusal, reported

        result = {"task_id": ti["task_id"], "user": answer.user, "option": answer.option,
                  "status": status, "detail": response.text[:300]}  # fmt: skip
        self.answered.append(result)
        outcome = "answered" if status == 200 else f"REFUSED ({status})"
        self.log(f"  human: {answer.user} → {ti['task_id']}: {answer.option!r} — {outcome}")
        return result

    def _landed(self, url: str, answer: Answer) -> bool:
        """Whether the task holds exactly this answer (a 409 after a retried 5xx may be our own)."""
        detail = self.client.get(url, headers=self._headers(answer.user))
        if detail.status_code != 200:
            return False
        data = detail.json()
        responder = data.get("responded_by_user") or data.get("responded_by") or {}
        user = responder.get("id") or responder.get("name") if isinstance(responder, dict) else responder
        return bool(data.get("chosen_options") == [answer.option] and user == answer.user)

    def play(
        self,
        dag_id: str,
        script: Mapping[str, Answer],
        *,
        done: Callable[[], bool],
        run_id: str = "~",
        as_user: str = "admin",
        timeout: float = 600,
        poll: float = 1.0,
        fallback: bool = False,
        settle: float = 5.0,
    ) -> list[dict[str, Any]]:
        """Answer scripted steps as they appear until ``done()``.

        Unscripted steps are left alone, or with ``fallback`` answered with their default option by
        their first assigned user and marked ``unscripted`` in the returned answers.
        """
        seen: set[str] = set()
        parked_since: dict[str, float] = {}
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{dag_id}: still waiting for the run after {timeout:.0f} s")
            for detail in self.pending(dag_id, run_id, as_user=as_user):
                ti = detail["task_instance"]
                # Answer only a parked task: a response that lands while the task is still writing
                # its request races the task's own transition to awaiting input.
                if ti.get("state") != "awaiting_input":
                    continue
                key = f"{ti['dag_run_id']}/{ti['task_id']}/{ti.get('try_number')}"
                if key in seen:
                    continue
                # Give the executor time to report the parked attempt as finished: an answer within
                # a second of parking can reach the scheduler first and be taken for a lost task.
                if time.monotonic() - parked_since.setdefault(key, time.monotonic()) < settle:
                    continue
                seen.add(key)
                result = self.answer(detail, script[ti["task_id"]]) if ti["task_id"] in script else None
                if (result is None or result["status"] != 200) and fallback and detail.get("defaults"):
                    user = (detail.get("assigned_users") or [{"id": as_user}])[0]["id"]
                    self.answer(detail, Answer(user, detail["defaults"][0]))["unscripted"] = True
            time.sleep(poll)
        return self.answered


def play_runs(
    airflow: Any,
    dag_id: str,
    runs: Mapping[str, str],
    scripts: Mapping[str, Mapping[str, Answer]],
    *,
    log: Callable[[str], None] = print,
    timeout: float = 1800,
) -> list[dict[str, Any]]:
    """Play the humans of each run (name → run id) until every run has finished; returns the answers.

    ``airflow`` is a running Airflow with ``client``, ``users`` and ``finished(dag_id, run_id)``
    (:class:`~release_gates_testing.airflow.Standalone` or :class:`~release_gates_testing.cluster.Cluster`).
    """
    responder = HitlResponder(airflow.client, airflow.users, log=log)
    threads = [
        threading.Thread(
            target=responder.play,
            args=(dag_id, scripts[name]),
            kwargs={
                "done": lambda r=run_id: airflow.finished(dag_id, r),
                "run_id": run_id,
                "timeout": timeout,
                "poll": 2,
                "fallback": True,
            },
            daemon=True,
        )
        for name, run_id in runs.items()
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return responder.answered
