"""The demo's three outcomes, end to end: ``python -m demo --topology standalone`` as ``make demo`` runs it.

The demo's runner prepares the real data and candidates, starts the AWS API emulator and ``airflow
standalone``, triggers the three releases and plays the humans. Asserted here from each release's
evidence chain, independently of the runner's own judgement:

* ``fair`` is released, and nothing the demo set up warns: lineage PASS with every dataset's pin
  verified, drift PASS with prediction drift measured against the live version's outputs;
* ``biased`` is held by the ethics gate, judged on its own (verified) predictions;
* ``swapped`` (the biased model with the fair model's evaluation file) is held: fairness FAILs with
  "predictions do not come from this model", and so does prediction drift.

Several minutes on two cores. Writes the demo's data files under ``include/demo/data/`` as ``make demo``
does (deterministic: the same bytes every time); everything else goes to a temporary directory.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from release_gates.evidence import EvidenceStore
from release_gates.gates import fold, latest_results
from release_gates.inputs.scored import NOT_FROM_MODEL

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, int]]:
    from demo.runner import Demo

    work = tmp_path_factory.mktemp("demo")
    with pytest.MonkeyPatch.context() as patch:
        # The runner points this process at the evidence store it creates; undone after the module.
        patch.setenv("RELEASE_GATES_EVIDENCE_URL", f"sqlite:///{work / 'evidence.db'}")
        demo = Demo(REPO, work, topology="standalone", keep=False)
        try:
            status = demo.run()
        finally:
            demo.stop()
        yield demo, status


def _evidence(demo: Any, candidate: str) -> tuple[dict[str, Any], dict[str, dict[str, Any]], dict[str, str]]:
    """The sealed decision, the latest result per check and each gate's outcome of one candidate."""
    records = EvidenceStore().records(demo.outcomes[candidate].release_id)
    sealed = next(r.payload for r in records if r.kind == "release_sealed")
    return sealed, latest_results(records), dict(fold(records).gates)


@pytest.mark.timeout(3600)
def test_the_demo_exits_zero_with_all_three_outcomes_as_expected(demo_run: tuple[Any, int]) -> None:
    demo, status = demo_run
    assert set(demo.outcomes) == {"fair", "biased", "swapped"}
    assert status == 0, {name: o.problems for name, o in demo.outcomes.items()}


@pytest.mark.timeout(3600)
def test_fair_is_released_with_no_warning_caused_by_the_demo(demo_run: tuple[Any, int]) -> None:
    sealed, results, gates = _evidence(demo_run[0], "fair")
    assert sealed["decision"] == "released"
    assert set(gates.values()) == {"passed"}
    lineage, drift = results["data.lineage"], results["data.drift"]
    assert lineage["status"] == "PASS", lineage["findings"]
    for name in ("train", "eval", "eval_live"):
        assert lineage["metrics"]["datasets"][name]["fingerprint_match"] is True, name
    assert drift["status"] == "PASS", drift["findings"]
    prediction = drift["metrics"]["prediction"]
    assert prediction["measured"] is True and prediction["reference"] == "eval_live"
    assert set(prediction["columns"]) == {"score", "pred"}
    assert not any(facts["drifted"] for facts in prediction["columns"].values())
    # Its declared predictions were re-scored with the candidate and matched.
    declared = results["ethics.fairness"]["inputs"]["eval"]["predictions"]
    assert declared["declared"] is True and declared["compared"] > 0 and declared["mismatched"] == 0


@pytest.mark.timeout(3600)
def test_biased_is_held_by_the_ethics_gate_on_its_own_predictions(demo_run: tuple[Any, int]) -> None:
    sealed, results, gates = _evidence(demo_run[0], "biased")
    assert sealed["decision"] == "held"
    assert gates["ethics"] != "passed"
    assert any("gate ethics" in reason for reason in sealed["reasons"])
    fairness = results["ethics.fairness"]
    assert fairness["status"] == "FAIL"
    assert NOT_FROM_MODEL not in fairness["summary"]
    assert any(f["id"].startswith("selection_rate") for f in fairness["findings"]), fairness["findings"]
    assert fairness["inputs"]["eval"]["predictions"]["mismatched"] == 0


@pytest.mark.timeout(3600)
def test_swapped_is_held_because_its_predictions_do_not_come_from_its_model(
    demo_run: tuple[Any, int],
) -> None:
    sealed, results, gates = _evidence(demo_run[0], "swapped")
    assert sealed["decision"] == "held"
    assert gates["ethics"] != "passed" and gates["data"] != "passed"
    for check_id in ("ethics.fairness", "data.drift"):
        result = results[check_id]
        assert result["status"] == "FAIL", check_id
        assert result["summary"].startswith(NOT_FROM_MODEL), result["summary"]
        assert [f["id"] for f in result["findings"]] == ["predictions.eval.not_from_model"]
    assert demo_run[0].outcomes["swapped"].as_expected


def test_replay_of_each_demo_release_reaches_the_recorded_decision(demo_run: tuple[Any, int]) -> None:
    """A year later, today's gate logic re-derives every verdict and decision from the evidence alone."""
    from release_gates.evidence.replay import chain_from_store, replay

    demo, _status = demo_run
    store = EvidenceStore()
    for candidate, outcome in demo.outcomes.items():
        report = replay(chain_from_store(store, outcome.release_id))
        assert report.same, (candidate, [str(d) for d in report.differences])


def test_every_demo_release_is_sealed_signed_and_attested(demo_run: tuple[Any, int], tmp_path: Path) -> None:
    """The demo signs with a key it made: each seal carries a signed checkpoint that verifies with
    the public key only, and an attestation that verifies against the exported evidence."""
    from release_gates.evidence.attestation import verify_attestation

    demo, _status = demo_run
    store = EvidenceStore()
    for candidate, outcome in demo.outcomes.items():
        report = store.verify(outcome.release_id, keys=demo.trusted_keys)
        assert report.ok and report.sealed and report.signatures == "verified", (candidate, str(report))
        sealed = next(r.payload for r in store.records(outcome.release_id) if r.kind == "release_sealed")
        attestation = sealed["attestation"]
        assert attestation["status"] == "signed" and attestation["key_id"] == demo.signing.key_id
        bundle = store.export_to(outcome.release_id, tmp_path / f"{candidate}.json")
        envelope = Path(attestation["uri"].removeprefix("file://")).read_bytes()
        checked = verify_attestation(envelope, demo.trusted_keys, bundle=bundle)
        assert checked.ok, (candidate, checked.problem)
