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


def _sealed_model_card(held_release: tuple[Any, Any, str]) -> tuple[list[Any], dict[str, Any], Path]:
    """The held release's records, the report record's entry of MODEL_CARD.md, and the file."""
    _run, store, release_id = held_release
    records = store.records(release_id)
    [report] = [r.payload for r in records if r.kind == "report"]
    [entry] = [f for f in report["files"] if f["name"] == "MODEL_CARD.md"]  # recorded: the seal covers it
    return records, entry, Path(entry["uri"].removeprefix("file://"))


def test_seal_writes_a_hugging_face_model_card_listed_with_the_report(
    held_release: tuple[Any, Any, str],
) -> None:
    from huggingface_hub import ModelCard

    from release_gates.ui.app import report_files

    records, entry, path = _sealed_model_card(held_release)
    release_id = held_release[2]
    folder = artifacts_dir(release_id)
    assert path.parent == folder and entry["media_type"] == "text/markdown"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]
    assert "[model card (Hugging Face format)](MODEL_CARD.md)" in (folder / "summary.md").read_text()
    assert 'href="MODEL_CARD.md"' in (folder / "summary.html").read_text()
    assert "MODEL_CARD.md" in [f["name"] for f in report_files(records)]  # the UI tab's file list

    card = ModelCard.load(path)  # the Hub's own parser: metadata block, model-index, body
    assert f"`{release_id}`" in card.text and card.text.count(release_id) == 1  # the chain, named once
    assert "license" not in card.data.to_dict()  # none is recorded, so none is claimed
    assert card.data.pipeline_tag == "tabular-classification" and card.data.model_name == "test-model"
    assert {"release-gates", "risk-tier-high", "release-held"} <= set(card.data.tags)
    meta = card.data.to_dict()["release_gates"]
    assert (meta["chain"], meta["decision"], meta["decision_sealed"]) == (release_id, "held", False)
    [sealed] = [r for r in records if r.kind == "release_sealed"]
    assert sealed.payload["decision"] == "held" and meta["head"]["seq"] < sealed.seq
    assert "**HELD** — gate ethics: remediate, not waived" in card.text
    assert "Selection rates must not differ by group beyond the four-fifths rule." in card.text
    assert "legal basis synthetic" in card.text and "owner data team" in card.text


def test_every_figure_of_the_model_card_is_in_the_evidence_record_it_cites(
    held_release: tuple[Any, Any, str],
) -> None:
    from huggingface_hub import ModelCard

    from tests.model_card_checks import (
        assert_cited_figures,
        assert_eval_results_are_cited_numbers,
        citations,
        group_entry,
        interval_cell,
        table,
    )

    records, _entry, path = _sealed_model_card(held_release)
    card, text = ModelCard.load(path), path.read_text()
    assert assert_cited_figures(text, records) >= 15
    assert assert_eval_results_are_cited_numbers(card.data.eval_results, records) == 15  # 2 groups × 7 + 1
    [fairness] = [r for r in records if r.kind == "check_result"]
    assert {r.seq for r in citations(text, records)} >= {1, fairness.seq, 3, 6, 7}

    rates = table(card.text, "| Group | n |")
    assert [row["Group"] for row in rates] == ["g=a", "g=b"]
    for row in rates:
        [cited] = citations(row["Source"], records)
        group = group_entry(cited.payload, row["Group"])
        assert int(row["n"]) == group["n"] == 2000
        recorded = group["rates"]["selection_rate"]
        assert interval_cell(row["Selection rate"]) == (
            recorded["value"],
            recorded["ci_low"],
            recorded["ci_high"],
        )
    assert interval_cell(rates[1]["Selection rate"])[0] == 0.25  # the data: group b selected at 25%
    [criterion] = table(card.text, "| Criterion |")
    recorded = fairness.payload["metrics"]["criteria"][0]
    assert (float(criterion["Value"]), criterion["Status"]) == (recorded["value"], "FAIL") == (0.5, "FAIL")
    assert criterion["Interval"] == f"{recorded['ci_low']}–{recorded['ci_high']}"

    eval_file = Path(records[0].payload["policy"]["source"]).parent / "eval.parquet"
    digest = hashlib.sha256(eval_file.read_bytes()).hexdigest()  # the file the check read
    read = rf"sha256 `{digest}` \(4000 rows, \d+ bytes\) \[evidence #{fairness.seq} check_result\]"
    assert re.search(read, text)
    assert {r.dataset_revision for r in card.data.eval_results} == {digest}
    [answer] = table(card.text, "| Step |")
    [decision] = [r for r in records if r.kind == "human_decision"]
    assert (answer["Who"], answer["Choice"]) == ("aisha", "delay")
    assert answer["When"] == decision.payload["responded_at"]
    assert answer["Source"] == f"[evidence #{decision.seq} human_decision]"

    # A figure edited after the seal is caught twice: by the sealed sha256 and against the evidence.
    edited = text.replace("| 0.5 |", "| 0.9 |")
    assert edited != text
    with pytest.raises(AssertionError, match=r"0\.9 on"):
        assert_cited_figures(edited, records)


def test_the_model_card_regenerated_from_the_export_has_the_same_evaluation(
    held_release: tuple[Any, Any, str], tmp_path: Path
) -> None:
    from huggingface_hub import ModelCard

    _run, store, release_id = held_release
    records, _entry, path = _sealed_model_card(held_release)
    bundle = store.export_to(release_id, tmp_path / "bundle.json")
    assert main(["report", "--bundle", str(bundle), "-o", str(tmp_path / "offline")], out=io.StringIO()) == 0
    sealed_card, offline = ModelCard.load(path), ModelCard.load(tmp_path / "offline" / "MODEL_CARD.md")
    assert offline.data.eval_results == sealed_card.data.eval_results
    [sealed] = [r for r in records if r.kind == "release_sealed"]
    assert (
        f"**HELD** — gate ethics: remediate, not waived [evidence #{sealed.seq} release_sealed]"
        in offline.text
    )
    assert offline.data.to_dict()["release_gates"]["decision_sealed"] is True
