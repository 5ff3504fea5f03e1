"""The ``release-gates`` command table, declared as data.

Each command names its arguments and, as a ``"module:function"`` string, the function that runs it;
the parser imports that module only when the command is run. ``check`` is the exception: its
subcommands are derived from the check-kind registry (:data:`release_gates.kinds.CHECK_KINDS`),
one :class:`~release_gates.cli.common.CheckCommand` per kind under ``release_gates.cli.checks``.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any


class Arg:
    """One ``add_argument`` call, kept until a parser needs it."""

    def __init__(self, *flags: str, **kwargs: Any) -> None:
        self.flags = flags
        self.kwargs = kwargs

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(*self.flags, **self.kwargs)


@dataclass(frozen=True)
class ActionCommand:
    """A command that runs ``func`` (``"module:function"``, called with ``(args, out)``)."""

    name: str
    help: str
    func: str
    args: tuple[Arg, ...] = ()
    description: str | None = None
    #: Add ``--url``/``--conn-id`` (after ``args``): the command reads or writes the evidence store.
    store: bool = False


@dataclass(frozen=True)
class GroupCommand:
    """A command with subcommands (``release-gates evidence verify``)."""

    name: str
    help: str
    subcommands: tuple[ActionCommand, ...]


@dataclass(frozen=True)
class CheckGroupCommand:
    """``release-gates check <kind>``: one subcommand per registered check kind."""

    name: str
    help: str
    description: str


ARG_JSON = Arg("--json", action="store_true")
ARG_JSON_HELP = Arg("--json", action="store_true", help="machine-readable output")

POLICY = GroupCommand(
    name="policy",
    help="release policy files",
    subcommands=(
        ActionCommand(
            name="validate",
            help="validate a policy; every problem with file:line and field",
            func="release_gates.cli.policy:validate",
            args=(
                Arg("path"),
                Arg(
                    "--check-inputs",
                    action="store_true",
                    help="also pre-flight every input a release reads (files, pins, columns), as start does",
                ),
                Arg(
                    "--param",
                    action="append",
                    default=[],
                    metavar="NAME=VALUE",
                    help="run parameter for templated inputs, e.g. model_uri=model.skops (repeatable)",
                ),
                Arg(
                    "--datasets",
                    metavar="JSON",
                    help="the run's dataset overrides, as the trigger gives them",
                ),
                ARG_JSON_HELP,
            ),
        ),
        ActionCommand(
            name="reference",
            help="print the policy reference (Markdown): every field, type, default, example",
            func="release_gates.cli.policy:print_reference",
        ),
        ActionCommand(
            name="schema",
            help="print the policy's JSON Schema (for editors: yaml-language-server)",
            func="release_gates.cli.policy:print_policy_schema",
        ),
        ActionCommand(
            name="example",
            help="print the complete, commented example policy that ships with the package",
            func="release_gates.cli.policy:print_example",
        ),
    ),
)

INIT = ActionCommand(
    name="init",
    help="start a release policy, a DAG file and GX suites for your own model",
    description="Read your datasets' columns, propose label/prediction/sensitive columns, and write a "
    "commented policy that validates, a DAG file Airflow picks up, one starter Great Expectations suite "
    "per dataset and the policy's JSON Schema. Prompts on a terminal for what flags do not give; "
    "--yes never prompts.",
    func="release_gates.cli.init:run_init",
    args=(
        Arg("--dir", default=".", help="directory for the policy, gx/ and the schema (default: .)"),
        Arg("--model", help="model name, e.g. income-classifier"),
        Arg(
            "--dataset",
            action="append",
            default=[],
            metavar="NAME=PATH",
            help="a Parquet or CSV dataset (repeat; e.g. train=data/train.parquet eval=data/eval.parquet)",
        ),
        Arg("--eval-dataset", metavar="NAME", help="the dataset judged (default: eval, else the last)"),
        Arg("--label", help="ground-truth column (default: proposed from names and values)"),
        Arg("--prediction", help="the model's decision column (default: proposed)"),
        Arg("--score", help="the model's score column (default: proposed)"),
        Arg("--sensitive", metavar="COL[,COL]", help="sensitive columns (default: proposed by name)"),
        Arg(
            "--owner",
            action="append",
            default=[],
            metavar="ROLE=USER[,USER]",
            help="Airflow users of a role: data_owner, ethics_reviewer, release_manager (repeat)",
        ),
        Arg("--email", action="append", default=[], metavar="ROLE=ADDRESS", help="a role's e-mail (repeat)"),
        Arg("--data-team", help="owner of the datasets (default: the first role)"),
        Arg("--legal-basis", help="why the data may be used (lineage needs it documented)"),
        Arg(
            "--target",
            help="deployment target: none (default), lambda:FUNCTION:ALIAS, ecs:CLUSTER:SERVICE, "
            "sagemaker:ENDPOINT, s3_pointer:BUCKET/KEY",
        ),
        Arg("--model-file", help="a skops model file: its non-default types go into trusted_types"),
        Arg("--policy-name", default="release_policy.yaml", help="policy file name (default: %(default)s)"),
        Arg("--dags-dir", help="where the DAG file goes (default: DIR/dags)"),
        Arg("--yes", action="store_true", help="never prompt: take the proposals"),
        Arg("--force", action="store_true", help="overwrite an existing policy or DAG file"),
        ARG_JSON_HELP,
    ),
)

EVIDENCE = GroupCommand(
    name="evidence",
    help="the evidence trail",
    subcommands=(
        ActionCommand(
            name="verify",
            help="recompute a chain and name the first bad record",
            description="Exit 0 intact, 1 a break (the first one named, then the others), 2 no such chain. "
            "Signed checkpoints are checked against the trusted public keys: every --key file, the "
            "--policy file's evidence.signing.public_keys, and the public half of the signing "
            "connection when it exists here; with none, only their links are checked (the report says so).",
            func="release_gates.cli.evidence:verify",
            args=(
                Arg("release_id", nargs="?"),
                Arg("--bundle", help="verify an exported bundle offline instead of the store"),
                Arg(
                    "--key",
                    action="append",
                    default=[],
                    metavar="PUB",
                    help="trusted public key (PEM), repeatable",
                ),
                Arg("--policy", metavar="FILE", help="trust the public keys this policy lists"),
                ARG_JSON,
            ),
            store=True,
        ),
        ActionCommand(
            name="checkpoint",
            help="sign a chain's current head now, with the key of the signing connection",
            func="release_gates.cli.evidence:checkpoint",
            args=(
                Arg("release_id"),
                Arg(
                    "--signing-conn-id",
                    default="release_gates_signing",
                    help="Airflow connection with the key",
                ),
            ),
            store=True,
        ),
        ActionCommand(
            name="export",
            help="write a self-contained bundle that verifies offline",
            func="release_gates.cli.evidence:export",
            args=(
                Arg("release_id"),
                Arg("-o", "--output", required=True, help="file to write, or - for stdout"),
            ),
            store=True,
        ),
        ActionCommand(
            name="list",
            help="evidence chains, newest first, a page at a time",
            description="List evidence chains newest first: --limit per page, then --page N, or --before "
            "CURSOR (the cursor a page ends with: stays put while chains are added).",
            func="release_gates.cli.evidence:list_chains",
            args=(
                Arg("--limit", type=int, default=50, help="chains per page (1-500, default 50)"),
                Arg("--page", type=int, default=1, help="page number, 1 = newest"),
                Arg("--before", metavar="CURSOR", help="the page after the one this cursor ended"),
                ARG_JSON,
            ),
            store=True,
        ),
        ActionCommand(
            name="show",
            help="the records of one release",
            func="release_gates.cli.evidence:show",
            args=(Arg("release_id"), Arg("--kind", help="only records of this kind"), ARG_JSON),
            store=True,
        ),
        ActionCommand(
            name="replay",
            help="re-derive a sealed release's gate verdicts and decision with today's gate logic",
            description="Replay RELEASE_ID (from the store, or an exported --bundle offline, verified first) "
            "under the policy it recorded, or under --policy FILE, and compare each gate verdict and the "
            "decision with what was recorded. --all --policy FILE lists every sealed release whose decision "
            "that policy would change. Exit 0 same, 1 differences, 2 bad arguments, 4 no answer (no policy, "
            "broken chain, not sealed).",
            func="release_gates.cli.replay:run_replay",
            args=(
                Arg("release_id", nargs="?", help="release chain in the store (optional with --bundle)"),
                Arg("--bundle", help="replay an exported bundle offline instead of the store"),
                Arg("--policy", metavar="FILE", help="replay under this policy (default: its recorded one)"),
                Arg(
                    "--key",
                    action="append",
                    default=[],
                    metavar="PUB",
                    help="trusted public key (PEM), repeatable: the seal's signed checkpoint must hold (also "
                    "trusted: --policy's public keys, the signing connection's, as for `evidence verify`)",
                ),
                Arg("--all", action="store_true", help="every sealed release of --model (needs --policy)"),
                Arg("--model", help="with --all: the model whose releases to replay (default: the policy's)"),
                ARG_JSON_HELP,
            ),
            store=True,
        ),
        ActionCommand(
            name="migrate",
            help="create or upgrade the evidence schema",
            description="With --runtime-role (PostgreSQL, run as an administrator): the tables then belong "
            "to a NOLOGIN role release_gates_owner and ROLE may only INSERT and SELECT — no UPDATE, "
            "DELETE, TRUNCATE, ALTER or DROP TRIGGER. Airflow's workers connect as ROLE.",
            func="release_gates.cli.evidence:migrate",
            args=(Arg("--runtime-role", metavar="ROLE", help="PostgreSQL role the workers connect as"),),
            store=True,
        ),
        ActionCommand(
            name="keygen",
            help="write a new Ed25519 signing key pair (signing.key 0600, signing.pub)",
            func="release_gates.cli.keys:keygen",
            args=(
                Arg("--out", required=True, metavar="DIR", help="directory for signing.key and signing.pub"),
                Arg("--force", action="store_true", help="replace an existing key pair in DIR"),
            ),
        ),
    ),
)

ATTEST = GroupCommand(
    name="attest",
    help="signed release attestations (in-toto Statement in a DSSE envelope)",
    subcommands=(
        ActionCommand(
            name="verify",
            help="check an attestation's signature and, with --bundle, every statement against the evidence",
            description="Trusted keys: every --key file and the --policy file's "
            "evidence.signing.public_keys (key id → PEM). Exit 0 verified, 1 not verified (the first "
            "problem is named), 2 no trusted key, or a file or key cannot be read.",
            func="release_gates.cli.attest:verify",
            args=(
                Arg("file", help="the attestation (attestation.intoto.json, written by the seal step)"),
                Arg(
                    "--key",
                    action="append",
                    default=[],
                    metavar="PUB",
                    help="trusted public key PEM file (repeat for rotated keys)",
                ),
                Arg("--policy", metavar="FILE", help="trust its evidence.signing.public_keys"),
                Arg("--bundle", help="exported evidence bundle (release-gates evidence export)"),
                ARG_JSON_HELP,
            ),
        ),
    ),
)

RESULT = GroupCommand(
    name="result",
    help="stored CheckResult files",
    subcommands=(
        ActionCommand(
            name="show",
            help="print a CheckResult JSON file; exit with its status code",
            func="release_gates.cli.result:show",
            args=(Arg("path"), ARG_JSON),
        ),
    ),
)

SCHEMA = ActionCommand(
    name="schema",
    help="print the CheckResult JSON Schema",
    func="release_gates.cli.schema:print_schema",
)

REPORT = ActionCommand(
    name="report",
    help="release report from the evidence trail: summary, heat map, charts, checklist, model card",
    description="Write the release report of RELEASE_ID (from the evidence store) or of an exported "
    "bundle (offline, verified first) to a directory.",
    func="release_gates.cli.report:run_report",
    args=(
        Arg("release_id", nargs="?", help="release chain in the store (optional with --bundle)"),
        Arg("--bundle", help="exported evidence bundle (release-gates evidence export)"),
        Arg("-o", "--output", help="directory for the files (default: ./report-<release id>)"),
        Arg(
            "--policy",
            help="policy file for the checklist when the trail holds no policy snapshot "
            "(refused unless its sha256 equals the one the release recorded)",
        ),
        Arg("--history", type=int, default=10, help="earlier releases to compare (default 10)"),
        Arg("--no-charts", action="store_true", help="text files only (no matplotlib)"),
        Arg("--json", action="store_true", help="print the written files as JSON"),
    ),
    store=True,
)

RETRO = ActionCommand(
    name="retro",
    help="learning loop: how each check fared across releases and production monitoring",
    func="release_gates.cli.retro:run_retro",
    args=(
        Arg("--model", help="only this model (default: every model in the store)"),
        Arg("--since", help="only evidence from this date on (YYYY-MM-DD)"),
        ARG_JSON_HELP,
    ),
    store=True,
)

POOLS = ActionCommand(
    name="pools",
    help="the one-slot Airflow pools of the policy's deployment targets (list, or --create)",
    description="Drills, promotion and rollback of a target queue in its pool; Airflow never schedules a "
    "task whose pool is missing. Run with --create where Airflow's metadata database is reachable (the "
    "scheduler's host, an init container) after adding or changing a deployment target.",
    func="release_gates.cli.pools:run_pools",
    args=(
        Arg("policy", help="release policy file"),
        Arg("--create", action="store_true", help="create the missing pools (one slot each)"),
        ARG_JSON_HELP,
    ),
)

TRIVY_DB = GroupCommand(
    name="trivy-db",
    help="an offline Trivy vulnerability DB for air-gapped workers",
    subcommands=(
        ActionCommand(
            name="import",
            help="unpack a Trivy DB archive (db.tar.gz: trivy.db + metadata.json) into CACHE_DIR/db",
            func="release_gates.cli.trivy_db:import_db",
            args=(
                Arg(
                    "archive",
                    help="the DB archive copied in (from the OCI artifact ghcr.io/aquasecurity/trivy-db)",
                ),
                Arg("--cache-dir", required=True, help="Trivy cache directory (the connection's cache_dir)"),
                ARG_JSON_HELP,
            ),
        ),
        ActionCommand(
            name="build",
            help="build the tiny demo DB (a few advisories) into CACHE_DIR/db; needs the boltdb package",
            func="release_gates.cli.trivy_db:build_db",
            args=(Arg("--cache-dir", required=True, help="Trivy cache directory"), ARG_JSON_HELP),
        ),
        ActionCommand(
            name="show",
            help="what Trivy will use from CACHE_DIR: DB schema version, age, next update",
            func="release_gates.cli.trivy_db:show_db",
            args=(Arg("--cache-dir", required=True, help="Trivy cache directory"), ARG_JSON_HELP),
        ),
    ),
)

CHECK = CheckGroupCommand(
    name="check",
    help="run one check outside Airflow",
    description="Run one check and exit with its status code.",
)

#: Every top-level command, in the order ``release-gates --help`` lists them.
COMMANDS: tuple[ActionCommand | GroupCommand | CheckGroupCommand, ...] = (
    INIT,
    POLICY,
    EVIDENCE,
    ATTEST,
    RESULT,
    SCHEMA,
    REPORT,
    RETRO,
    POOLS,
    TRIVY_DB,
    CHECK,
)

#: What the check runner (``func`` of every ``check <kind>``) is.
RUN_CHECK = "release_gates.cli.check:run_check"
