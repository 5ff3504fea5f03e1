"""Operator for ``kind: model_signature``: the candidate's OpenSSF model signature, verified offline."""

from __future__ import annotations

from typing import TYPE_CHECKING

from release_gates.operators.base import BaseCheckOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

    from release_gates.kinds.model_signature import ModelSignatureCheck
    from release_gates.policy import ReleasePolicy
    from release_gates.results import CheckResult


class ModelSignatureCheckOperator(BaseCheckOperator):
    """The release's candidate is signed by the trusted key or CA, over exactly the pinned file.

    The model and its pin are the policy's ``candidate:`` rendered for this run; the signature, key
    and chain paths resolve against the policy file. A missing or rejected signature is a verdict
    (FAIL, or INCONCLUSIVE by ``on_missing``); a check that cannot run (no model file, unreadable
    key, model-signing not installed) is recorded as ERROR and fails the task without retries.
    """

    check_kind = "model_signature"

    def run_check(
        self, spec: ModelSignatureCheck, policy: ReleasePolicy | None, context: Context
    ) -> CheckResult:
        from release_gates.inputs.model_signature import run_model_signature_check

        return run_model_signature_check(spec, self.dataset_catalog(policy, context), check_id=self.check_id)
