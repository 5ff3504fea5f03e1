"""The policy's candidate on the command line: ``--model FILE --model-sha256 HASH`` and in-process scoring.

With a ``candidate:`` in the policy, ``release-gates check fairness|drift|stress-safety --policy …``
judges the candidate exactly as the release DAG does: the datasets of ``scoring.datasets`` the check
reads are scored here, through the same engine as the DAG's ``score`` step (into a temporary folder,
removed on exit), and the check reads those artifacts, their sha256 verified first.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from release_gates.cli.common import UsageError

if TYPE_CHECKING:
    from release_gates.inputs.catalog import DatasetCatalog
    from release_gates.policy import Candidate, ReleasePolicy


def add_candidate_arguments(parser: argparse.ArgumentParser, *, help_suffix: str = "") -> None:
    group = parser.add_argument_group("the candidate model (where the policy's is templated)")
    group.add_argument("--model", metavar="FILE", help=f"the candidate model file{help_suffix}")
    group.add_argument("--model-sha256", metavar="HASH", help="the candidate model file's sha256")


def policy_candidate(args: argparse.Namespace, policy: ReleasePolicy) -> Candidate | None:
    """The policy's candidate with ``--model``/``--model-sha256`` applied; templated → usage error."""
    if policy.candidate is None:
        return None
    update = {k: v for k, v in (("uri", args.model), ("sha256", args.model_sha256)) if v}
    candidate = policy.candidate.model_copy(update=update)
    if "{{" in candidate.uri or "{{" in candidate.sha256:
        raise UsageError(
            f"the policy's candidate is templated ({candidate.uri}); pass --model FILE --model-sha256 HASH"
        )
    return candidate


def candidate_catalog(
    args: argparse.Namespace, policy: ReleasePolicy, catalog: DatasetCatalog, kind: str, reads: Iterable[str]
) -> DatasetCatalog:
    """``catalog`` as the release DAG's checks see it (see the module docstring)."""
    from release_gates.inputs.scored import READS_PREDICTIONS, release_catalog

    candidate = policy_candidate(args, policy)
    if candidate is None:
        return catalog
    substitute = kind in READS_PREDICTIONS
    record = _score(policy, catalog, candidate, reads) if substitute else None
    return release_catalog(catalog, policy, candidate, record=record, substitute=substitute)


def _score(
    policy: ReleasePolicy, catalog: DatasetCatalog, candidate: Candidate, reads: Iterable[str]
) -> dict[str, Any]:
    import atexit
    import shutil
    import tempfile
    from pathlib import Path

    from release_gates.exceptions import ReleaseGatesError
    from release_gates.inputs.scored import score_datasets, scored_names

    assert policy.scoring is not None
    wanted = set(reads)
    names = [n for n in scored_names(policy) if n in wanted]
    if not names:
        return {"status": "OK", "datasets": {}}
    out_dir = Path(tempfile.mkdtemp(prefix="release-gates-scored-"))
    atexit.register(shutil.rmtree, out_dir, ignore_errors=True)
    try:
        return {"status": "OK", **score_datasets(catalog, candidate, policy.scoring, names, out_dir)}
    except ReleaseGatesError as exc:  # the check reading it ends as ERROR, as in the DAG
        return {"status": "ERROR", "error": f"{type(exc).__name__}: {exc}", "datasets": {}}
