"""The seal step's report in a real release run (dag.test()), regenerated offline from the export."""

from __future__ import annotations

import hashlib
import io
import os
import re
from pathlib import Path
from typing import Any

import pytest

from release_gates.cli import main
from release_gates.reports.seal import artifacts_dir
from release_gates_testing.humans import Answer
from tests.integration.test_release_dag import eval_frame, release

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def held_release(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any, str]:
    script = {"ethics.decision": Answer("aisha", "Delay release", "Retrain with reweighting first.")}
    run, store, (release_id, _) = release(
        tmp_path_factory.mktemp("report"), "report", eval_frame(2000, 2000, 0.5, 0.25), script
    )
    return run, store, release_id


def test_seal_writes_the_report_as_artifacts_and_records_it(held_release: tuple[Any, Any, str]) -> None:
    run, store, release_id = held_release
    sealed = run.get_task_instance("seal").xcom_pull(task_ids="seal")
    assert sealed["decision"] == "held"
    folder = artifacts_dir(release_id)
    assert folder.parent.parent == Path(os.environ["AIRFLOW_HOME"]) / "release_gates" / "artifacts"
    assert [Path(p).parent for p in sealed["report"]] == [folder] * len(sealed["report"])
    kinds = [r.kind for r in store.records(release_id)]
    assert kinds[-3:] == ["policy_snapshot", "report", "release_sealed"]
    [report] = [r.payload for r in store.records(release_id, kind="report")]
    assert report["status"] == "ok" and report["decision"] == "held"
    assert sorted(Path(p).name for p in sealed["report"]) == sorted(f["name"] for f in report["files"])
    for entry in report["files"]:
        path = Path(entry["uri"].removeprefix("file://"))
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]
    assert store.verify(release_id).ok
    summary = (folder / "summary.md").read_text()
    assert "test-model version 7: HELD" in summary
    assert re.search(r"Selection rate for g=b is 0\.50 of g=a's \(needs ≥ 0\.80\); 95% interval", summary)
    assert "| ethics | 0 | 1 FAIL | 0 | 0 | 0 |" in summary


def test_gate_task_pushes_its_release_report_link(held_release: tuple[Any, Any, str]) -> None:
    run, _store, _release_id = held_release
    link = run.get_task_instance("ethics.decide").xcom_pull(
        task_ids="ethics.decide", key="_link_ReleaseReportLink"
    )
    assert link.endswith("/plugin/release_gates") and "/dags/release_test_report/runs/" in link


def test_the_export_regenerates_the_same_checklist_offline(
    held_release: tuple[Any, Any, str], tmp_path: Path
) -> None:
    _run, store, release_id = held_release
    bundle = store.export_to(release_id, tmp_path / "bundle.json")
    out = io.StringIO()
    assert main(["report", "--bundle", str(bundle), "-o", str(tmp_path / "offline")], out=out) == 0, (
        out.getvalue()
    )
    sealed_dir = artifacts_dir(release_id)
    assert (tmp_path / "offline" / "checklist.csv").read_text() == (sealed_dir / "checklist.csv").read_text()
    rows = (tmp_path / "offline" / "checklist.csv").read_text().splitlines()
    assert rows[1].startswith(
        "ethics,ethics.fairness [selection_rate ratio_min],fairness,ethics_reviewer,aisha,"
    )
    assert ",FAIL," in rows[1]
    assert rows[2].startswith("sign-off,release: ethics_reviewer,approval,ethics_reviewer,aisha,")
    assert rows[3].startswith("sign-off,release: release_manager,approval,release_manager,admin,")
