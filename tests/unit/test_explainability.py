"""The explainability engine on small synthetic frames: every outcome, the numbers against
scikit-learn's own permutation importance, the rules' edges, the policy spec, the CLI path with a
pinned skops candidate, and the report panel."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from release_gates import cli
from release_gates.checks.explainability import ExplainabilityInputError, evaluate_explainability
from release_gates.checks.explainability_inputs import is_encoding, proxy_auc
from release_gates.kinds.explainability import ExplainabilityCheck
from release_gates.results import Status

N = 600


def make_frame(n: int = N, seed: int = 0) -> pd.DataFrame:
    """Three independent inputs, a sensitive attribute ``s`` independent of them, a label."""
    rng = np.random.default_rng(seed)
    s = np.where(rng.random(n) < 0.5, "a", "b")
    frame = pd.DataFrame(
        {
            "x1": rng.normal(size=n),
            "x2": rng.normal(size=n),
            "x3": rng.normal(size=n),
            "s": s,
            "s_b": (s == "b").astype(int),
        }
    )
    flipped = np.where(rng.random(n) < 0.1, 1 - frame["s_b"], frame["s_b"])
    frame["p"] = flipped + rng.normal(0, 0.2, n)  # a noisy copy of s: a proxy, not an encoding
    frame["y"] = (frame["x1"] + 0.5 * frame["x2"] + rng.normal(0, 0.5, n) > 0).astype(int)
    return frame


def spec(**overrides: Any) -> ExplainabilityCheck:
    return ExplainabilityCheck.model_validate(
        {"kind": "explainability", "data": "eval", "sensitive_features": ["s"], **overrides}
    )


def linear(weights: dict[str, float]) -> Any:
    """A model deciding on a weighted sum of columns (missing values count as 0)."""

    def predict(frame: pd.DataFrame) -> np.ndarray:
        total = sum(w * frame[c].astype("float64").fillna(0.0) for c, w in weights.items())
        return (np.asarray(total) > 0).astype(int)

    return predict


def run(frame: pd.DataFrame, predict: Any, features: list[str] | None, **overrides: Any) -> Any:
    return evaluate_explainability(frame, predict, spec(**overrides), label="y", features=features)


# --------------------------------------------------------------------------------------------------
# Outcomes
# --------------------------------------------------------------------------------------------------


def test_a_model_on_neutral_inputs_passes_with_its_ranking_and_intervals() -> None:
    frame = make_frame()
    result = run(frame, linear({"x1": 2.0, "x2": 1.0, "x3": 0.3}), ["x1", "x2", "x3"])
    assert result.status is Status.PASS, result.summary
    metrics = result.metrics
    assert metrics["top_k"] == ["x1", "x2", "x3"]
    assert [f["rank"] for f in metrics["features"]] == [1, 2, 3]
    for row in metrics["features"]:
        assert row["ci_low"] <= row["mean"] <= row["ci_high"]
        assert row["min"] <= row["mean"] <= row["max"]
    assert metrics["sensitive_inputs"] == [] and not any(p["proxy"] for p in metrics["proxies"])
    assert [s["status"] for s in metrics["stability"]] == ["PASS"]
    assert {(g["attribute"], g["group"]) for g in metrics["groups"]} == {("s", "a"), ("s", "b")}
    assert result.findings == ()
    json.dumps(result.to_dict())  # evidence-ready


def test_importance_means_are_exactly_scikit_learns_for_either_target() -> None:
    from sklearn.inspection import permutation_importance
    from sklearn.linear_model import LogisticRegression

    frame = make_frame()
    features = ["x1", "x2", "x3"]
    model = LogisticRegression().fit(frame[features], frame["y"])
    for target, y in (("prediction", model.predict(frame[features])), ("label", frame["y"])):
        result = run(frame, model.predict, features, importance_target=target, seed=3, n_repeats=4)
        reference = permutation_importance(
            model, frame[features], y, scoring="accuracy", n_repeats=4, random_state=3
        )
        ours = {row["feature"]: row["mean"] for row in result.metrics["features"]}
        assert [ours[f] for f in features] == list(reference.importances_mean), target


def test_a_declared_sensitive_input_fails_naming_it() -> None:
    frame = make_frame()
    model = lambda f: ((f["x1"] + (f["s"] == "b") * 1.5) > 0).astype(int).to_numpy()  # noqa: E731
    result = run(frame, model, ["x1", "x2", "s"])
    assert result.status is Status.FAIL
    assert "'s'" in result.summary
    (finding,) = result.findings
    assert finding.id == "explainability.sensitive_input.s" and finding.severity.value == "HIGH"
    assert result.metrics["sensitive_inputs"][0]["inputs"] == [{"input": "s", "how": "declared input"}]


def test_a_re_encoded_sensitive_input_fails_naming_the_attribute_and_the_input() -> None:
    frame = make_frame()
    result = run(frame, linear({"x1": 1.0, "s_b": 1.5}), ["x1", "x2", "s_b"])
    assert result.status is Status.FAIL
    assert "'s'" in result.summary and "'s_b'" in result.summary
    assert result.metrics["sensitive_inputs"][0]["inputs"] == [{"input": "s_b", "how": "encodes s"}]
    # The encoding is the attribute itself, not a proxy of it: it is not judged again as one.
    assert all(p["feature"] != "s_b" for p in result.metrics["proxies"])


def test_a_waived_sensitive_input_warns_and_lists_the_waiver() -> None:
    frame = make_frame()
    waiver = {"feature": "s", "reason": "required by the lending regulator's model"}
    result = run(frame, linear({"x1": 1.0, "s_b": 1.5}), ["x1", "x2", "s_b"], allow_sensitive_inputs=[waiver])
    assert result.status is Status.WARN
    (finding,) = result.findings
    assert finding.severity.value == "LOW" and waiver["reason"] in (finding.detail or "")
    assert waiver["reason"] in result.summary
    (read,) = result.metrics["sensitive_inputs"]
    assert read["waived"] is True and read["reason"] == waiver["reason"]


def test_a_proxy_in_the_top_k_fails_naming_the_feature_and_the_attribute() -> None:
    frame = make_frame()
    assert not is_encoding(frame["p"], frame["s"])
    result = run(frame, linear({"x1": 1.0, "p": 2.0, "x2": -1.0}), ["x1", "x2", "p"])
    assert result.status is Status.FAIL
    (finding,) = result.findings
    assert finding.id == "explainability.proxy.p.s"
    assert "'p' is a proxy of 's'" in result.summary
    row = next(p for p in result.metrics["proxies"] if p["feature"] == "p")
    assert row["auc"] >= 0.75 and row["proxy"] and row["in_top_k"] and row["rank"] == 1


def test_a_proxy_the_model_does_not_rely_on_is_reported_but_passes() -> None:
    frame = make_frame()
    result = run(frame, linear({"x1": 1.0, "x2": 1.0}), ["x1", "x2", "p"])
    assert result.status is Status.PASS, result.summary
    row = next(p for p in result.metrics["proxies"] if p["feature"] == "p")
    assert row["proxy"] and not row["in_top_k"]
    assert "p" not in result.metrics["top_k"]  # importance 0: it ranks nowhere


def test_a_ranking_that_stress_reshuffles_fails_or_warns_per_policy() -> None:
    frame = make_frame()
    model = linear({"x1": 3.0, "x2": 1.0, "x3": 0.5})
    loud = [{"name": "loud_x3", "kind": "gaussian_noise", "columns": ["x3"], "relative_std": 20}]
    failed = run(frame, model, ["x1", "x2", "x3"], scenarios=loud)
    assert failed.status is Status.FAIL
    (row,) = failed.metrics["stability"]
    assert row["tau"] < 0.6 and row["top_k"][0] == "x3" and row["status"] == "FAIL"
    assert failed.findings[0].id == "explainability.stability.loud_x3"
    warned = run(frame, model, ["x1", "x2", "x3"], scenarios=loud, stability_failure="warn")
    assert warned.status is Status.WARN
    assert warned.metrics["stability"][0]["tau"] == row["tau"]
    lenient = run(frame, model, ["x1", "x2", "x3"], scenarios=loud, stability_floor=-0.5)
    assert lenient.status is Status.PASS


def brittle(frame: pd.DataFrame) -> np.ndarray:
    """A model that decides on x1 for inputs on the 0.01 grid of the clean data and on x3 otherwise —
    the default noise scenario (0.1 std) moves every row off the grid and reverses its ranking."""
    x = frame[["x1", "x2", "x3"]].to_numpy(dtype="float64")
    on_grid = np.isclose(x[:, 0] * 100, np.round(x[:, 0] * 100), rtol=0, atol=1e-6)
    clean = 3.0 * x[:, 0] + 1.0 * x[:, 1] + 0.5 * x[:, 2]
    stressed = 3.0 * x[:, 2] + 1.0 * x[:, 1] + 0.5 * x[:, 0]
    return (np.where(on_grid, clean, stressed) > 0).astype(int)


def test_cheap_stability_settings_keep_the_verdict_and_leave_the_importances_alone() -> None:
    frame = make_frame(n=20_000, seed=2)
    frame[["x1", "x2", "x3"]] = frame[["x1", "x2", "x3"]].round(2)
    features = ["x1", "x2", "x3"]
    stable = linear({"x1": 3.0, "x2": 1.0, "x3": 0.5})
    for model, expected in ((brittle, Status.FAIL), (stable, Status.PASS)):
        # Defaults (1 repeat) on a 1,000-row sample of the 20,000 rows, against every row and 5 repeats.
        cheap = run(frame, model, features, stability_max_rows=1_000)
        full = run(frame, model, features, stability_max_rows=20_000, stability_repeats=5)
        assert cheap.status is expected and full.status is expected, (cheap.summary, full.summary)
        ranked_on = cheap.metrics["stability_baseline"]
        assert ranked_on == {"rows": 1_000, "sampled": True, "repeats": 1, "top_k": ["x1", "x2", "x3"]}
        assert full.metrics["stability_baseline"]["rows"] == 20_000
        assert not full.metrics["stability_baseline"]["sampled"]
        (row,) = cheap.metrics["stability"]
        if expected is Status.FAIL:
            assert row["top_k"][0] == "x3" and row["tau"] < 0.6
            assert cheap.findings[0].id == "explainability.stability.noise"
        else:
            assert row["tau"] == 1.0 and cheap.findings == ()
        # The reported importances are computed as before: all rows, n_repeats, whatever the stability.
        assert cheap.metrics["features"] == full.metrics["features"]
        assert cheap.metrics["groups"] == full.metrics["groups"]
        assert cheap.metrics["rows"] == 20_000 and cheap.metrics["n_repeats"] == 5


def test_the_stability_baseline_is_recomputed_on_the_sample_not_taken_from_the_full_run() -> None:
    # Two inputs of equal weight: their order is a coin toss of the sampling noise. Against the full
    # ranking a cheap run would reorder them with no stress at all (tau 1/3 for three inputs: FAIL);
    # against its own baseline (same rows, same permutations) a scenario that changes nothing ranks
    # them identically.
    frame = make_frame(n=5_000)
    model = linear({"x1": 1.0, "x2": 1.0, "x3": 0.2})
    disagreed = 0
    for seed in range(4):
        result = run(
            frame,
            model,
            ["x1", "x2", "x3"],
            seed=seed,
            stability_max_rows=300,
            scenarios=[
                {"name": "same", "kind": "baseline"},
                {"name": "tiny", "kind": "gaussian_noise", "relative_std": 1e-9},
            ],
        )
        assert [s["tau"] for s in result.metrics["stability"]] == [1.0, 1.0], seed
        assert result.status is Status.PASS
        disagreed += result.metrics["top_k"] != result.metrics["stability_baseline"]["top_k"]
    assert disagreed  # the full ranking and the sample's did differ: the case the design is for


def test_a_model_that_cannot_score_stressed_inputs_fails_that_scenario() -> None:
    frame = make_frame()

    def strict(data: pd.DataFrame) -> np.ndarray:
        if data["x1"].isna().any():
            raise ValueError("Input X contains NaN")
        return (data["x1"] + data["x2"] > 0).astype(int).to_numpy()

    holes = [{"name": "holes", "kind": "missing_values", "columns": ["x1"], "rate": 0.2}]
    result = run(frame, strict, ["x1", "x2"], scenarios=holes)
    assert result.status is Status.FAIL
    (finding,) = result.findings
    assert finding.id == "explainability.stability.holes.crash" and finding.severity.value == "CRITICAL"
    assert result.metrics["stability"][0]["error"] == "ValueError"


def test_stability_with_a_single_ranked_input_is_inconclusive_not_pass() -> None:
    frame = make_frame()
    result = run(frame, linear({"x1": 1.0}), ["x1", "x2"])
    assert result.metrics["top_k"] == ["x1"]
    assert result.status is Status.INCONCLUSIVE
    assert result.metrics["stability"][0]["tau"] is None


def test_no_scenarios_judges_no_stability() -> None:
    result = run(make_frame(), linear({"x1": 1.0}), ["x1", "x2"], scenarios=[])
    assert result.status is Status.PASS and result.metrics["stability"] == []


def test_a_baseline_scenario_is_the_baseline_ranking() -> None:
    result = run(
        make_frame(),
        linear({"x1": 2.0, "x2": 1.0}),
        ["x1", "x2"],
        scenarios=[{"name": "b", "kind": "baseline"}],
    )
    assert result.metrics["stability"][0]["tau"] == 1.0 and result.status is Status.PASS


def test_no_rows_is_inconclusive() -> None:
    result = run(make_frame().iloc[:0], linear({"x1": 1.0}), ["x1", "x2"])
    assert result.status is Status.INCONCLUSIVE


# --------------------------------------------------------------------------------------------------
# Models that receive every column; errors; privacy of small groups; sampling
# --------------------------------------------------------------------------------------------------


def test_without_declared_inputs_a_sensitive_column_counts_only_if_it_changes_decisions() -> None:
    frame = make_frame()[["x1", "x2", "s", "y"]].assign(pred=0)
    ignoring = evaluate_explainability(
        frame, linear({"x1": 1.0, "x2": 1.0}), spec(), label="y", exclude=("pred",)
    )
    assert ignoring.status is Status.PASS, ignoring.summary
    assert {f["feature"] for f in ignoring.metrics["features"]} == {"x1", "x2", "s"}  # not y, not pred

    def reading(data: pd.DataFrame) -> np.ndarray:
        return ((data["x1"] + (data["s"] == "b") * 1.5) > 0).astype(int).to_numpy()

    reads = evaluate_explainability(frame, reading, spec(), label="y", exclude=("pred",))
    assert reads.status is Status.FAIL
    assert reads.metrics["sensitive_inputs"][0]["inputs"] == [{"input": "s", "how": "changes decisions"}]


def test_missing_columns_and_a_bad_model_raise_so_the_check_ends_as_error() -> None:
    frame = make_frame()
    with pytest.raises(ExplainabilityInputError, match="'race'"):
        evaluate_explainability(
            frame, linear({"x1": 1.0}), spec(sensitive_features=["race"]), features=["x1"]
        )
    with pytest.raises(ExplainabilityInputError, match="'x9'"):
        run(frame, linear({"x1": 1.0}), ["x1", "x9"])
    with pytest.raises(ExplainabilityInputError, match="no label column"):
        evaluate_explainability(frame, linear({"x1": 1.0}), spec(importance_target="label"), features=["x1"])
    with pytest.raises(ExplainabilityInputError, match="outputs for"):
        run(frame, lambda f: np.zeros(3), ["x1", "x2"])
    with pytest.raises(RuntimeError, match="broken"):
        run(frame, lambda f: (_ for _ in ()).throw(RuntimeError("broken")), ["x1", "x2"])


def test_small_groups_are_left_out_of_the_result_entirely() -> None:
    frame = make_frame()
    frame.loc[frame.index[:7], "s"] = "tiny_group_name"
    result = run(frame, linear({"x1": 1.0, "x2": 1.0}), ["x1", "x2"])
    assert {g["group"] for g in result.metrics["groups"]} == {"a", "b"}
    assert result.metrics["suppressed_groups"] == {"s": 1}
    assert "tiny_group_name" not in json.dumps(result.to_dict())
    assert all(g["n"] >= 30 for g in result.metrics["groups"])


def test_rows_are_capped_by_a_seeded_sample() -> None:
    frame = make_frame(n=1500)
    first = run(frame, linear({"x1": 2.0, "x2": 1.0}), ["x1", "x2"], max_rows=400)
    again = run(frame, linear({"x1": 2.0, "x2": 1.0}), ["x1", "x2"], max_rows=400)
    assert first.metrics["rows"] == 400 and first.metrics["rows_total"] == 1500 and first.metrics["sampled"]
    assert first.metrics["features"] == again.metrics["features"]
    other = run(frame, linear({"x1": 2.0, "x2": 1.0}), ["x1", "x2"], max_rows=400, seed=1)
    assert other.metrics["features"] != first.metrics["features"]


# --------------------------------------------------------------------------------------------------
# Proxy detection by itself
# --------------------------------------------------------------------------------------------------


def test_proxy_auc_is_symmetric_and_handles_categorical_and_multi_group_attributes() -> None:
    rng = np.random.default_rng(4)
    n = 2000
    group = rng.choice(["u", "v", "w"], n)
    numeric = pd.Series(np.where(group == "w", 1.0, 0.0) + rng.normal(0, 0.3, n))
    attribute = pd.Series(group)
    auc = proxy_auc(numeric, attribute, min_group_size=30, seed=0)
    assert auc is not None and auc > 0.9
    assert proxy_auc(-numeric, attribute, min_group_size=30, seed=0) == auc  # reversed ranks: same proxy
    # A categorical column whose values mostly follow the groups: a proxy, found through its encoding.
    zips = pd.Series(
        [f"{g}{rng.integers(0, 5)}" if rng.random() < 0.9 else f"z{i % 7}" for i, g in enumerate(group)]
    )
    assert (proxy_auc(zips, attribute, min_group_size=30, seed=0) or 0) > 0.8
    # Unique IDs predict nothing once the encoding is cross-fitted (in-sample it would look perfect).
    ids = pd.Series([f"id-{i}" for i in range(n)])
    assert (proxy_auc(ids, attribute, min_group_size=30, seed=0) or 1) < 0.6
    # No group large enough on both sides: nothing to decide on.
    assert proxy_auc(numeric.iloc[:40], attribute.iloc[:40], min_group_size=30, seed=0) is None


def test_an_encoding_is_a_function_of_the_attribute_not_of_an_id() -> None:
    attribute = pd.Series(["a", "b", "c", "a", "b", "c"] * 20)
    assert is_encoding(attribute.map({"a": 1, "b": 0, "c": 0}), attribute)  # one-hot column
    assert not is_encoding(pd.Series([1] * 120), attribute)  # constant: carries nothing
    ids = pd.Series(range(120))
    assert not is_encoding(ids * 2, ids)  # an ID-like "attribute": everything is a function of it


# --------------------------------------------------------------------------------------------------
# The policy spec
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"allow_sensitive_inputs": [{"feature": "race", "reason": "r"}]}, "not among sensitive_features"),
        ({"allow_sensitive_inputs": [{"feature": "s", "reason": ""}]}, "at least 1 character"),
        ({"proxy_threshold": 0.5}, "above 0.5"),
        ({"stability_floor": 1.5}, "between -1 and 1"),
        ({"top_k": 1}, "greater than or equal to 2"),
        ({"n_repeats": 1}, "greater than or equal to 2"),
        ({"stability_repeats": 0}, "greater than or equal to 1"),
        ({"stability_max_rows": 50}, "greater than or equal to 100"),
        ({"sensitive_features": ["s", "s"]}, "more than once"),
        ({"stability_failure": "ignore"}, "'fail' or 'warn'"),
        (
            {"scenarios": [{"name": "n", "kind": "baseline"}, {"name": "n", "kind": "baseline"}]},
            "more than once",
        ),
    ],
)
def test_the_spec_refuses_what_cannot_be_judged(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        spec(**overrides)


def test_spec_defaults() -> None:
    check = spec()
    assert (check.n_repeats, check.seed, check.top_k, check.proxy_threshold) == (5, 0, 5, 0.75)
    assert (check.stability_floor, check.stability_failure, check.importance_target) == (
        0.6,
        "fail",
        "prediction",
    )
    assert [s.kind for s in check.scenarios] == ["gaussian_noise"] and check.allow_sensitive_inputs == []
    assert (check.stability_repeats, check.stability_max_rows, check.max_rows) == (1, 10_000, 50_000)
    assert all(field.description for field in ExplainabilityCheck.model_fields.values())


# --------------------------------------------------------------------------------------------------
# From a policy, with the pinned candidate (CLI → resolver → engine)
# --------------------------------------------------------------------------------------------------

POLICY = """\
policy_version: 1
release: {{model: m}}
owners: {{ethics: {{users: [aisha]}}}}
datasets:
  eval: {{uri: eval.parquet, owner: ethics, description: d, legal_basis: l, label: y, prediction: pred}}
