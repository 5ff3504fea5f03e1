"""With ``--json``, stdout holds only the JSON, for every command that has the flag (issue 16).

The parser is walked (the command table and the check-kind registry): every subcommand with
``--json`` must have an entry below, so a new one cannot ship unparsed. Each runs in its own process
with real inputs — files, a real Trivy scan, the moto server, an Airflow metadata DB — and its stdout
must be one JSON document; logs (Airflow's, the hooks') go to stderr.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from release_gates.cli import build_parser
from release_gates.hooks.aws import AwsDeploymentHook
from release_gates_testing.airflow import AirflowEnv
from tests.integration.aws_test_support import make_lambda, unique

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "trivy"


def json_commands() -> set[str]:
    """Every leaf command of ``release-gates`` that takes ``--json``, as ``"check fairness"``."""
    found: set[str] = set()

    def walk(parser: argparse.ArgumentParser, path: tuple[str, ...]) -> None:
        subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subparsers:
            if any("--json" in action.option_strings for action in parser._actions):
                found.add(" ".join(path))
            return
        for name, child in subparsers[0].choices.items():
            walk(child, (*path, name))

    walk(build_parser(), ())
    return found


POLICY = """\
policy_version: 1
release: {{model: json-model}}
owners:
  ethics_reviewer: {{users: [aisha]}}
datasets:
  eval: {{uri: eval.parquet, owner: t, description: d, legal_basis: l, label: y, prediction: p,
         label_values: [0, 1]}}
gates:
  - id: ethics
    owner: ethics_reviewer
    rationale: The model is robust across groups.
    checks:
      - kind: stress_safety
        data: eval
        model: {{uri: model.skops, sha256: "{sha256}", trusted_types: [numpy.dtype]}}
        sensitive_features: [g]
        ceiling: 0.9
        scenarios: [{{name: noise, kind: gaussian_noise, columns: [x1], relative_std: 0.1}}]
approvals:
  release: {{roles: [ethics_reviewer], timeout: 1h}}
