from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from release_gates import cli
from release_gates.evidence import EvidenceStore
from release_gates.results import CheckResult, Status

REPO = Path(__file__).resolve().parents[2]


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = cli.main(list(argv), out=out)
    return code, out.getvalue()


def test_valid_policy_exits_0_and_lists_gates() -> None:
    code, out = run("policy", "validate", str(REPO / "include/release_policy.yaml"))
    assert code == 0
    assert "valid release policy for mortgage-approval" in out
    assert "gate ethics" in out and "fairness" in out


def test_invalid_policy_exits_1_with_file_line_and_field(tmp_path: Path) -> None:
    text = (REPO / "include/release_policy.yaml").read_text().replace("ratio_min: 0.8", "ratio_min: 8")
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    line = next(i for i, row in enumerate(text.splitlines(), 1) if "ratio_min: 8" in row)
    code, out = run("policy", "validate", str(path))
    assert code == 1
    assert f"{path}:{line} gates[1].checks[0].criteria[0].ratio_min: must be between 0 and 1" in out

    code, out = run("policy", "validate", str(path), "--json")
    assert code == 1
    assert json.loads(out)["problems"][0] == {
        "file": str(path),
        "line": line,
        "field": "gates[1].checks[0].criteria[0].ratio_min",
        "message": "must be between 0 and 1",
    }


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert run("policy", "validate", str(tmp_path / "missing.yaml"))[0] == 2
    assert run("no-such-command")[0] == 2
    assert run("evidence", "verify", "--url", f"sqlite:///{tmp_path}/e.db")[0] == 2


def test_evidence_verify_export_and_offline_bundle(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'e.db'}"
    store = EvidenceStore(url)
    for i in range(5):
        store.append("rel-1", "check_result", {"i": i, "summary": f"check {i}"})

    code, out = run("evidence", "verify", "rel-1", "--url", url)
    assert code == 0 and "evidence verify: OK" in out and "5 records" in out

    bundle = tmp_path / "bundle.json"
    code, out = run("evidence", "export", "rel-1", "-o", str(bundle), "--url", url)
    assert code == 0 and bundle.is_file()
    code, out = run("evidence", "verify", "--bundle", str(bundle), "--json")
    assert code == 0 and json.loads(out)["ok"] is True

    data = json.loads(bundle.read_text())
    data["records"][1]["payload"]["i"] = 99
    bundle.write_text(json.dumps(data))
    code, out = run("evidence", "verify", "--bundle", str(bundle))
    assert code == 1 and "record #2" in out and "edited" in out

    code, out = run("evidence", "show", "rel-1", "--url", url)
    assert code == 0 and "check 4" in out
    code, out = run("evidence", "list", "--url", url)
    assert "rel-1" in out and "5 records" in out
    assert run("evidence", "verify", "rel-404", "--url", url)[0] == 4


def _write_result(tmp_path: Path, status: Status) -> Path:
    now = datetime.now(UTC)
    result = CheckResult(
        check_id="g.c",
        kind="fairness",
        status=status,
        summary=f"it is {status.value}",
        started_at=now,
        finished_at=now,
    )
    path = tmp_path / f"{status.value}.json"
    path.write_text(result.to_json())
    return path


@pytest.mark.parametrize(
    ("status", "code"),
    [(Status.PASS, 0), (Status.WARN, 0), (Status.FAIL, 1), (Status.INCONCLUSIVE, 3), (Status.ERROR, 4)],
)
def test_result_show_exits_with_the_status_code(tmp_path: Path, status: Status, code: int) -> None:
    got, out = run("result", "show", str(_write_result(tmp_path, status)))
    assert got == code
    assert out.startswith(status.value)


def test_result_show_refuses_garbage_with_error(tmp_path: Path) -> None:
    path = tmp_path / "garbage.json"
    path.write_text('{"status": "PASS"}')
    code, out = run("result", "show", str(path))
    assert code == 4 and "not a valid CheckResult" in out


@pytest.fixture
def demo_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """A check subcommand registered the way check modules register theirs."""

    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--outcome", choices=["pass", "fail", "crash"], required=True)

    def run_check(args: argparse.Namespace) -> CheckResult:
        if args.outcome == "crash":
            raise RuntimeError("tool printed garbage")
        now = datetime.now(UTC)
        status = Status.PASS if args.outcome == "pass" else Status.FAIL
        return CheckResult(
            check_id="demo", kind="demo", status=status, summary=args.outcome, started_at=now, finished_at=now
        )

    monkeypatch.setitem(
        cli.CHECK_COMMANDS, "demo", cli.CheckCommand("demo", "a demo check", add_arguments, run_check)
    )


@pytest.mark.usefixtures("demo_check")
def test_check_runner_exit_codes_json_and_recording(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'e.db'}"
    assert run("check", "demo", "--outcome", "pass")[0] == 0
    code, out = run("check", "demo", "--outcome", "fail", "--json", "--record", "rel-9", "--url", url)
    assert code == 1 and json.loads(out)["status"] == "FAIL"
    code, out = run("check", "demo", "--outcome", "crash", "--record", "rel-9", "--url", url)
    assert code == 4 and "RuntimeError: tool printed garbage" in out
    recorded = [r.payload["status"] for r in EvidenceStore(url).records("rel-9")]
    assert recorded == ["FAIL", "ERROR"]
    assert run("check", "demo")[0] == 2


def test_console_script_and_version() -> None:
    exe = Path(sys.executable).with_name("release-gates")
    proc = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0
    from release_gates import __version__

    assert proc.stdout.strip() == f"release-gates {__version__}"


def test_schema_command_prints_the_published_schema() -> None:
    from release_gates.results import SCHEMA_PATH

    code, out = run("schema")
    assert code == 0 and json.loads(out) == json.loads(SCHEMA_PATH.read_text())