candidate: {{uri: m.skops, sha256: "{sha}"}}
gates:
  - id: ethics
    owner: ethics
    rationale: r
    checks:
      - kind: explainability
        data: eval
        sensitive_features: [s]
"""


def policy_dir(tmp_path: Path, features: list[str], *, pin: str | None = None) -> Path:
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    frame = make_frame().assign(pred=0)
    frame.to_parquet(tmp_path / "eval.parquet", index=False)
    sio.dump(LogisticRegression().fit(frame[features], frame["y"]), tmp_path / "m.skops")
    digest = hashlib.sha256((tmp_path / "m.skops").read_bytes()).hexdigest()
    (tmp_path / "policy.yaml").write_text(POLICY.format(sha=pin or digest))
    return tmp_path / "policy.yaml"


def check_cli(policy: Path) -> tuple[int, dict[str, Any]]:
    out = io.StringIO()
    code = cli.main(
        ["check", "explainability", "--policy", str(policy), "--gate", "ethics", "--json"], out=out
    )
    return code, json.loads(out.getvalue())


def test_from_a_policy_the_pinned_candidate_is_explained(tmp_path: Path) -> None:
    code, result = check_cli(policy_dir(tmp_path, ["x1", "x2", "x3"]))
    assert (code, result["status"]) == (0, "PASS"), result["summary"]
    assert result["inputs"]["model"]["pinned"] is True
    assert {f["feature"] for f in result["metrics"]["features"]} == {"x1", "x2", "x3"}


def test_from_a_policy_a_candidate_reading_an_encoding_fails(tmp_path: Path) -> None:
    code, result = check_cli(policy_dir(tmp_path, ["x1", "x2", "s_b"]))
    assert (code, result["status"]) == (1, "FAIL")
    assert "'s'" in result["summary"]


def test_a_candidate_that_is_not_the_pinned_file_is_never_loaded(tmp_path: Path) -> None:
    code, result = check_cli(policy_dir(tmp_path, ["x1", "x2"], pin="0" * 64))
    assert (code, result["status"]) == (4, "ERROR")
    assert "pins" in result["summary"]


# --------------------------------------------------------------------------------------------------
# The report panel
# --------------------------------------------------------------------------------------------------


def test_the_report_panel_shows_every_group_and_flags_what_failed(tmp_path: Path) -> None:
    from release_gates.reports.charts import draw_explainability
    from release_gates.reports.explainability import explainability_panels

    frame = make_frame()
    result = run(frame, linear({"x1": 1.0, "p": 2.0, "s_b": 0.5}), ["x1", "p", "s_b"])
    panels = explainability_panels({"ethics.explainability": result.to_dict(), "other": {"kind": "fairness"}})
    (panel,) = panels
    assert [g["name"] for g in panel.groups] == ["all rows", "s=a", "s=b"]
    assert panel.flagged == {"s_b": "reads s", "p": "proxy of s"}
    overall = {f["feature"]: f["mean"] for f in panel.groups[0]["features"]}
    assert overall == {f["feature"]: f["mean"] for f in result.metrics["features"]}
    path = draw_explainability(panel, tmp_path / "explainability.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_release_report_draws_and_links_the_panel(tmp_path: Path) -> None:
    from dataclasses import replace

    from release_gates.reports.build import build_report
    from release_gates.reports.explainability import explainability_panels
    from release_gates.reports.render import write_report_files
    from release_gates.reports.trail import load_from_store
    from tests.report_fixtures import T0, recorded_releases

    recorded = recorded_releases(tmp_path / "trail")
    report = build_report(load_from_store(recorded.store, recorded.current), now=T0)
    assert report.explainability == []  # the recorded release ran no explainability check
    result = run(make_frame(), linear({"x1": 2.0, "x2": 1.0}), ["x1", "x2"])
    report = replace(
        report, explainability=explainability_panels({"ethics.explainability": result.to_dict()})
    )
    files = {f.name: f for f in write_report_files(report, tmp_path / "out")}
    assert files["explainability_ethics.explainability.png"].media_type == "image/png"
    html = (tmp_path / "out" / "summary.html").read_text()
    assert "explainability_ethics.explainability.png" in html and "input importance" in html
    assert json.loads((tmp_path / "out" / "report.json").read_text())["explainability"][0]["check_id"] == (
        "ethics.explainability"
    )
