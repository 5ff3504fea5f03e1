"""Evidently's HTML drift report for a drift check's measured columns, rendered from a seeded sample.

Rendering never decides anything: the verdict and metrics come from :mod:`release_gates.checks.drift`
on the full data; this module only draws them, as an artifact file.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from release_gates.artifacts import file_artifact, safe_name

if TYPE_CHECKING:
    import pandas as pd

    from release_gates.checks.drift import ColumnDrift
    from release_gates.policy import DriftCheck
    from release_gates.results import Artifact


def render_drift_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    results: dict[str, ColumnDrift],
    spec: DriftCheck,
    *,
    check_id: str,
    artifact_dir: str | Path,
    report_rows: int,
    sampled: bool = False,
) -> tuple[list[Artifact], dict[str, Any]]:
    """Evidently's HTML report from a seeded sample; a failure to render never changes the verdict.

    ``sampled``: the frames are already a sample of larger data (the aggregate path fetches one).
    """
    from evidently import DataDefinition, Dataset, Report  # type: ignore[import-untyped]
    from evidently.presets import DataDriftPreset  # type: ignore[import-untyped]

    columns = list(results)
    ref = reference[columns]
    cur = current[columns]
    if len(ref) > report_rows:
        ref, sampled = ref.sample(n=report_rows, random_state=spec.seed), True
    if len(cur) > report_rows:
        cur, sampled = cur.sample(n=report_rows, random_state=spec.seed + 1), True
    facts: dict[str, Any] = {
        "rows": {"reference": len(ref), "current": len(cur)},
        "sampled": sampled,
        "note": "rendered from a seeded sample; the verdict and metrics come from the full data"
        if sampled
        else "rendered from the full data",
    }
    definition = DataDefinition(
        numerical_columns=[c for c, r in results.items() if r.kind == "num"],
        categorical_columns=[c for c, r in results.items() if r.kind == "cat"],
    )
    preset = DataDriftPreset(
        columns=columns,
        drift_share=spec.drift_share,
        per_column_method={c: r.method for c, r in results.items()},
        per_column_threshold={c: r.threshold for c, r in results.items()},
    )
    snapshot = Report([preset]).run(
        current_data=Dataset.from_pandas(cur, data_definition=definition),
        reference_data=Dataset.from_pandas(ref, data_definition=definition),
    )
    directory = Path(artifact_dir)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{safe_name(check_id, default='drift')}.drift_report.html"
    snapshot.save_html(str(path))
    return [file_artifact(path, "evidently_drift_report", "text/html")], facts