"""


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"g": ["a", "b"] * 200, "x1": rng.normal(size=400)})
    frame["y"] = (frame["x1"] + rng.normal(scale=0.5, size=400) > 0).astype(int)
    model = LogisticRegression().fit(frame[["x1"]], frame["y"])
    frame["p"] = model.predict(frame[["x1"]])
    frame.to_parquet(tmp_path / "eval.parquet", index=False)
    sio.dump(model, tmp_path / "model.skops")
    digest = hashlib.sha256((tmp_path / "model.skops").read_bytes()).hexdigest()
    (tmp_path / "policy.yaml").write_text(POLICY.format(sha256=digest))
    return tmp_path


@pytest.fixture(scope="module")
def trivy_binary() -> Path:
    from release_gates.exceptions import TrivyError
    from release_gates.hooks.trivy import TrivyHook

    try:
        return TrivyHook(None).find_binary()
    except TrivyError as exc:
        pytest.skip(f"real trivy binary not installed ({exc})")


def _signed_model(workdir: Path) -> list[str]:
    """``model.skops`` signed here with a new ECDSA key, in model_signing's older bundle format (no key
    hint), for which the library prints a warning: the case that would put text before the JSON."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from model_signing import signing

    key = ec.generate_private_key(ec.SECP256R1())
    (workdir / "signer.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    (workdir / "signer.pub").write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    model, signature = workdir / "model.skops", workdir / "model.skops.sig"
    signing.Config().use_elliptic_key_signer(private_key=workdir / "signer.key").sign(model, signature)
    bundle = json.loads(signature.read_text())
    del bundle["verificationMaterial"]["publicKey"]["hint"]
    signature.write_text(json.dumps(bundle))
    sha = hashlib.sha256(model.read_bytes()).hexdigest()
    return ["--model", str(model), "--model-sha256", sha, "--public-key", str(workdir / "signer.pub")]


# A policy of its own (explain.yaml): the columns it reads would count as used by the minimization check.
EXPLAIN_GATE = """  - id: explain
    owner: ethics_reviewer
    rationale: What drives the decisions.
    checks:
      - kind: explainability
        data: eval
        sensitive_features: [g]
        n_repeats: 2
        top_k: 2
        scenarios: []
"""


def _governance_policy(workdir: Path) -> str:
    """A policy whose candidate is ``model.skops`` with a data minimization and a documents check."""
    (workdir / "runbook.md").write_text("# Runbook\n")
    model_sha = hashlib.sha256((workdir / "model.skops").read_bytes()).hexdigest()
    runbook_sha = hashlib.sha256((workdir / "runbook.md").read_bytes()).hexdigest()
    (workdir / "governance.yaml").write_text(
        POLICY.format(sha256=model_sha).split("gates:")[0]
        + f"""candidate: {{uri: model.skops, sha256: "{model_sha}", trusted_types: [numpy.dtype]}}
gates:
  - id: governance
    owner: ethics_reviewer
    rationale: Only what has a purpose; documents current.
    checks:
      - kind: data_minimization
        allowed_features: {{x1: "the signal"}}
        data: eval
      - kind: documents
        documents: {{runbook: {{owner: ethics_reviewer, location: runbook.md, sha256: "{runbook_sha}",
                                max_age: 30d}}}}
"""
    )
    head = POLICY.format(sha256=model_sha).split("gates:")[0]
    candidate = f'candidate: {{uri: model.skops, sha256: "{model_sha}", trusted_types: [numpy.dtype]}}\n'
    (workdir / "explain.yaml").write_text(head + candidate + "gates:\n" + EXPLAIN_GATE)
    return str(workdir / "governance.yaml")


@pytest.fixture
def lambda_function(aws_connection: str) -> Iterator[str]:
    yield make_lambda(AwsDeploymentHook(aws_connection).get_client, versions=2)


def _attestation_signed_by_another_key(workdir: Path) -> list[str]:
    """A well-formed signed attestation and a public key that did not sign it (exit 1)."""
    from release_gates.evidence.attestation import envelope_bytes, sign_statement
    from release_gates.evidence.signing import SigningKey
    from release_gates.evidence.statement import PREDICATE_FIELDS, PREDICATE_TYPE, STATEMENT_TYPE

    statement = {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": "model.skops", "digest": {"sha256": "a" * 64}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": dict.fromkeys(PREDICATE_FIELDS, ""),
    }
    (workdir / "attestation.intoto.json").write_bytes(
        envelope_bytes(sign_statement(statement, SigningKey.generate()))
    )
    (workdir / "other.pub").write_text(SigningKey.generate().public_pem)
    return [str(workdir / "attestation.intoto.json"), "--key", str(workdir / "other.pub")]


def _run(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> dict[str, object] | list[object]:
    proc = subprocess.run(
        [sys.executable, "-m", "release_gates.cli", *argv],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode in (0, 1, 3, 4), f"{argv}: exit {proc.returncode}\n{proc.stderr[-2000:]}"
    try:
        parsed: dict[str, object] | list[object] = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        pytest.fail(f"{' '.join(argv[:2])}: stdout is not one JSON document ({exc}):\n{proc.stdout[:1500]}")
    return parsed


def test_every_json_command_prints_only_json(
    workdir: Path, lambda_function: str, airflow_home: AirflowEnv, trivy_binary: Path
) -> None:
    store = ["--url", f"sqlite:///{workdir / 'evidence.db'}"]
    eval_file = str(workdir / "eval.parquet")
    policy = str(workdir / "policy.yaml")
    governance = _governance_policy(workdir)
    bucket = unique("json")
    AwsDeploymentHook("aws_default").get_client("s3").create_bucket(Bucket=bucket)
    target = ["--type", "lambda", "--name", lambda_function, "--alias", "live"]
    trivy = ["--trivy", str(trivy_binary), "--cache-dir", str(workdir / "trivy-cache")]
    fairness = [
        "check",
        "fairness",
        eval_file,
        "--label",
        "y",
        "--prediction",
        "p",
        "--sensitive",
        "g",
        "--criterion",
        "selection_rate:ratio_min=0.8",
    ]
    commands: dict[str, list[list[str]]] = {
        # Recorded first: the evidence, report and retro commands read this release.
        "check fairness": [[*fairness, "--record", "rel-json", *store, "--json"]],
        "check drift": [["check", "drift", "--reference", eval_file, "--current", eval_file, "--json"]],
        "check lineage": [
            ["check", "lineage", "--dataset", f"eval={eval_file}", "--owner", "eval=t", "--json"]
        ],
        "check stress-safety": [["check", "stress-safety", "--policy", policy, "--gate", "ethics", "--json"]],
        "check image-scan": [
            # Trivy's hook logs while it scans: the case that used to put log lines before the JSON.
            [
                "check",
                "image-scan",
                str(REPO / "include" / "demo" / "image"),
                "--target",
                "filesystem",
                "--scanners",
                "misconfig",
                *trivy,
                "--skip-db-update",
                "--offline-scan",
                "--artifacts-dir",
                str(workdir / "a"),
                "--json",
            ],
            [
                "check",
                "image-scan",
                str(FIXTURES / "alpine-39.json"),
                "--target",
                "report",
                "--artifacts-dir",
                str(workdir / "a"),
                "--json",
            ],
        ],
        "check rollback-drill": [["check", "rollback-drill", *target, "--dry-run", "--json"]],
        "check ops-readiness": [["check", "ops-readiness", *target, "--image", "scorer:latest", "--json"]],
        "check posture": [["check", "posture", "--bucket", bucket, "--json"]],
        "check deployment-identity": [
            [
                "check",
                "deployment-identity",
                *target,
                "--version",
                "1",
                "--compare",
                "model",
                "--model-sha256",
                "0" * 64,
                "--json",
            ]
        ],
        "check model-signature": [["check", "model-signature", *_signed_model(workdir), "--json"]],
        "check data-minimization": [
            ["check", "data-minimization", "--policy", governance, "--gate", "governance", "--json"]
        ],
        "check explainability": [
            [
                "check",
                "explainability",
                "--policy",
                str(workdir / "explain.yaml"),
                "--gate",
                "explain",
                "--json",
            ]
        ],
        "check documents": [
            ["check", "documents", "--policy", governance, "--gate", "governance", *store, "--json"]
        ],
        "evidence verify": [["evidence", "verify", "rel-json", *store, "--json"]],
        "evidence list": [["evidence", "list", *store, "--json"]],
        "evidence show": [["evidence", "show", "rel-json", *store, "--json"]],
        # Not sealed: replay has no answer (exit 4), and says so in JSON.
        "evidence replay": [["evidence", "replay", "rel-json", *store, "--json"]],
        "attest verify": [["attest", "verify", *_attestation_signed_by_another_key(workdir), "--json"]],
        "report": [["report", "rel-json", *store, "--no-charts", "-o", str(workdir / "report"), "--json"]],
        "retro": [["retro", *store, "--json"]],
        "policy validate": [["policy", "validate", policy, "--check-inputs", "--json"]],
        "trivy-db build": [["trivy-db", "build", "--cache-dir", str(workdir / "built"), "--json"]],
        "trivy-db show": [["trivy-db", "show", "--cache-dir", str(workdir / "built"), "--json"]],
        "trivy-db import": [
            [
                "trivy-db",
                "import",
                str(workdir / "db.tar.gz"),
                "--cache-dir",
                str(workdir / "imported"),
                "--json",
            ]
        ],
        "init": [
            [
                "init",
                "--dir",
                str(workdir / "team"),
                "--yes",
                "--model",
                "json-model",
                "--dataset",
                f"eval={eval_file}",
                "--owner",
                "data_owner=tomas",
                "--owner",
                "ethics_reviewer=aisha",
                "--owner",
                "release_manager=admin",
                "--json",
            ]
        ],
    }
    later: dict[str, list[list[str]]] = {
        "result show": [["result", "show", str(workdir / "result.json"), "--json"]],
        "pools": [["pools", policy, "--json"]],
    }
    assert json_commands() == set(commands) | set(later), "a --json command without a test entry here"

    outputs: dict[str, object] = {}
    for name, runs in commands.items():
        for argv in runs:
            outputs[name] = _run(argv, cwd=REPO)
        if name == "trivy-db build":
            import tarfile

            with tarfile.open(workdir / "db.tar.gz", "w:gz") as tar:
                for member in ("trivy.db", "metadata.json"):
                    tar.add(workdir / "built" / "db" / member, arcname=member)
    (workdir / "result.json").write_text(json.dumps(outputs["check fairness"]))
    outputs["result show"] = _run(later["result show"][0], cwd=REPO)
    outputs["pools"] = _run(later["pools"][0], cwd=REPO, env=airflow_home.env)

    assert outputs["check fairness"]["check_id"] == "fairness"  # type: ignore[index,call-overload]
    assert outputs["check model-signature"]["status"] == "PASS"  # type: ignore[index,call-overload]
    assert outputs["check data-minimization"]["status"] == "WARN"  # type: ignore[index,call-overload]
    assert outputs["check documents"]["status"] == "FAIL"  # type: ignore[index,call-overload]
    assert outputs["check explainability"]["check_id"]  # type: ignore[index,call-overload]
    assert outputs["trivy-db import"]["usable"] is True  # type: ignore[index,call-overload]
    assert outputs["policy validate"]["inputs"] == {"usable": True, "problems": []}  # type: ignore[index,call-overload]
    assert outputs["evidence list"]["chains"] and "next_before" in outputs["evidence list"]  # type: ignore[index,operator]
    assert "error" in outputs["evidence replay"]  # type: ignore[operator]
    assert outputs["attest verify"]["ok"] is False  # type: ignore[index,call-overload]
