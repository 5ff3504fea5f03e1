"""``release-gates init``: a release policy, a DAG file and starter GX suites for your own model.

Asks for what it cannot read from the data (or takes it from flags; ``--yes`` never prompts), reads
the datasets' columns and proposes the label, prediction, score and sensitive columns, then writes a
commented policy that validates, a DAG file Airflow's safe mode parses, one suite per dataset and
the policy's JSON Schema, and prints the next three commands.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Any, TextIO

from release_gates.cli.common import EXIT_FAIL, EXIT_OK, UsageError
from release_gates.cli.scaffold import Plan, dag_text, gx_suite, policy_text, propose_columns

#: Owner roles init asks for: who owns the data gate, who reviews ethics, who signs off the release.
ROLES = ("data_owner", "ethics_reviewer", "release_manager")
TARGET_TYPES = {"lambda": ("name", "alias"), "ecs": ("cluster", "name"), "sagemaker": ("name",),
                "s3_pointer": ("name",)}  # fmt: skip


def run_init(args: argparse.Namespace, out: TextIO) -> int:
    from release_gates.cli.scaffold import read_dataset
    from release_gates.policy import PolicyError, load_policy
    from release_gates.policy.reference import policy_json_schema

    ask = _Asker(enabled=not args.yes and sys.stdin.isatty(), out=sys.stderr)
    directory = Path(args.dir)
    model = args.model or ask.text("Model name", None)
    if not model:
        raise UsageError("give the model name: --model NAME")
    datasets = [_dataset_arg(item) for item in args.dataset] or _ask_datasets(ask)
    if not datasets:
        raise UsageError("give at least one dataset: --dataset NAME=PATH (Parquet or CSV)")
    infos = [read_dataset(name, path) for name, path in datasets]
    judged = args.eval_dataset or (infos[-1].name if "eval" not in dict(datasets) else "eval")
    if judged not in dict(datasets):
        raise UsageError(
            f"--eval-dataset {judged!r} is not one of the datasets ({', '.join(dict(datasets))})"
        )
    proposed = propose_columns(next(i for i in infos if i.name == judged))
    plan = Plan(
        model=model,
        directory=directory,
        datasets=infos,
        owners=_owners(args, ask),
        emails=dict(_pair(item, "--email") for item in args.email),
        judged=judged,
        label=args.label or ask.text("Label column (ground truth)", proposed["label"]),
        prediction=args.prediction
        or ask.text("Prediction column (the model's decision)", proposed["prediction"]),
        score=args.score or ask.text("Score column (optional)", proposed["score"]),
        sensitive=_sensitive(args, ask, proposed["sensitive"]),
        target=_target(args.target or ask.text("Deployment target (none, lambda:FUNCTION:ALIAS, …)", "none")),
        legal_basis=args.legal_basis or ask.text("Legal basis of the data", None),
        data_team=args.data_team,
        trusted_types=_trusted_types(args.model_file),
    )
    written = _write(plan, args, policy_json_schema())
    try:
        load_policy(written["policy"])
    except PolicyError as exc:  # a bug of ours or answers the policy language refuses: say which
        print(str(exc), file=sys.stderr)
        return EXIT_FAIL
    commands = _next_commands(plan, written)
    if args.json:
        proposals = {"label": plan.label, "prediction": plan.prediction, "score": plan.score,
                     "sensitive": plan.sensitive, "proposed": proposed}  # fmt: skip
        files = {kind: str(path) for kind, path in written.items() if kind != "suites"}
        files_json: dict[str, Any] = {**files, "suites": {k: str(v) for k, v in written["suites"].items()}}
        print(json.dumps({"files": files_json, "columns": proposals, "next": commands}, indent=2), file=out)
        return EXIT_OK
    for kind, path in written.items():
        if kind == "suites":
            for name, suite in path.items():
                print(f"wrote {suite}  (starter expectations of {name})", file=out)
        else:
            print(f"wrote {path}", file=out)
    print("\nNext:", file=out)
    for command in commands:
        print(f"  {command}", file=out)
    return EXIT_OK


def _write(plan: Plan, args: argparse.Namespace, schema: dict[str, Any]) -> dict[str, Any]:
    directory = plan.directory
    policy_path = directory / args.policy_name
    dags_dir = Path(args.dags_dir) if args.dags_dir else directory / "dags"
    dag_path = dags_dir / f"{plan.dag_id}.py"
    existing = [p for p in (policy_path, dag_path) if p.exists()]
    if existing and not args.force:
        raise UsageError(f"{', '.join(map(str, existing))} exists; pass --force to overwrite")
    directory.mkdir(parents=True, exist_ok=True)
    suites: dict[str, Path] = {}
    relative_suites: dict[str, str] = {}
    skip = tuple(c for c in (plan.prediction, plan.score) if c)
    for info in plan.datasets:
        path = directory / "gx" / f"{info.name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(gx_suite(info, skip=skip), indent=2) + "\n", encoding="utf-8")
        suites[info.name] = path
        relative_suites[info.name] = f"gx/{info.name}.json"
    policy_path.write_text(policy_text(plan, policy_dir=directory, suites=relative_suites), encoding="utf-8")
    schema_path = directory / "release-policy.schema.json"
    schema_path.write_text(json.dumps(schema, indent=2) + "\n", encoding="utf-8")
    dags_dir.mkdir(parents=True, exist_ok=True)
    dag_path.write_text(dag_text(plan, policy_path, dag_path), encoding="utf-8")
    return {"policy": policy_path, "dag": dag_path, "schema": schema_path, "suites": suites}


def _next_commands(plan: Plan, written: dict[str, Any]) -> list[str]:
    policy = shlex.quote(str(written["policy"]))
    conf = {"model_version": "1", "model_uri": "MODEL.skops", "model_sha256": "SHA256"}
    check = (
        f"release-gates check fairness --policy {policy} --gate ethics "
        "--model MODEL.skops --model-sha256 SHA256"
        if plan.label and plan.prediction and plan.sensitive
        else f"release-gates check lineage --policy {policy} --gate data"
    )
    return [
        f"release-gates policy validate {policy}",
        check,
        f"airflow dags trigger {plan.dag_id} --conf {shlex.quote(json.dumps(conf))}"
        f"   # with {written['dag']} in your dags folder",
    ]


class _Asker:
    """Prompts on a terminal; without one (or with --yes) every question takes its proposal."""

    def __init__(self, *, enabled: bool, out: TextIO) -> None:
        self.enabled = enabled
        self.out = out

    def text(self, question: str, proposal: str | None) -> str | None:
        if not self.enabled:
            return proposal
        shown = f" [{proposal}]" if proposal else ""
        print(f"{question}{shown}: ", end="", file=self.out, flush=True)
        answer = sys.stdin.readline().strip()
        return answer or proposal


def _ask_datasets(ask: _Asker) -> list[tuple[str, Path]]:
    found = []
    while ask.enabled:
        answer = ask.text(
            "Dataset NAME=PATH (empty line when done; the last one is the evaluation data)", None
        )
        if not answer:
            break
        found.append(_dataset_arg(answer))
    return found


def _dataset_arg(item: str) -> tuple[str, Path]:
    name, path = _pair(item, "--dataset")
    if not Path(path).is_file():
        raise UsageError(f"--dataset {name}: no such file: {path}")
    return name, Path(path)


def _pair(item: str, flag: str) -> tuple[str, str]:
    name, sep, value = item.partition("=")
    if not sep or not name or not value:
        raise UsageError(f"{flag} takes NAME=VALUE, got {item!r}")
    return name.strip(), value.strip()


def _owners(args: argparse.Namespace, ask: _Asker) -> dict[str, list[str]]:
    owners = {name: [u.strip() for u in users.split(",") if u.strip()] for name, users in
              (_pair(item, "--owner") for item in args.owner)}  # fmt: skip
    for role in ROLES:
        if role not in owners:
            answer = ask.text(f"Airflow users of role {role} (comma-separated)", None)
            if answer:
                owners[role] = [u.strip() for u in answer.split(",") if u.strip()]
    missing = [role for role in ROLES if not owners.get(role)]
    if missing and not (owners and args.yes and len(owners) >= 2):
        raise UsageError("give the owners: " + " ".join(f"--owner {role}=USER[,USER]" for role in missing))
    return owners


def _sensitive(args: argparse.Namespace, ask: _Asker, proposed: list[str]) -> list[str]:
    if args.sensitive:
        return [c.strip() for c in args.sensitive.split(",") if c.strip()]
    answer = ask.text("Sensitive columns (comma-separated)", ",".join(proposed) or None)
    return [c.strip() for c in (answer or "").split(",") if c.strip()]


def _target(text: str | None) -> dict[str, str] | None:
    """``none``, ``lambda:FUNCTION:ALIAS``, ``ecs:CLUSTER:SERVICE``, ``sagemaker:ENDPOINT`` or
    ``s3_pointer:BUCKET/KEY`` → the policy's ``deployment.target``."""
    if not text or text == "none":
        return None
    kind, *parts = text.split(":")
    if kind not in TARGET_TYPES or len(parts) != len(TARGET_TYPES[kind]):
        raise UsageError(
            f"--target {text!r}: use none, lambda:FUNCTION:ALIAS, ecs:CLUSTER:SERVICE, sagemaker:ENDPOINT "
            "or s3_pointer:BUCKET/KEY"
        )
    return {"type": kind, **dict(zip(TARGET_TYPES[kind], parts, strict=True))}


def _trusted_types(model_file: str | None) -> list[str]:
    """The non-default types a skops model file holds (the policy must trust them to load it)."""
    if not model_file:
        return []
    try:
        import skops.io as sio
    except ImportError as exc:
        raise UsageError(
            "--model-file needs skops: pip install 'airflow-provider-release-gates[safety]'"
        ) from exc
    path = Path(model_file)
    if not path.is_file():
        raise UsageError(f"--model-file: no such file: {path}")
    types: list[str] = sio.get_untrusted_types(data=path.read_bytes())
    return sorted(types)
