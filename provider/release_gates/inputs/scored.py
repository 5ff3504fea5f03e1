"""The candidate's own predictions as check inputs: scored datasets, their artifacts, verified samples.

When the policy names a ``candidate``, checks that judge predictions (fairness, prediction drift)
read each dataset of ``scoring.datasets`` through the artifact the release's ``score`` step wrote —
the dataset's rows with the candidate's outputs — never through the dataset's own prediction column.
:class:`ReleaseCatalog` is the :class:`~release_gates.inputs.catalog.DatasetCatalog` that does it:
such a dataset's URI is the artifact recorded in the chain's ``model_scored`` record, and the
artifact's sha256 is verified before it is read (a mismatch, or a missing artifact, raises
:class:`DatasetError`: the check ends as ERROR and its gate is blocked, never passed).

A dataset with ``predictions: declared`` keeps its own columns; :func:`verify_declared_predictions`
re-scores a seeded sample of it, and a mismatch FAILS the check reading it ("predictions do not come
from this model"); a sample that cannot be re-scored is INCONCLUSIVE.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from release_gates.exceptions import DatasetError, ModelLoadError
from release_gates.inputs.catalog import DatasetCatalog

if TYPE_CHECKING:
    from release_gates.policy import Candidate, Dataset, ReleasePolicy, Scoring
    from release_gates.results import CheckResult, Finding, Status
    from release_gates.scoring.engine import OutputColumns
    from release_gates.scoring.loaders import ScoringModel

#: Check kinds that judge a dataset's predictions, and so read the candidate's scored artifact.
READS_PREDICTIONS = frozenset({"fairness", "drift"})

#: The evidence record the ``score`` step appends.
MODEL_SCORED = "model_scored"

NOT_FROM_MODEL = "predictions do not come from this model"


@dataclass(frozen=True)
class ReleaseCatalog(DatasetCatalog):
    """A catalog that also knows the release's candidate and the artifacts it scored."""

    candidate: Candidate | None = None
    scoring: Scoring | None = None
    #: Dataset name → its ``model_scored`` entry (source fingerprint, rows, artifact uri and sha256).
    scored: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: The ``model_scored`` record's model (uri, format, sha256).
    scored_model: Mapping[str, Any] = field(default_factory=dict)
    #: Dataset name → why the candidate's outputs for it are missing: reading it raises.
    unscored: Mapping[str, str] = field(default_factory=dict)
    _verified: set[str] = field(default_factory=set, compare=False, repr=False)

    def dataset(self, name: str) -> Dataset:
        if name in self.unscored:
            raise DatasetError(self.unscored[name])
        dataset = super().dataset(name)
        if name in self.scored and name not in self._verified:
            _verify_artifact(name, dataset, str(self.scored[name]["artifact"]["sha256"]))
            self._verified.add(name)
        return dataset

    def scored_inputs(self, name: str) -> dict[str, Any]:
        """What ``CheckResult.inputs`` records for a dataset read through the candidate's artifact."""
        if name not in self.scored:
            return {}
        entry = self.scored[name]
        return {
            "predictions": "scored",
            "model_sha256": self.scored_model.get("sha256"),
            "artifact_sha256": entry["artifact"]["sha256"],
            "source": dict(entry.get("source", {})),
        }


def artifact_path(uri: str) -> Path:
    """The local path of a ``file://`` artifact URI (or a plain path)."""
    return Path(unquote(urlsplit(uri).path)) if uri.startswith("file://") else Path(uri)


def _verify_artifact(name: str, dataset: Dataset, recorded: str) -> None:
    from release_gates.datasets import file_sha256

    path = artifact_path(dataset.uri)
    try:
        actual = file_sha256(path)
    except OSError as exc:
        raise DatasetError(
            f"dataset {name!r}: the candidate's scored artifact is unreadable: {exc.strerror}"
        ) from exc
    if actual != recorded:
        raise DatasetError(
            f"dataset {name!r}: the candidate's scored artifact has sha256 {actual}, the release recorded "
            f"{recorded}; not reading it"
        )


def with_prediction_origin(inputs: dict[str, Any], catalog: DatasetCatalog) -> dict[str, Any]:
    """Per-dataset ``inputs`` with, for each dataset read through the candidate's artifact, where its
    predictions come from (artifact and model sha256, the source's fingerprint)."""
    if not isinstance(catalog, ReleaseCatalog):
        return inputs
    return {
        name: {**facts, **catalog.scored_inputs(name)} if isinstance(facts, dict) else facts
        for name, facts in inputs.items()
    }


