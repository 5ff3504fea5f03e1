"""Pre-flight: every input a release will read, checked before anything runs.

A missing file, a pin that does not match or a column a check needs that is not there fails the
check that reads it — minutes later, one check at a time. :func:`preflight_inputs` looks at all of
them at once, in seconds, and returns one list of problems: ``start`` refuses the release with it
(recorded as ``release_refused``), and ``release-gates policy validate --check-inputs`` prints it.

What it checks, for the datasets the checks and the scoring step read (this run's overrides
applied), the candidate model, the stress-safety models, the lineage suites and the image scan
targets on disk:

* a local file exists (a directory, for a ``filesystem`` scan target);
* a pinned local model has the pinned sha256, and so does a pinned local dataset that no lineage
  check reads (a lineage check judges its datasets' pins itself: a mismatch there is a FAIL routed to
  the data owner's remediation, with both digests in evidence, not an input fault);
* a local Parquet or CSV dataset has the columns the checks need (its schema or header only).

SQL and object-storage datasets and image references are not reached from here (a connection or
registry outage is the checks' business, and retried there); a templated value that cannot be
rendered is a problem of its own. No Airflow: the operator and the CLI pass a ``render`` function.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from release_gates.datasets import is_sql_uri, mask_password
from release_gates.policy import (
    DriftCheck,
    FairnessCheck,
    ImageScanCheck,
    LineageCheck,
    PostureCheck,
    StressSafetyCheck,
)

if TYPE_CHECKING:
    from release_gates.policy import Dataset, ReleasePolicy

#: Renders one policy value for this run (``{{ params.model_uri }}`` → a path); identity by default.
Render = Callable[[Any], Any]

#: The evidence record ``start`` appends when pre-flight refuses the release.
RELEASE_REFUSED = "release_refused"


@dataclass(frozen=True)
class PreflightProblem:
    """One input that is not usable: what it is (``dataset 'eval'``) and why, on one line."""

    subject: str
    message: str

    def __str__(self) -> str:
        return f"{self.subject}: {self.message}"

    def to_dict(self) -> dict[str, str]:
        return {"input": self.subject, "problem": self.message}


def format_problems(problems: Iterable[PreflightProblem]) -> str:
    """``N input problem(s): a; b; c`` — the one line a refused release and the CLI both show."""
    listed = list(problems)
    return f"{len(listed)} input problem(s): " + "; ".join(str(p) for p in listed)


def _identity(value: Any) -> Any:
    return value


def preflight_inputs(
    policy: ReleasePolicy,
    *,
    overrides: Mapping[str, Any] | str | None = None,
    render: Render = _identity,
    candidate_pinned: bool = False,
) -> list[PreflightProblem]:
    """Every problem with the inputs this release will read, in policy order (empty: all usable).

    ``candidate_pinned``: the candidate was already resolved and pinned from a registry at start
    (its file is checked there), so its templated run parameters are not read here.
    """
    checker = _Preflight(policy, render)
    checker.datasets(overrides)
    if not candidate_pinned:
        checker.candidate()
    checker.checks()
    return checker.problems


class _Preflight:
    def __init__(self, policy: ReleasePolicy, render: Render) -> None:
        self.policy = policy
        self.render = render
        self.base_dir = policy.base_dir
        self.problems: list[PreflightProblem] = []
        self.lineage_judged = {
            name
            for _, check, _ in policy.iter_checks()
            if isinstance(check, LineageCheck)
            for name in [*check.datasets, *check.suites]
        }

    def problem(self, subject: str, message: str) -> None:
        self.problems.append(PreflightProblem(subject, message))

    def rendered(self, subject: str, value: Any) -> Any:
        """``value`` rendered for this run; None (and a problem) when it cannot be."""
        from release_gates.policy import is_templated

        try:
            out = self.render(value)
        except Exception as exc:  # an undefined parameter, a template error
            self.problem(subject, f"cannot be rendered for this run: {type(exc).__name__}: {exc}")
            return None
        if isinstance(out, str) and is_templated(out):
            self.problem(subject, f"{out!r} is an unrendered template (give the run parameter it names)")
            return None
        return out

    # -- datasets -----------------------------------------------------------------------------------

    def datasets(self, overrides: Mapping[str, Any] | str | None) -> None:
        from release_gates.inputs.catalog import DatasetOverrideError, allowed_overrides, apply_override
        from release_gates.policy import Dataset

        needed = self.needed_columns()
        declared: dict[str, Dataset] = {}
        for name in needed:
            if name not in self.policy.datasets:
                continue  # the policy validator reports undeclared names
            raw = self.rendered(
                f"dataset {name!r}", self.policy.datasets[name].model_dump(mode="json", exclude_none=True)
            )
            if raw is not None:
                declared[name] = Dataset.model_validate(raw)
        try:
            accepted = allowed_overrides(declared, overrides, base_dir=self.base_dir)
        except DatasetOverrideError as exc:
            self.problem("run parameter 'datasets'", str(exc))
            accepted = {}
        for name, dataset in declared.items():
            self.dataset(name, apply_override(name, dataset, accepted.get(name)), needed[name])

    def needed_columns(self) -> dict[str, set[str]]:
        """Dataset name → the columns its readers need, for every dataset a check or scoring reads."""
        needed: dict[str, set[str]] = {}

        def need(name: str | None, *columns: str | None) -> None:
            if name:
                needed.setdefault(name, set()).update(c for c in columns if c)

        scored = set(self.policy.scoring.datasets) if self.policy.scoring is not None else set()
        for name in scored:
            need(name)
        for _, check, _ in self.policy.iter_checks():
            if isinstance(check, LineageCheck):
                for name in [*check.datasets, *check.suites]:
                    need(name)
            elif isinstance(check, DriftCheck):
                need(check.reference, *(check.columns or ()))
                need(check.current, *(check.columns or ()))
                need(check.prediction_reference)
            elif isinstance(check, FairnessCheck | StressSafetyCheck):
                dataset = self.policy.datasets.get(check.data)
                label = dataset.label if dataset is not None else None
                need(check.data, label, *check.sensitive_features)
            elif isinstance(check, PostureCheck):
                need(check.outputs_sample)
        for name, columns in needed.items():
            dataset = self.policy.datasets.get(name)
            # Outputs the candidate writes are not in the source; declared ones must be.
            if dataset is not None and (name not in scored or dataset.predictions == "declared"):
                columns.update(c for c in (dataset.prediction, dataset.score) if c)
        return needed

    def dataset(self, name: str, dataset: Dataset, columns: set[str]) -> None:
        from release_gates.datasets import locate
        from release_gates.exceptions import DatasetError

        subject = f"dataset {name!r}"
        if is_sql_uri(dataset.uri, dataset.format):
            return  # a database: read by the checks, where an outage is retried
        try:
            location = locate(name, dataset, base_dir=self.base_dir)
        except DatasetError as exc:
            self.problem(subject, str(exc))
            return
        if location.kind != "file" or location.path is None:
            return  # object storage: likewise the checks' (and retried there)
        path = location.path
        if path.is_dir() and location.format == "parquet":
            self.folder(subject, name, dataset, path, columns)
            return
        if not path.is_file():
            self.problem(subject, f"file not found: {path}")
            return
        if dataset.sha256 and name not in self.lineage_judged:
            actual = _sha256(path)
            if actual != dataset.sha256:
                self.problem(
                    subject, f"{path.name} has sha256 {actual[:12]}…, the pin is {dataset.sha256[:12]}…"
                )
        try:
            present = _columns(path, location.format)
        except Exception as exc:  # unreadable: say what kind of problem, never a cell value
            from release_gates.datasets import describe_error

            self.problem(subject, f"cannot read {path.name}: {describe_error(exc)}")
            return
        missing = sorted(columns - set(present))
        if missing:
            self.problem(subject, f"{path.name} lacks column(s) the checks need: {', '.join(missing)}")

    # -- models, suites, image targets --------------------------------------------------------------

    def folder(self, subject: str, name: str, dataset: Dataset, path: Path, columns: set[str]) -> None:
        """A Parquet folder (Hive partitions): has files, matches its pin, has the columns (the first
        file's schema and the partition names), as the aggregate engine will read it."""
        from release_gates.datasets import describe_error, folder_fingerprint

        files = sorted(path.rglob("*.parquet"))
        if not files:
            self.problem(subject, f"no Parquet files in the folder {path}")
            return
        try:
            if dataset.sha256 and name not in self.lineage_judged:
                actual = folder_fingerprint(name, path)["sha256"]
                if actual != dataset.sha256:
                    self.problem(
                        subject, f"{path.name}/ has sha256 {actual[:12]}…, the pin is {dataset.sha256[:12]}…"
                    )
            present = set(_columns(files[0], "parquet"))
        except Exception as exc:  # unreadable: say what kind of problem, never a cell value
            self.problem(subject, f"cannot read {path.name}/: {describe_error(exc)}")
            return
        present |= {part.split("=", 1)[0] for part in files[0].relative_to(path).parts[:-1] if "=" in part}
        missing = sorted(columns - present)
        if missing:
            self.problem(subject, f"{path.name}/ lacks column(s) the checks need: {', '.join(missing)}")

    def candidate(self) -> None:
        candidate = self.policy.candidate
        if candidate is None:
            return
        uri = self.rendered("candidate model uri", candidate.uri)
        pin = self.rendered("candidate model sha256", candidate.sha256)
        registry = str(uri).strip().startswith("models:/")
        if uri is not None and not str(pin or "").strip() and not registry:
            self.problem("candidate model", "a model file needs its sha256 pin (models:/ is pinned at start)")
        elif uri is not None:
            self.model_file("candidate model", str(uri), str(pin or ""))

    def model_file(self, subject: str, uri: str, pin: str) -> None:
        # Remote files are read by the steps; a models:/ version is resolved and pinned by start itself.
        if "://" in uri.removeprefix("file://") or uri.strip().startswith("models:/"):
            return
        from release_gates.scoring.loaders import model_path

        path = model_path(uri, self.base_dir)
        if not path.is_file():
            self.problem(subject, f"file not found: {mask_password(uri)}")
            return
        if pin.strip():
            actual = _sha256(path)
            if actual != pin.strip():
                self.problem(
                    subject, f"{path.name} has sha256 {actual[:12]}…, the pin is {pin.strip()[:12]}…"
                )

    def checks(self) -> None:
        from release_gates.inputs.image_scan import PATH_TARGETS

        for _, check, check_id in self.policy.iter_checks():
            if isinstance(check, StressSafetyCheck) and check.model is not None:
                uri = self.rendered(f"{check_id} model uri", check.model.uri)
                pin = self.rendered(f"{check_id} model sha256", check.model.sha256 or "")
                if uri is not None:
                    self.model_file(f"{check_id} model", str(uri), str(pin or ""))
            elif isinstance(check, LineageCheck):
                for name, suite in check.suites.items():
                    path = Path(suite)
                    path = path if path.is_absolute() else self.base_dir / path
                    if not path.is_file():
                        self.problem(f"{check_id} suite of {name!r}", f"file not found: {path}")
            elif isinstance(check, ImageScanCheck) and check.target in PATH_TARGETS:
                image = self.rendered(f"{check_id} target", check.image)
                if image is None:
                    continue
                path = Path(str(image)).expanduser()
                path = path if path.is_absolute() else self.base_dir / path
                exists = path.is_dir() if check.target == "filesystem" else path.is_file()
                if not exists:
                    what = "directory" if check.target == "filesystem" else "file"
                    self.problem(f"{check_id} {check.target} target", f"{what} not found: {path}")


def _sha256(path: Path, *, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def _columns(path: Path, fmt: str) -> list[str]:
    """The column names of a local Parquet (schema) or CSV (header) file, without reading rows."""
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return list(pq.read_schema(path).names)
    import csv

    with path.open(newline="", encoding="utf-8") as handle:
        return next(csv.reader(handle), [])
