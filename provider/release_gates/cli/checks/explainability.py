"""``release-gates check explainability``: what drives the policy's candidate, from a policy::

    release-gates check explainability --policy include/release_policy.yaml --gate ethics \\
        --model model.skops --model-sha256 <sha256>

``--model``/``--model-sha256`` fill a templated ``candidate:`` (as in the release DAG's run parameters).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from release_gates.cli.checks.candidate import add_candidate_arguments
from release_gates.cli.common import CheckCommand, UsageError, add_policy_arguments, policy_check

if TYPE_CHECKING:
    from release_gates.results import CheckResult


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    add_policy_arguments(parser, "explainability")
    add_candidate_arguments(parser, help_suffix=" (the policy's candidate:)")


def _run(args: argparse.Namespace) -> CheckResult:
    from release_gates.cli.checks.candidate import candidate_catalog
    from release_gates.inputs.catalog import DatasetCatalog
    from release_gates.inputs.explainability import run_explainability_check

    if not args.policy:
        raise UsageError("explainability runs from a policy with a candidate: --policy P --gate G")
    found = policy_check(args, "explainability")
    assert found is not None  # --policy was checked above
    policy, spec, check_id = found
    if policy.candidate is None:
        raise UsageError(f"{policy.source} has no candidate: section (the pinned model to explain)")
    catalog = DatasetCatalog.build(policy.datasets, base_dir=policy.base_dir)
    catalog = candidate_catalog(args, policy, catalog, "explainability", [])
    return run_explainability_check(spec, catalog, check_id=check_id)


COMMAND = CheckCommand(
    name="explainability",
    help="permutation importance, sensitive inputs, proxies and stability of the candidate (from a policy)",
    add_arguments=_add_arguments,
    run=_run,
)