def merge_verification(inputs: dict[str, Any], verified: Mapping[str, Any]) -> dict[str, Any]:
    """Per-dataset ``inputs`` with the re-scored sample's facts of each declared dataset."""
    merged = dict(inputs)
    for name, facts in verified.items():
        entry = merged.get(name)
        merged[name] = {
            **(entry if isinstance(entry, dict) else {}),
            "predictions": {"declared": True, **facts},
        }
    return merged


# --------------------------------------------------------------------------------------------------
# Which datasets, which columns
# --------------------------------------------------------------------------------------------------


def scored_names(policy: ReleasePolicy) -> list[str]:
    """Datasets the ``score`` step scores in full (``predictions: scored``)."""
    if policy.candidate is None or policy.scoring is None:
        return []
    return [n for n in policy.scoring.datasets if policy.datasets[n].predictions == "scored"]


def output_columns(dataset: Dataset, candidate: Candidate) -> OutputColumns:
    from release_gates.scoring.engine import OutputColumns

    if dataset.prediction is None:
        raise DatasetError("a scored dataset needs a prediction column")
    return OutputColumns(
        prediction=dataset.prediction,
        score=dataset.score,
        excluded=tuple(c for c in (dataset.label,) if c),
        features=tuple(candidate.features) if candidate.features else None,
    )


def load_candidate(candidate: Candidate, dataset: Dataset | None, base_dir: Path | None) -> ScoringModel:
    """The candidate, loaded for scoring (sha256 checked before it is deserialised)."""
    from release_gates.scoring.loaders import load_model

    if "{{" in candidate.uri or "{{" in candidate.sha256:
        raise ModelLoadError(f"the candidate's uri or sha256 is still a template ({candidate.uri})")
    return load_model(
        candidate,
        base_dir=base_dir,
        features=candidate.features,
        positive_label=dataset.positive_label if dataset is not None else 1,
    )


# --------------------------------------------------------------------------------------------------
# Scoring (the release's score step, and the CLI in-process)
# --------------------------------------------------------------------------------------------------


def score_datasets(
    catalog: DatasetCatalog,
    candidate: Candidate,
    scoring: Scoring,
    names: Iterable[str],
    out_dir: Path,
) -> dict[str, Any]:
    """Score ``names`` with the candidate into ``out_dir``; returns the ``model_scored`` payload."""
    from release_gates.artifacts import safe_name
    from release_gates.scoring.engine import score_file

    payload: dict[str, Any] = {"model": {}, "datasets": {}, "chunk_rows": scoring.chunk_rows}
    for name in names:
        dataset = catalog.dataset(name)
        model = load_candidate(candidate, dataset, catalog.base_dir)
        payload["model"] = {k: model.info[k] for k in ("uri", "sha256", "format")}
        location = catalog.locate(name)
        if location.kind != "file" or location.path is None:
            raise DatasetError(
                f"dataset {name!r}: the candidate scores local Parquet or CSV files; this one is "
                f"{location.kind} (score it outside, then use predictions: declared)"
            )
        source = catalog.fingerprint(name, location)
        scored = score_file(
            location.path,
            location.format,
            model,
            output_columns(dataset, candidate),
            out_dir / f"{safe_name(name)}.parquet",
            name=name,
            chunk_rows=scoring.chunk_rows,
        )
        payload["datasets"][name] = {
            "source": source,
            "rows": scored.rows,
            "artifact": {"uri": scored.artifact.uri, "sha256": scored.artifact.sha256},
            "prediction": dataset.prediction,
            "score": dataset.score,
        }
    return payload


