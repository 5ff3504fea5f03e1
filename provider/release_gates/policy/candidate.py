"""The model under release and how it scores the evaluation data: ``candidate:`` and ``scoring:``.

With these sections the release judges the pinned candidate itself: the ``score`` step scores every
dataset in ``scoring.datasets`` with it (its prediction/score columns are replaced by the candidate's
outputs), fairness and prediction drift read those outputs, and stress safety loads the same model.
A dataset's own prediction column is used only where the policy says ``predictions: declared``; then
a seeded sample is re-scored and must match.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field, field_validator, model_validator

from release_gates.kinds.fields import Identifier, PolicyModel, is_templated
from release_gates.policy.problems import Problems, suggest

if TYPE_CHECKING:
    from release_gates.policy.model import ReleasePolicy

DEFAULT_CHUNK_ROWS = 100_000
DEFAULT_VERIFY_ROWS = 500


class Candidate(PolicyModel):
    """The model file being released, pinned by its sha256 (checked before it is deserialised)."""

    uri: str = Field(
        min_length=1,
        description="Model file: a path or file:// URI, or a registry version models:/<name>/<version> "
        "(MLflow; templated).",
    )
    sha256: str = Field(
        default="",
        description="sha256 of the model file (templated); may be empty only for a models:/ candidate, "
        "whose file is hashed once when the release starts and pinned from then on.",
    )
    mlflow_conn_id: str = Field(
        default="mlflow_default",
        description="models:/ candidates: Airflow connection of the MLflow registry "
        "(none: MLFLOW_TRACKING_URI).",
    )
    format: Literal["skops", "onnx"] = Field(
        default="skops", description="Model file format: skops (trusted types only) or onnx (extra [onnx])."
    )
    trusted_types: list[str] = Field(
        default_factory=list, description="Extra types a skops file may contain beyond skops' defaults."
    )
    features: list[str] | None = Field(
        default=None,
        min_length=1,
        description="Input columns, in order (default: the model's own, else every column but the "
        "dataset's label, prediction and score).",
    )

    @field_validator("sha256")
    @classmethod
    def _sha(cls, value: str) -> str:
        if value and not is_templated(value) and not re.fullmatch(r"[0-9a-f]{64}", value):
            raise ValueError("must be 64 lower-case hex characters (a sha256 digest) or a template")
        return value

    @model_validator(mode="after")
    def _pinned(self) -> Candidate:
        # A file is pinned by the policy (or the run); a registry version is pinned at release start.
        if not self.sha256 and not is_templated(self.uri) and not self.uri.strip().startswith("models:/"):
            raise ValueError("sha256 is required for a model file (only a models:/ candidate may omit it)")
        return self


class Scoring(PolicyModel):
    """Which datasets the candidate scores inside the release, and how."""

    datasets: list[Identifier] = Field(min_length=1, description="Datasets the candidate scores.")
    chunk_rows: Annotated[int, Field(ge=1)] = Field(
        default=DEFAULT_CHUNK_ROWS,
        description="Rows scored at a time (memory grows with this, not the data).",
    )
    verify_rows: Annotated[int, Field(ge=1)] = Field(
        default=DEFAULT_VERIFY_ROWS,
        description="Rows re-scored to verify a predictions: declared dataset (per dataset: verify_rows).",
    )
    seed: int = Field(default=0, description="Seed of the verification sample.")


def scoring_problems(policy: ReleasePolicy) -> Problems:
    """Cross-field rules of ``candidate``/``scoring`` and of the checks that read predictions."""
    problems: Problems = []
    scoring = policy.scoring
    if scoring is not None and policy.candidate is None:
        problems.append((("scoring",), "scoring needs a top-level candidate: (the model that scores)"))
    if policy.candidate is not None and policy.candidate.format != "skops" and policy.candidate.trusted_types:
        problems.append((("candidate", "trusted_types"), "trusted_types apply to skops files only"))
    listed = list(scoring.datasets) if scoring is not None else []
    names = sorted(policy.datasets)
    for index, name in enumerate(listed):
        path = ("scoring", "datasets", index)
        if name in listed[:index]:
            problems.append((path, f"dataset {name!r} is listed twice"))
        elif name not in policy.datasets:
            problems.append((path, f"unknown dataset {name!r}{suggest(name, names)}"))
        elif policy.datasets[name].prediction is None:
            problems.append(
                (
                    path,
                    f"dataset {name!r} declares no prediction column to write the candidate's decisions to",
                )
            )
    for name, dataset in policy.datasets.items():
        if dataset.predictions == "declared" and name not in listed:
            problems.append(
                (
                    ("datasets", name, "predictions"),
                    f"declared predictions are checked against the candidate: list {name!r} in "
                    "scoring.datasets",
                )
            )
    return problems + _reader_problems(policy, listed)


#: Kinds that read only the release's candidate (no model of their own).
_CANDIDATE_ONLY = frozenset({"explainability", "data_minimization", "model_signature"})


def _reader_problems(policy: ReleasePolicy, listed: list[str]) -> Problems:
    """With a candidate, every prediction a check judges must come from it (scored or verified)."""
    problems: Problems = []
    for gi, gate in enumerate(policy.gates):
        for ci, check in enumerate(gate.checks):
            base = ("gates", gi, "checks", ci)
            if check.kind == "stress_safety" and check.model is None and policy.candidate is None:
                problems.append(
                    (
                        (*base, "model"),
                        "stress_safety needs a model: give model: here or a top-level candidate:",
                    )
                )
            if check.kind in _CANDIDATE_ONLY and policy.candidate is None:
                problems.append(
                    (
                        (*base, "kind"),
                        f"a {check.kind} check judges the pinned candidate model: add a top-level "
                        "candidate: section (uri and sha256)",
                    )
                )
            if policy.candidate is None:
                continue
            read: list[tuple[str, str]] = []
            if check.kind == "fairness":
                read = [("data", check.data)]
            elif check.kind == "drift" and check.prediction_drift:
                current = policy.datasets.get(check.current)
                if current is not None and (current.prediction or current.score):
                    read = [("current", check.current)]
            for field_name, name in read:
                if not is_templated(name) and name in policy.datasets and name not in listed:
                    problems.append(
                        (
                            (*base, field_name),
                            f"a {check.kind} check judges the candidate: list dataset {name!r} in "
                            "scoring.datasets (or it would judge predictions the candidate never made)",
                        )
                    )
    return problems
