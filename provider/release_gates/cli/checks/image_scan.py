"""``release-gates check image-scan TARGET`` — the image scan gate outside Airflow.

Examples::

    release-gates check image-scan registry.example.org/model@sha256:… --max CRITICAL=0 --max HIGH=5
    release-gates check image-scan image.tar --target tarball --policy release_policy.yaml --gate security
    release-gates check image-scan trivy-report.json --target report --fixable-only --json

With ``--policy`` and ``--gate`` the gate's image_scan check supplies the target, thresholds and waivers
(the policy's own waivers included); TARGET (or ``--image``) and the flags given override it. The
policy's target, when it is a relative path, resolves against the policy file's directory, as in the
DAG; a TARGET typed on the command line is relative to the working directory. A templated target
(``{{ params.image }}``) needs TARGET or ``--image``. Gating a ``report`` runs no
scanner. Exit codes as for every check: 0 PASS/WARN, 1 FAIL, 2 usage, 3 INCONCLUSIVE, 4 ERROR.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from release_gates.cli.common import CheckCommand, UsageError

if TYPE_CHECKING:
    from release_gates.policy import ImageScanCheck, ReleasePolicy, Waiver
    from release_gates.results import CheckResult

_TARGETS = ("image", "tarball", "filesystem", "sbom", "report")
_SCANNERS = ("vuln", "secret", "misconfig", "license")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "target_ref",
        metavar="TARGET",
        nargs="?",
        help="image reference, or path of the target (default with --policy: the policy's)",
    )
    parser.add_argument(
        "--image", dest="image_ref", help="the same as TARGET (for a templated policy target)"
    )
    parser.add_argument(
        "--target", choices=_TARGETS, help="what TARGET is (default: the policy's, else image)"
    )
    parser.add_argument("--policy", help="release policy file to take the check from")
    parser.add_argument("--gate", help="gate of the policy whose image_scan check to run")
    parser.add_argument("--check", help="check id within the gate, when it has several image_scan checks")
    parser.add_argument(
        "--max",
        action="append",
        default=[],
        metavar="SEVERITY=N",
        help="most vulnerabilities allowed at a severity (repeatable; default CRITICAL=0)",
    )
    parser.add_argument("--fixable-only", action="store_true", help="count only vulnerabilities with a fix")
    parser.add_argument("--scanners", help=f"comma-separated, from {','.join(_SCANNERS)}")
    parser.add_argument(
        "--artifacts-dir",
        default="release-gates-artifacts",
        help="where the redacted Trivy report and the SBOM are written (default: %(default)s)",
    )
    trivy = parser.add_argument_group("trivy (override the trivy_default connection's settings)")
    trivy.add_argument("--trivy", dest="trivy_binary", help="path of the trivy binary")
    trivy.add_argument("--cache-dir", help="trivy cache directory (holds db/trivy.db)")
    trivy.add_argument("--skip-db-update", action="store_true", default=None, help="download nothing")
    trivy.add_argument("--offline-scan", action="store_true", default=None, help="no API requests")
    trivy.add_argument("--db-repository", help="OCI mirror of the vulnerability DB")
    trivy.add_argument("--timeout", help="scan timeout, e.g. 10m")


def run(args: argparse.Namespace) -> CheckResult:
    from release_gates.inputs.image_scan import run_image_scan_check

    policy, spec, check_id = _spec(args)
    args.check_id = check_id
    scanner = None
    if spec.target != "report":
        from release_gates.hooks.trivy import TrivyHook

        scanner = TrivyHook(
            binary=args.trivy_binary,
            cache_dir=args.cache_dir,
            skip_db_update=args.skip_db_update,
            offline_scan=args.offline_scan,
            db_repository=args.db_repository,
        )
    waivers: list[Waiver] = list(policy.waivers) if policy is not None else []
    return run_image_scan_check(
        spec,
        check_id=check_id,
        scanner=scanner,
        artifacts_dir=Path(args.artifacts_dir),
        policy_waivers=waivers,
    )


def _spec(args: argparse.Namespace) -> tuple[ReleasePolicy | None, ImageScanCheck, str]:
    from pydantic import ValidationError

    from release_gates.policy import ImageScanCheck

    policy, base, check_id = _from_policy(args) if args.policy else (None, {}, "image_scan")
    raw: dict[str, Any] = {**base, "kind": "image_scan", "image": _target(args, policy, base)}
    if args.target:
        raw["target"] = args.target
    if args.max:
        raw["max_findings"] = {**raw.get("max_findings", {"CRITICAL": 0}), **_thresholds(args.max)}
    if args.fixable_only:
        raw["fixable_only"] = True
    if args.scanners:
        raw["scanners"] = [s.strip() for s in args.scanners.split(",") if s.strip()]
    if args.timeout:
        raw["timeout"] = args.timeout
    try:
        spec = ImageScanCheck.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors(include_url=False)
        )
        raise UsageError(f"invalid image scan settings: {problems}") from None
    if spec.target != "image" and not Path(spec.image).exists():
        raise UsageError(f"{spec.target} target not found: {spec.image}")
    return policy, spec, check_id


def _target(args: argparse.Namespace, policy: ReleasePolicy | None, base: dict[str, Any]) -> str:
    """TARGET or ``--image`` as typed; else the policy's target, a relative path resolved against the
    policy file's directory (what the DAG scans)."""
    from release_gates.inputs.image_scan import PATH_TARGETS
    from release_gates.policy import is_templated

    if args.target_ref and args.image_ref and args.target_ref != args.image_ref:
        raise UsageError("give the target once: TARGET or --image")
    typed: str | None = args.target_ref or args.image_ref
    if typed:
        return typed
    if policy is None:
        raise UsageError("TARGET is required without --policy (an image reference or a path)")
    image = str(base.get("image", ""))
    if is_templated(image):
        raise UsageError(
            f"the policy's image target {image!r} is templated: give the value as TARGET or --image"
        )
    kind = args.target or base.get("target", "image")
    path = Path(image).expanduser()
    if kind in PATH_TARGETS and not path.is_absolute() and not image.startswith("-"):
        return str(policy.base_dir / path)
    return image


