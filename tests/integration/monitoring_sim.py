"""Simulated production traffic from real data: AER HMDA mortgage applications scored by a model.

The model is the demo's "fair" candidate (credit features only), trained on half of HMDA; the other
half, scored, is the release's reference dataset. A production window is a seeded bootstrap sample of
all of HMDA scored by the live model, with timestamps spread over the window and labels attached:

* from ``shift_from`` on, the applicant population drifts: housing-expense and loan-to-value ratios
  and unemployment move, and more applications are for condominiums;
* from ``bias_from`` on, while the live model version is ``biased_version``, that version wrongly
  denies half of the creditworthy Black applicants it would have approved — one subgroup's error
  rises. The version before it does not (rolling back fixes it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from demo.prepare import BASE_FEATURES, candidate_model, hmda

SENSITIVE = ["afam", "single"]
LOGGED = [*BASE_FEATURES, *SENSITIVE, "approved", "pred", "score"]


@dataclass
class HmdaTraffic:
    model: Any
    pool: pd.DataFrame
    reference: pd.DataFrame
    rows_per_window: int = 1500
    shift_from: int = 6
    bias_from: int = 7
    biased_version: str = "3"
    seed: int = 1

    @classmethod
    def build(cls, **settings: Any) -> HmdaTraffic:
        frame = hmda()
        train, evaluation = train_test_split(frame, test_size=0.5, random_state=7, stratify=frame["approved"])
        model = candidate_model(train, BASE_FEATURES, 0.3)
        traffic = cls(model=model, pool=frame, reference=evaluation, **settings)
        traffic.reference = traffic.score(evaluation)
        return traffic

    def score(self, frame: pd.DataFrame) -> pd.DataFrame:
        features = frame[BASE_FEATURES]
        return frame.assign(
            score=self.model.estimator_.predict_proba(features)[:, 1].round(6),
            pred=self.model.predict(features).astype(int),
        )

    def window(self, index: int, start: datetime, length: timedelta, live_version: str) -> pd.DataFrame:
        """Window ``index`` (1-based) of production traffic, scored by ``live_version``."""
        rng = np.random.default_rng(self.seed * 1000 + index)
        frame = self.pool.sample(n=self.rows_per_window, replace=True, random_state=rng.integers(1 << 31))
        frame = frame.reset_index(drop=True)
        if index >= self.shift_from:
            frame["unemp"] = frame["unemp"] + 2.0
            frame["hirat"] = frame["hirat"] * 1.3
            frame["lvrat"] = frame["lvrat"] * 0.85
            frame["condomin_b"] = np.where(rng.random(len(frame)) < 0.5, 1, frame["condomin_b"])
        frame = self.score(frame)
        if index >= self.bias_from and live_version == self.biased_version:
            wronged = (
                (frame["afam"] == "yes")
                & (frame["approved"] == 1)
                & (frame["pred"] == 1)
                & (rng.random(len(frame)) < 0.5)
            )
            frame.loc[wronged, "pred"] = 0
        offsets = np.sort(rng.uniform(0, length.total_seconds() - 1, len(frame)))
        frame["ts"] = pd.Timestamp(start) + pd.to_timedelta(offsets, unit="s")
        return frame[["ts", *LOGGED]]


def write_partition(frame: pd.DataFrame, log_dir: Path, day: datetime) -> Path:
    """Append a window to a Hive-partitioned Parquet log (``date=YYYY-MM-DD/part-0.parquet``)."""
    directory = log_dir / f"date={day:%Y-%m-%d}"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "part-0.parquet"
    frame.to_parquet(path, index=False)
    return path
