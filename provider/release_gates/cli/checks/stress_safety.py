"""``release-gates check stress-safety``: error ceilings per subgroup under stress scenarios.

From a policy (the model may be overridden, e.g. when the policy's uri is templated)::

    release-gates check stress-safety --policy include/release_policy.yaml --gate ethics \\
        --model model.skops --model-sha256 <sha256>
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from release_gates.cli.common import CheckCommand, UsageError, add_policy_arguments, policy_check

if TYPE_CHECKING:
    from release_gates.results import CheckResult


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    add_policy_arguments(parser, "stress_safety")
    parser.add_argument("--model", help="override the policy's model uri (skops file)")
    parser.add_argument("--model-sha256", help="override the policy's pinned model sha256")


def _run(args: argparse.Namespace) -> CheckResult:
    from release_gates.checks.stress_safety import evaluate_stress_safety, load_model
    from release_gates.datasets import fingerprint, load_frame

    if not args.policy:
        raise UsageError("stress-safety runs from a policy: --policy P --gate G")
    found = policy_check(args, "stress_safety")
    assert found is not None  # --policy was checked above
    policy, spec, check_id = found
    model = spec.model
    if args.model or args.model_sha256:
        model = model.model_copy(update={"uri": args.model or model.uri, "sha256": args.model_sha256})
    if "{{" in model.uri:
        raise UsageError(
            f"the policy's model uri is templated ({model.uri}); pass --model FILE --model-sha256 HASH"
        )
    spec = spec.model_copy(update={"model": model})
    dataset = policy.dataset(spec.data)
    assert dataset.label is not None
    predict, model_info = load_model(model, base_dir=policy.base_dir)
    frame = load_frame(spec.data, dataset, base_dir=policy.base_dir)
    return evaluate_stress_safety(
        frame,
        predict,
        spec,
        label=dataset.label,
        positive=dataset.positive_label,
        negative=dataset.negative_label,
        exclude=tuple(c for c in (dataset.prediction, dataset.score) if c),
        check_id=check_id,
        inputs={spec.data: fingerprint(spec.data, dataset, base_dir=policy.base_dir), "model": model_info},
    )


COMMAND = CheckCommand(
    name="stress-safety",
    help="error ceilings per subgroup under stress scenarios (from a policy)",
    add_arguments=_add_arguments,
    run=_run,
)