def _from_policy(args: argparse.Namespace) -> tuple[ReleasePolicy, dict[str, Any], str]:
    from release_gates.policy import ImageScanCheck, PolicyError, load_policy

    if not args.gate:
        raise UsageError("--policy needs --gate (the gate whose image_scan check to run)")
    if not Path(args.policy).is_file():
        raise UsageError(f"policy file not found: {args.policy}")
    try:
        policy = load_policy(args.policy)
        gate = policy.gate(args.gate)
    except (PolicyError, KeyError) as exc:
        raise UsageError(str(exc.args[0]) if isinstance(exc, KeyError) else str(exc)) from None
    checks = [c for c in gate.checks if isinstance(c, ImageScanCheck)]
    if args.check:
        checks = [c for c in checks if c.check_name == args.check]
    if len(checks) != 1:
        names = ", ".join(c.check_name for c in gate.checks if isinstance(c, ImageScanCheck)) or "none"
        raise UsageError(
            f"gate {args.gate!r} needs exactly one image_scan check (found: {names}); use --check"
        )
    check = checks[0]
    return policy, check.model_dump(mode="json", exclude_none=True), f"{gate.id}.{check.check_name}"


def _thresholds(values: list[str]) -> dict[str, int]:
    from release_gates.results import Severity

    parsed: dict[str, int] = {}
    for value in values:
        name, sep, count = value.partition("=")
        severity = name.strip().upper()
        if not sep or severity not in Severity.__members__ or not count.strip().isdigit():
            raise UsageError(f"--max {value!r}: expected SEVERITY=N, e.g. CRITICAL=0 or HIGH=5")
        parsed[severity] = int(count)
    return parsed


COMMAND = CheckCommand(
    name="image-scan",
    help="scan a container image (or tarball, filesystem, SBOM, Trivy report) with Trivy and gate it",
    add_arguments=add_arguments,
    run=run,
)
