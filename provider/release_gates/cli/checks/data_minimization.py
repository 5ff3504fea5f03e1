"""``release-gates check data-minimization``: the candidate's inputs have a stated purpose, none sensitive.

From a policy (the model is the policy's ``candidate:``; ``--model`` fills a templated one)::

    release-gates check data-minimization --policy include/release_policy.yaml --gate privacy \\
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
    add_policy_arguments(parser, "data_minimization")
    add_candidate_arguments(parser, help_suffix=" (default: the policy's candidate:)")


def _run(args: argparse.Namespace) -> CheckResult:
    from release_gates.cli.checks.candidate import candidate_catalog
    from release_gates.inputs.catalog import DatasetCatalog
    from release_gates.inputs.data_minimization import run_data_minimization_check

    if not args.policy:
        raise UsageError("data-minimization runs from a policy: --policy P --gate G")
    found = policy_check(args, "data_minimization")
    assert found is not None  # --policy was checked above
    policy, spec, check_id = found
    if policy.candidate is None:
        raise UsageError(f"{policy.source} has no candidate: (the model whose inputs are audited)")
    catalog = DatasetCatalog.build(policy.datasets, base_dir=policy.base_dir)
    catalog = candidate_catalog(args, policy, catalog, "data_minimization", [])
    return run_data_minimization_check(spec, catalog, check_id=check_id, policy=policy)


COMMAND = CheckCommand(
    name="data-minimization",
    help="the candidate's declared inputs each have a stated purpose, none sensitive; unused columns listed",
    add_arguments=_add_arguments,
    run=_run,
)
