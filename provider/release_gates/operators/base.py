"""The shape every check operator shares: resolve the spec → run the engine → record evidence → decide.

A verdict is data: PASS, WARN, FAIL and INCONCLUSIVE all end the task successfully and the gate
downstream routes on them. ERROR means the check could not run; after the ERROR result is in the
evidence trail the task raises. A transient cause (a database down, a timeout, throttling) raises
:class:`CheckErrorException`, which Airflow retries; a permanent one (a missing file, bad labels,
invalid input, a policy error) raises :class:`PermanentCheckError`, which fails the task at once so
the gate is blocked now rather than after the retries (:func:`release_gates.exceptions.is_transient`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from release_gates.evidence import DEFAULT_EVIDENCE_CONN_ID
from release_gates.exceptions import CheckErrorException, is_transient
from release_gates.operators.evidence import EvidenceWriterMixin

if TYPE_CHECKING:
    from airflow.sdk import Context

    from release_gates.inputs.catalog import DatasetCatalog
    from release_gates.policy import Candidate, ReleasePolicy
    from release_gates.results import CheckResult

#: ``<dag_id>__<run_id>``, the DAG id escaped when it could make that ambiguous: the Jinja form of
#: ``release_gates.ui.release_ids.release_id_for`` (see there why).
DEFAULT_RELEASE_ID = (
    "{{ dag.dag_id.replace('_', '%5F') if '__' in dag.dag_id or dag.dag_id.endswith('_') else dag.dag_id }}"
    "__{{ run_id }}"
)


class PermanentCheckError(CheckErrorException, AirflowFailException):
    """The check could not run and trying again cannot help: Airflow fails the task without retries.

    Still a :class:`CheckErrorException`, so whoever catches that keeps catching it.
    """

    transient = False


def error_facts(exc: BaseException) -> dict[str, Any]:
    """What an ERROR result records about its cause: the class and whether a retry may help."""
    return {"type": type(exc).__name__, "transient": is_transient(exc)}


def result_is_transient(result: CheckResult) -> bool:
    """Whether an ERROR result's cause may pass: its ``metrics.error.transient`` when the engine or
    the operator classified it. Unclassified ERRORs (a rollback drill whose step failed after its own
    retries) stay retried, as before classification existed."""
    error = result.metrics.get("error")
    if isinstance(error, dict) and isinstance(error.get("transient"), bool):
        return bool(error["transient"])
    return True


def render_policy_values(operator: BaseOperator, value: Any, context: Context) -> Any:
    """Render only the ``{{ … }}`` strings of a policy value; every other value stays as written.

    (The release DAG renders natively, which would turn a literal "1" into 1 or "" into None.)
    """
    if isinstance(value, dict):
        return {k: render_policy_values(operator, v, context) for k, v in value.items()}
    if isinstance(value, list):
        return [render_policy_values(operator, v, context) for v in value]
    if isinstance(value, str) and "{{" in value:
        rendered = operator.render_template(value, context)
        return rendered if rendered is None or isinstance(rendered, str) else str(rendered)
    return value


def render_candidate(operator: BaseOperator, policy: ReleasePolicy, context: Context) -> Candidate:
    """The policy's ``candidate:`` with its templates (``{{ params.model_uri }}``) rendered for this run."""
    from release_gates.operators.candidate_pin import pinned_candidate, release_registry_pin
    from release_gates.policy import Candidate

    assert policy.candidate is not None
    raw = policy.candidate.model_dump(mode="json", exclude_none=True)
    pin = release_registry_pin(operator)
    if pin is not None:  # a models:/ candidate pinned at start: the pin, never this run's parameters
        raw = {**raw, "uri": pin["uri"], "sha256": pin["sha256"]}
    candidate = Candidate.model_validate(render_policy_values(operator, raw, context))
    if pin is None:
        return candidate
    return pinned_candidate(candidate, pin, str(getattr(operator, "release_id", "")))


