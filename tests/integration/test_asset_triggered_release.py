"""Asset-triggered releases: a registry Asset event starts the release with its version; a promotion
emits an event monitoring follows. The start step runs on a real triggering-event object (Airflow's
own ``TriggeringAssetEventsAccessor`` of ``AssetEventDagRunReferenceResult``) against a real MLflow
registry on SQLite; a run parameter cannot override what the event pinned."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from release_gates.evidence import EvidenceStore
from release_gates.operators.release import StartReleaseOperator
from release_gates.operators.release_trigger import announce_model_version, registry_event_extra
from tests.integration.mlflow_support import MODEL, Registry, evaluation_frame, fair_model, make_registry

pytestmark = pytest.mark.integration

ASSET = "mlflow://registry/income-classifier"

POLICY = f"""\
policy_version: 1
release:
  model: {MODEL}
  trigger: {{asset: "{ASSET}"}}
owners:
  ethics_reviewer: {{users: [aisha]}}
datasets:
  eval: {{uri: eval.parquet, owner: t, description: d, legal_basis: l, label: y, prediction: pred,
         label_values: [0, 1]}}
candidate:
  uri: "{{{{ params.model_uri }}}}"
  trusted_types: [numpy.dtype]
  features: [x1, gb]
scoring: {{datasets: [eval]}}
gates:
  - id: ethics
    owner: ethics_reviewer
    rationale: Selection rates must not differ by group beyond the four-fifths rule.
    checks:
      - kind: fairness
        data: eval
        sensitive_features: [g]
        criteria: [{{metric: selection_rate, ratio_min: 0.8}}]
deployment:
  target: {{type: mlflow_alias, name: {MODEL}}}
  version: "{{{{ params.model_version }}}}"
  promoted_asset: "mlflow://registry/{MODEL}/champion"
"""


def triggering(extra: dict[str, Any], uri: str = ASSET) -> Any:
    """What Airflow puts in ``triggering_asset_events`` for a run started by one event on ``uri``."""
    from airflow.sdk.execution_time.comms import AssetEventDagRunReferenceResult
    from airflow.sdk.execution_time.context import TriggeringAssetEventsAccessor

    event = AssetEventDagRunReferenceResult.model_validate(
        {
            "asset": {"name": uri, "uri": uri, "extra": {}},
            "extra": extra,
            "source_task_id": "register",
            "source_dag_id": "train_income",
            "source_run_id": "scheduled__2026-01-01",
            "source_map_index": -1,
            "source_aliases": [],
            "timestamp": datetime.now(UTC),
        }
    )
    return TriggeringAssetEventsAccessor.build([event])


def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Registry, EvidenceStore]:
    registry = make_registry(tmp_path, monkeypatch)
    evaluation_frame().to_parquet(tmp_path / "eval.parquet", index=False)
    (tmp_path / "policy.yaml").write_text(POLICY)
    url = f"sqlite:///{tmp_path / 'evidence.db'}"
    monkeypatch.setenv("RELEASE_GATES_EVIDENCE_URL", url)
    return registry, EvidenceStore(url)


def start(tmp_path: Path, release_id: str, params: dict[str, str], events: Any) -> dict[str, Any]:
    operator = StartReleaseOperator(
        task_id="start",
        policy_path=str(tmp_path / "policy.yaml"),
        release_id=release_id,
        release_inputs={"model_version": "", "model_uri": "", "model_sha256": "", "image": "", "datasets": {},
                        **params},
    )  # fmt: skip
    context: dict[str, Any] = {"triggering_asset_events": events, "params": params, "run_id": release_id}
    result: dict[str, Any] = operator.execute(context)  # type: ignore[arg-type]
    return result


def test_the_release_dag_is_scheduled_on_the_registry_asset_and_emits_one_on_promotion(
    tmp_path: Path,
) -> None:
    from airflow.sdk import Asset

    from release_gates.dag_factory import build_release_dag

    (tmp_path / "policy.yaml").write_text(POLICY)
    dag = build_release_dag(tmp_path / "policy.yaml", dag_id="release_asset_shape")
    assert dag.timetable.asset_condition.objects == (Asset(ASSET),)
    assert dag.get_task("promote").outlets == [Asset(f"mlflow://registry/{MODEL}/champion")]
    for name in ("model_uri", "model_version", "model_sha256"):  # filled from the event, not required
        dag.params.get_param(name).resolve(value="")
    manual = POLICY.replace(f'  trigger: {{asset: "{ASSET}"}}\n', "")
    (tmp_path / "manual.yaml").write_text(manual)
    manual_dag = build_release_dag(tmp_path / "manual.yaml", dag_id="release_manual")
    assert type(manual_dag.timetable).__name__ == "NullTimetable"  # the default: manual trigger only
    with pytest.raises(Exception, match="non-empty"):
        manual_dag.params.get_param("model_uri").resolve(value="")


def test_a_registry_asset_event_starts_the_release_with_the_version_it_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from release_gates.operators.scoring import ScoreCandidateOperator

    registry, store = setup(tmp_path, monkeypatch)
    registry.register(fair_model(seed=1))
    version, sha = registry.register(fair_model())
    start(tmp_path, "asset-run", {}, triggering(registry_event_extra(MODEL, version)))

    inputs = store.records("asset-run", kind="release_started")[0].payload["inputs"]
    assert inputs["model_uri"] == f"models:/{MODEL}/{version}" and inputs["model_version"] == version
    assert inputs["candidate_registry"]["sha256"] == sha == inputs["model_sha256_verified"]
    assert inputs["trigger"]["source_dag_id"] == "train_income" and inputs["trigger"]["asset"] == ASSET
    # Later steps load the pinned registry file although this run's parameters name no model at all.
    score = ScoreCandidateOperator(
        task_id="score", policy_path=str(tmp_path / "policy.yaml"), release_id="asset-run"
    )
    summary = score.execute({"params": {}, "run_id": "asset-run"})  # type: ignore[arg-type]
    assert summary["model_sha256"] == sha


def test_a_run_parameter_cannot_override_what_the_event_pinned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    registry, store = setup(tmp_path, monkeypatch)
    older, _ = registry.register(fair_model(seed=1))
    version, _ = registry.register(fair_model())
    events = triggering(registry_event_extra(MODEL, version))
    with pytest.raises(AirflowFailException, match="release refused"):
        start(
            tmp_path,
            "override-run",
            {"model_version": older, "model_uri": f"models:/{MODEL}/{older}"},
            events,
        )
    refused = store.records("override-run", kind="release_refused")[-1].payload
    assert refused["stage"] == "candidate" and "cannot override" in refused["summary"]
    assert (
        "candidate_registry" not in store.records("override-run", kind="release_started")[0].payload["inputs"]
    )
    # An event for another registered model does not start this release either.
    with pytest.raises(AirflowFailException, match="release refused"):
        start(tmp_path, "other-model", {}, triggering(registry_event_extra("someone-else", version)))
    assert "someone-else" in store.records("other-model", kind="release_refused")[-1].payload["summary"]


def test_the_training_pipeline_announces_a_version_on_the_asset_event() -> None:
    from airflow.sdk import Asset
    from airflow.sdk.execution_time.context import OutletEventAccessors

    events = OutletEventAccessors()
    extra = announce_model_version({"outlet_events": events}, ASSET, MODEL, 7, sha256="a" * 64)  # type: ignore[arg-type]
    assert events[Asset(ASSET)].extra == extra == {
        "model": MODEL, "version": "7", "uri": f"models:/{MODEL}/7", "sha256": "a" * 64,
    }  # fmt: skip
