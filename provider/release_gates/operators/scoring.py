"""The release's ``score`` step: the pinned candidate scores the evaluation data, inside the release.

Thin: the policy names the candidate and the datasets; :func:`release_gates.inputs.scored.score_datasets`
does the work (sha256 checked before the model is deserialised, chunked reading, a Parquet artifact per
dataset); this operator records the outcome as a ``model_scored`` evidence record, which the checks
that judge predictions read their data from.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from release_gates.evidence import DEFAULT_EVIDENCE_CONN_ID
from release_gates.exceptions import CheckErrorException
from release_gates.operators.base import DEFAULT_RELEASE_ID, render_candidate, render_policy_values
from release_gates.operators.evidence import EvidenceWriterMixin

if TYPE_CHECKING:
    from airflow.sdk import Context

    from release_gates.inputs.catalog import DatasetCatalog
    from release_gates.policy import ReleasePolicy


class ScoreCandidateOperator(EvidenceWriterMixin, BaseOperator):
    """Score each ``predictions: scored`` dataset of the policy's ``scoring`` with its ``candidate``.

    Appends ``model_scored``: the model (uri with credentials masked, sha256, format) and per dataset
    the source's fingerprint, the row count and the artifact (uri, sha256). When scoring fails the
    record says ERROR and why, and the task fails after it is recorded (a retry scores again): checks
    that judge those datasets then find no artifact and end as ERROR, which blocks their gates.

    :param policy_path: the release policy file (read when the task runs).
    :param dataset_overrides: this run's dataset overrides (templated), applied as for the checks.
    :param release_id: the evidence chain (templated; default ``<dag_id>__<run_id>``).
    :param evidence_conn_id: connection of type ``release_gates_evidence`` (default: embedded SQLite).
    """

    template_fields: Sequence[str] = ("policy_path", "dataset_overrides", "release_id")
    ui_color = "#e6f4ea"

    def __init__(
        self,
        *,
        policy_path: str,
        dataset_overrides: dict[str, Any] | str | None = None,
        release_id: str = DEFAULT_RELEASE_ID,
        evidence_conn_id: str = DEFAULT_EVIDENCE_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.policy_path = policy_path
        self.dataset_overrides = dataset_overrides
        self.release_id = release_id
        self.evidence_conn_id = evidence_conn_id

    def evidence_chain_id(self, context: Context) -> str:
        return self.release_id

    def execute(self, context: Context) -> dict[str, Any]:
        from release_gates.policy import load_policy

        policy = load_policy(self.policy_path)
        if policy.candidate is None or policy.scoring is None:
            raise ValueError(f"{policy.source} has no candidate/scoring section: nothing to score")
        try:
            payload = self._score(policy, context)
        except Exception as exc:  # fail closed: recorded as ERROR; the checks reading scores are blocked
            self.log.exception("Scoring the candidate failed")
            message = " ".join(f"{type(exc).__name__}: {exc}".split())[:1000]
            seq = self.append_evidence(
                "model_scored", {"status": "ERROR", "error": message, "datasets": {}}, context
            ).seq
            raise CheckErrorException(
                f"scoring failed: {message} (evidence {self.release_id} #{seq})"
            ) from exc
        seq = self.append_evidence("model_scored", payload, context).seq
        for name, entry in payload["datasets"].items():
            self.log.info(
                "Scored %s: %d rows → %s (sha256 %s)", name, entry["rows"], entry["artifact"]["uri"],
                entry["artifact"]["sha256"],
            )  # fmt: skip
        return {
            "release_id": self.release_id,
            "evidence_seq": seq,
            "model_sha256": payload["model"].get("sha256"),
            "datasets": {n: e["artifact"]["sha256"] for n, e in payload["datasets"].items()},
        }

    def _score(self, policy: ReleasePolicy, context: Context) -> dict[str, Any]:
        from release_gates.artifacts import artifact_dir
        from release_gates.inputs.scored import score_datasets, scored_names

        assert policy.scoring is not None
        candidate = render_candidate(self, policy, context)
        payload = score_datasets(
            self._catalog(policy, context),
            candidate,
            policy.scoring,
            scored_names(policy),
            artifact_dir(self.release_id, "scored"),
        )
        return {"status": "OK", **payload}

    def _catalog(self, policy: ReleasePolicy, context: Context) -> DatasetCatalog:
        from release_gates.inputs.catalog import DatasetCatalog

        raw = {name: d.model_dump(mode="json", exclude_none=True) for name, d in policy.datasets.items()}
        return DatasetCatalog.build(
            render_policy_values(self, raw, context),
            overrides=self.dataset_overrides,
            base_dir=policy.base_dir,
        )