class BaseCheckOperator(EvidenceWriterMixin, BaseOperator):
    """Run one release check and append its :class:`CheckResult` to the release's evidence chain.

    Give either ``policy_path`` and ``check_id`` (``"<gate>.<check>"``; the spec, datasets and
    owners come from the policy, and ``{{ … }}`` values in it are rendered with this task's context),
    or a ``spec`` mapping for use without a policy file.

    :param check_id: id of the check in the policy, ``<gate>.<check>``.
    :param policy_path: release policy file (read when the task runs, not at DAG parse).
    :param spec: the check's spec as a mapping (templated) — alternative to ``policy_path``.
    :param datasets: with ``spec``: the datasets it names, as policy ``datasets`` entries (templated).
    :param dataset_overrides: dataset name → uri for this run (templated; the release DAG passes its
        ``datasets`` trigger parameter). Only what the policy's ``overrides`` allow-list permits, and a
        pinned dataset only with a new sha256, which becomes its pin (:mod:`release_gates.inputs.overrides`).
    :param release_id: evidence chain to write to (templated; default ``<dag_id>__<run_id>``).
    :param evidence_conn_id: connection of type ``release_gates_evidence`` (default: embedded SQLite).
    """

    #: The policy ``kind`` this operator runs; subclasses set it.
    check_kind: ClassVar[str]
    template_fields: Sequence[str] = ("spec", "datasets", "dataset_overrides", "release_id", "policy_path")
    template_fields_renderers = {"spec": "json"}
    ui_color = "#e8f0fe"

    def __init__(
        self,
        *,
        check_id: str,
        policy_path: str | None = None,
        spec: dict[str, Any] | None = None,
        datasets: dict[str, dict[str, Any]] | None = None,
        dataset_overrides: dict[str, str] | str | None = None,
        release_id: str = DEFAULT_RELEASE_ID,
        evidence_conn_id: str = DEFAULT_EVIDENCE_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (policy_path is None) == (spec is None):
            raise ValueError(f"{self.task_id}: give exactly one of policy_path or spec")
        self.check_id = check_id
        self.policy_path = policy_path
        self.spec = spec
        self.datasets = datasets
        self.dataset_overrides = dataset_overrides
        self.release_id = release_id
        self.evidence_conn_id = evidence_conn_id

    # -- the chain --------------------------------------------------------------------------------

    def execute(self, context: Context) -> dict[str, Any]:
        from release_gates.results import CheckResult, Status, utcnow

        started = utcnow()
        policy: ReleasePolicy | None = None
        try:
            policy = self._load_policy()
            spec = self._resolve_spec(policy, context)
            result = self.run_check(spec, policy, context)
        except Exception as exc:  # fail closed: a crash is recorded as ERROR, never lost or passed
            import traceback

            from release_gates.datasets import describe_failure

            message = describe_failure(exc)
            # The stack helps whoever fixes it; a third-party message may quote cell values, so the log
            # gets the scrubbed line and the frames, never the raw text.
            self.log.error(
                "Check %s could not run: %s\n%s",
                self.check_id,
                message,
                "".join(traceback.format_tb(exc.__traceback__)),
            )
            result = CheckResult.error(
                check_id=self.check_id,
                kind=self.check_kind,
                message=message,
                started_at=started,
                metrics={"error": error_facts(exc)},
            )
        if policy is not None:
            result = result.model_copy(update={"inputs": {**result.inputs, "policy_sha256": policy.sha256}})
        seq = self._record(result, context)
        self._log_result(result)
        if result.status is Status.ERROR:
            message = f"{self.check_id}: {result.summary} (full result: evidence {self.release_id} #{seq})"
            if result_is_transient(result):
                raise CheckErrorException(f"{message}; the cause may pass, so the task is retried")
            raise PermanentCheckError(f"{message}; a retry would read the same input, so it is not retried")
        return {**result.summary_for_xcom(), "release_id": self.release_id, "evidence_seq": seq}

    def run_check(self, spec: Any, policy: ReleasePolicy | None, context: Context) -> CheckResult:
        """Resolve inputs and call the engine. Subclasses implement this; no statistics here."""
        raise NotImplementedError

    def dataset_catalog(
        self, policy: ReleasePolicy | None, context: Context, *, base_dir: str | Path | None = None
    ) -> DatasetCatalog:
        """The datasets this check may read, for the kind's input resolver.

        From the policy (``{{ … }}`` values in its entries rendered with this task's context) or, when
        running on a ``spec``, from ``datasets``; this run's ``dataset_overrides`` applied. Relative
        paths resolve against ``base_dir``, else the policy file's directory.
        """
        from release_gates.inputs.catalog import DatasetCatalog

        if policy is not None:
            raw = {name: d.model_dump(mode="json", exclude_none=True) for name, d in policy.datasets.items()}
            declared = self._render_templated(raw, context)
        else:
            declared = dict(self.datasets or {})
        if base_dir is None and policy is not None:
            base_dir = policy.base_dir
        catalog = DatasetCatalog.build(declared, overrides=self.dataset_overrides, base_dir=base_dir)
        if policy is None or policy.candidate is None:
            return catalog
        return self._candidate_catalog(catalog, policy, context)

    def _candidate_catalog(
        self, catalog: DatasetCatalog, policy: ReleasePolicy, context: Context
    ) -> DatasetCatalog:
        """With a candidate in the policy: checks that judge predictions read the candidate's own,
        from the artifacts of this release's latest ``model_scored`` record (sha256 verified before
        reading); every check can load the candidate (stress safety, declared-prediction samples)."""
        from release_gates.inputs.scored import MODEL_SCORED, READS_PREDICTIONS, release_catalog

        substitute = self.check_kind in READS_PREDICTIONS
        record = None
        if substitute:
            from release_gates.exceptions import EvidenceNotFoundError

            try:
                scored = self.evidence_store.records(self.release_id, kind=MODEL_SCORED)
            except EvidenceNotFoundError:
                scored = []
            record = scored[-1].payload if scored else None
        return release_catalog(
            catalog, policy, render_candidate(self, policy, context), record=record, substitute=substitute
        )

    # -- steps ------------------------------------------------------------------------------------

    def _load_policy(self) -> ReleasePolicy | None:
        if self.policy_path is None:
            return None
        from release_gates.policy import load_policy

        return load_policy(self.policy_path)

    def _resolve_spec(self, policy: ReleasePolicy | None, context: Context) -> Any:
        from pydantic import TypeAdapter

        from release_gates.policy import CheckSpec

        if policy is not None:
            for _, check, check_id in policy.iter_checks():
                if check_id == self.check_id:
                    raw = self._render_templated(check.model_dump(mode="json", exclude_none=True), context)
                    break
            else:
                raise KeyError(f"no check {self.check_id!r} in {policy.source}")
        else:
            raw = dict(self.spec or {})
        raw.setdefault("kind", self.check_kind)
        spec = TypeAdapter(CheckSpec).validate_python(raw)
        if spec.kind != self.check_kind:
            raise ValueError(
                f"{self.check_id} is a {spec.kind!r} check; {type(self).__name__} runs {self.check_kind!r}"
            )
        return spec

    def _render_templated(self, value: Any, context: Context) -> Any:
        return render_policy_values(self, value, context)

    def evidence_chain_id(self, context: Context) -> str:
        return self.release_id

    def _record(self, result: CheckResult, context: Context) -> int:
        record = self.append_evidence("check_result", result.to_dict(), context)
        # What OpenLineage is told when the task ends (get_openlineage_facets_on_complete).
        self._recorded_result = (result, record.seq, record.hash)
        return record.seq

    # -- OpenLineage (the provider calls these in the worker when the task ends) --------------------

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """The datasets the check read with its assertions, and its verdict and evidence chain head
        (:mod:`release_gates.operators.lineage_facets`; needs the ``openlineage`` extra)."""
        from release_gates.operators.lineage_facets import check_lineage

        return check_lineage(self)

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> Any:
        """As on complete: an ERROR result is reported unsuccessful, no result as verdict ERROR."""
        from release_gates.operators.lineage_facets import check_lineage

        return check_lineage(self)

    def _log_result(self, result: CheckResult) -> None:
        self.log.info("%s %s: %s", result.status.value, result.check_id, result.summary)
        for finding in result.active_findings()[:25]:
            self.log.info(
                "  %s %s: %s [%s]", finding.severity.value, finding.id, finding.title, finding.location or "-"
            )
        if len(result.findings) > 25:
            self.log.info(
                "  … %d findings in all; full result in evidence %s", len(result.findings), self.release_id
            )