def release_catalog(
    catalog: DatasetCatalog,
    policy: ReleasePolicy,
    candidate: Candidate,
    *,
    record: Mapping[str, Any] | None,
    substitute: bool,
) -> ReleaseCatalog:
    """``catalog`` with the release's candidate; with ``substitute``, each scored dataset reads the
    artifact of the latest ``model_scored`` ``record`` (or raises when reading it, if there is none)."""
    datasets = dict(catalog.datasets)
    scored: dict[str, Mapping[str, Any]] = {}
    unscored: dict[str, str] = {}
    recorded = record.get("datasets", {}) if record and record.get("status", "OK") != "ERROR" else {}
    for name in scored_names(policy) if substitute else []:
        entry = recorded.get(name)
        if entry is None:
            why = (
                f": {record['error']}" if record and record.get("error") else " (the score step did not run)"
            )
            unscored[name] = (
                f"dataset {name!r} is judged on the candidate's predictions, but this release has no "
                f"scored artifact for it{why}"
            )
            continue
        datasets[name] = datasets[name].model_copy(
            update={
                "uri": str(artifact_path(entry["artifact"]["uri"])),
                "sha256": entry["artifact"]["sha256"],
                "format": "parquet",
            }
        )
        scored[name] = entry
    base = {f.name: getattr(catalog, f.name) for f in fields(DatasetCatalog)}
    return ReleaseCatalog(
        **{**base, "datasets": datasets},
        candidate=candidate,
        scoring=policy.scoring,
        scored=scored,
        scored_model=dict(record.get("model", {})) if record else {},
        unscored=unscored,
    )


# --------------------------------------------------------------------------------------------------
# predictions: declared — a seeded sample re-scored
# --------------------------------------------------------------------------------------------------


def verify_declared_predictions(
    catalog: DatasetCatalog, names: Iterable[str], *, check_id: str, kind: str
) -> tuple[CheckResult | None, dict[str, Any]]:
    """Re-score a sample of each ``predictions: declared`` dataset among ``names``.

    Returns a FAIL (mismatch) or INCONCLUSIVE (cannot re-score) result for the check to end with, or
    None and the verification facts per dataset for its ``inputs``.
    """
    from release_gates.results import Finding, Severity, Status

    if not isinstance(catalog, ReleaseCatalog) or catalog.candidate is None or catalog.scoring is None:
        return None, {}
    facts: dict[str, Any] = {}
    for name in dict.fromkeys(names):
        if name not in catalog.scoring.datasets:
            continue
        dataset = catalog.dataset(name)
        if dataset.predictions != "declared":
            continue
        wanted = dataset.verify_rows or catalog.scoring.verify_rows
        try:
            outcome = _resample_and_compare(catalog, name, dataset, wanted)
        except (DatasetError, ModelLoadError, ValueError, KeyError) as exc:
            summary = f"the declared predictions of {name!r} could not be re-scored with the candidate: {exc}"
            return _verdict(
                check_id, kind, status=Status.INCONCLUSIVE, summary=summary, findings=[], inputs={}
            ), facts
        facts[name] = outcome
        if outcome["mismatched"]:
            summary = (
                f"{NOT_FROM_MODEL}: {outcome['mismatched']} of {outcome['compared']} re-scored rows of "
                f"{name!r} differ from its declared predictions"
            )
            finding = Finding(
                id=f"predictions.{name}.not_from_model",
                severity=Severity.CRITICAL,
                title=f"{NOT_FROM_MODEL} ({name})",
                detail=summary,
                location=name,
                data={
                    k: outcome[k]
                    for k in ("compared", "mismatched", "prediction_mismatches", "score_mismatches")
                },
            )
            inputs = {name: {"predictions": outcome}}
            return _verdict(
                check_id, kind, status=Status.FAIL, summary=summary, findings=[finding], inputs=inputs
            ), facts
    return None, facts


def _resample_and_compare(
    catalog: DatasetCatalog, name: str, dataset: Dataset, wanted: int
) -> dict[str, Any]:
    from release_gates.scoring.verify import compare_sample

    assert (
        isinstance(catalog, ReleaseCatalog) and catalog.candidate is not None and catalog.scoring is not None
    )
    model = load_candidate(catalog.candidate, dataset, catalog.base_dir)
    frame = catalog.load(name)
    sample = frame.sample(n=min(wanted, len(frame)), random_state=catalog.scoring.seed)
    outcome = compare_sample(sample, model, output_columns(dataset, catalog.candidate))
    return {**outcome, "model_sha256": model.info.get("sha256"), "seed": catalog.scoring.seed}


def _verdict(
    check_id: str, kind: str, *, status: Status, summary: str, findings: list[Finding], inputs: dict[str, Any]
) -> CheckResult:
    from release_gates import __version__
    from release_gates.results import CheckResult, utcnow

    now = utcnow()
    return CheckResult(
        check_id=check_id,
        kind=kind,
        status=status,
        summary=" ".join(summary.split())[:1000],
        findings=findings,
        inputs=inputs,
        engine={"release-gates": __version__},
        started_at=now,
        finished_at=now,
    )
