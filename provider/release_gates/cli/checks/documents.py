"""``release-gates check documents``: required documents present, pinned, and reviewed by their owners.

From a policy; the reviews are read from the evidence store (every release of the policy's model)::

    release-gates check documents --policy include/release_policy.yaml --gate governance \\
        [--url sqlite:///evidence.db | --conn-id release_gates_evidence]
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from release_gates.cli.common import CheckCommand, UsageError, add_policy_arguments, open_store, policy_check

if TYPE_CHECKING:
    from release_gates.results import CheckResult


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    add_policy_arguments(parser, "documents")
    parser.add_argument(
        "--release",
        metavar="RELEASE_ID",
        help="also read the reviews of this release's chain (one not opened by a release start)",
    )


def _run(args: argparse.Namespace) -> CheckResult:
    from release_gates.inputs.catalog import DatasetCatalog
    from release_gates.inputs.documents import model_review_records, run_documents_check

    if not args.policy:
        raise UsageError("documents runs from a policy: --policy P --gate G")
    found = policy_check(args, "documents")
    assert found is not None  # --policy was checked above
    policy, spec, check_id = found
    records = model_review_records(open_store(args), policy.release.model, args.release)
    catalog = DatasetCatalog.build({}, base_dir=policy.base_dir)
    return run_documents_check(spec, catalog, check_id=check_id, policy=policy, records=records)


COMMAND = CheckCommand(
    name="documents",
    help="required documents exist, match their pinned sha256 and were reviewed by their owners in time",
    add_arguments=_add_arguments,
    run=_run,
)
