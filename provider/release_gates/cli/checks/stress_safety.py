"""``release-gates check stress-safety``: error ceilings per subgroup under stress scenarios.

From a policy; the model is the check's ``model:``, else the policy's ``candidate:`` (either may be
given here, e.g. when the policy's uri is templated)::

    release-gates check stress-safety --policy include/release_policy.yaml --gate ethics \\
        --model model.skops --model-sha256 <sha256>
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from release_gates.cli.checks.candidate import add_candidate_arguments
from release_gates.cli.common import CheckCommand, UsageError, add_policy_arguments, policy_check

if TYPE_CHECKING:
    from release_gates.results import CheckResult


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    add_policy_arguments(parser, "stress_safety")
    add_candidate_arguments(parser, help_suffix=" (the check's model:, else the policy's candidate:)")


def _run(args: argparse.Namespace) -> CheckResult:
    from release_gates.cli.checks.candidate import candidate_catalog
    from release_gates.inputs.catalog import DatasetCatalog
    from release_gates.inputs.stress_safety import run_stress_safety_check

    if not args.policy:
        raise UsageError("stress-safety runs from a policy: --policy P --gate G")
    found = policy_check(args, "stress_safety")
    assert found is not None  # --policy was checked above
    policy, spec, check_id = found
    catalog = DatasetCatalog.build(policy.datasets, base_dir=policy.base_dir)
    if spec.model is None:
        # No model of its own: the check stresses the policy's candidate (--model fills a template).
        catalog = candidate_catalog(args, policy, catalog, "stress_safety", [])
        return run_stress_safety_check(spec, catalog, check_id=check_id)
    model = spec.model
    if args.model or args.model_sha256:
        model = model.model_copy(update={"uri": args.model or model.uri, "sha256": args.model_sha256})
    if "{{" in model.uri:
        raise UsageError(
            f"the policy's model uri is templated ({model.uri}); pass --model FILE --model-sha256 HASH"
        )
    spec = spec.model_copy(update={"model": model})
    return run_stress_safety_check(spec, catalog, check_id=check_id)


COMMAND = CheckCommand(
    name="stress-safety",
    help="error ceilings per subgroup under stress scenarios (from a policy)",
    add_arguments=_add_arguments,
    run=_run,
)
