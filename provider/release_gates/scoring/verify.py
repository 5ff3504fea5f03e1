"""Do a dataset's declared predictions come from this model? Re-score a sample and compare.

Predictions must match exactly (compared as numbers when both sides are numeric, so ``1`` and
``1.0`` agree); scores within :data:`SCORE_TOLERANCE`. Only counts leave this module, never values.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from release_gates.scoring.engine import ScoringError, score_frame

if TYPE_CHECKING:
    import pandas as pd

    from release_gates.scoring.engine import OutputColumns
    from release_gates.scoring.loaders import ScoringModel

#: Largest difference between a declared and a re-computed score that still counts as the same.
SCORE_TOLERANCE = 1e-6


def compare_sample(sample: pd.DataFrame, model: ScoringModel, columns: OutputColumns) -> dict[str, Any]:
    """``{"compared", "mismatched", "prediction_mismatches", "score_mismatches"}`` for ``sample``.

    Raises :class:`ScoringError` when the sample cannot be re-scored (columns missing, model fails).
    """
    import numpy as np
    import pandas as pd

    needed = [c for c in (columns.prediction, columns.score) if c]
    missing = [c for c in needed if c not in sample.columns]
    if missing:
        raise ScoringError(f"declared output column(s) missing: {', '.join(map(repr, missing))}")
    if sample.empty:
        raise ScoringError("no rows to re-score")
    try:
        predictions, scores = score_frame(sample, model, columns)
    except ScoringError:
        raise
    except Exception as exc:
        raise ScoringError(f"the model failed on the sample: {type(exc).__name__}") from exc

    declared = sample[columns.prediction].to_numpy()
    if pd.api.types.is_numeric_dtype(sample[columns.prediction]) and np.issubdtype(
        np.asarray(predictions).dtype, np.number
    ):
        prediction_differs = ~np.isclose(
            declared.astype("float64"), predictions.astype("float64"), rtol=0, atol=0
        )
    else:
        prediction_differs = np.asarray(
            [str(a) != str(b) for a, b in zip(declared, predictions, strict=True)]
        )
    differs = prediction_differs.copy()
    score_mismatches = 0
    if scores is not None and columns.score is not None:
        declared_scores = pd.to_numeric(sample[columns.score], errors="coerce").to_numpy(dtype="float64")
        score_differs = ~(np.abs(declared_scores - scores) <= SCORE_TOLERANCE)
        score_mismatches = int(score_differs.sum())
        differs |= score_differs
    return {
        "compared": len(sample),
        "mismatched": int(differs.sum()),
        "prediction_mismatches": int(prediction_differs.sum()),
        "score_mismatches": score_mismatches,
    }
