"""``release-gates trivy-db import|build|show``: an offline vulnerability DB for air-gapped workers.

Trivy reads ``<cache-dir>/db/trivy.db`` (a bbolt file) and ``<cache-dir>/db/metadata.json``; a worker
that cannot download it scans for vulnerabilities only when both are there (run with the
``trivy_default`` connection's ``cache_dir`` and ``skip_db_update``/``offline_scan``).

``import`` unpacks a Trivy DB archive a user copied in — the ``db.tar.gz`` of the OCI artifact
``ghcr.io/aquasecurity/trivy-db`` (``oras pull ghcr.io/aquasecurity/trivy-db:2`` on a connected host)
— validates its metadata and prints what Trivy will use. ``show`` prints the same for a cache that
is already seeded. ``build`` writes the tiny demo DB of the repository's tests; it needs the
``boltdb`` package, a development dependency the provider does not bring, so outside a development
checkout it says so and points at ``import``.
"""

from __future__ import annotations

import argparse
import json
import tarfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from release_gates.cli.common import EXIT_FAIL, EXIT_OK, UsageError

#: The DB schema version this provider's minimum Trivy reads.
DB_SCHEMA_VERSION = 2
_MEMBERS = ("trivy.db", "metadata.json")
#: What ``build`` writes: the advisories of ``make demo`` (id, package, severity, fixed version, title).
DEMO_ADVISORIES = (
    ("CVE-2099-0001", "openssl", "MEDIUM", "3.0.13-1~deb12u1", "openssl: demo advisory (fixed)"),
    ("CVE-2099-0002", "zlib1g", "LOW", None, "zlib: demo advisory (no fix yet)"),
)


def import_db(args: argparse.Namespace, out: TextIO) -> int:
    archive = Path(args.archive)
    if not archive.is_file():
        raise UsageError(f"archive not found: {archive}")
    db_dir = Path(args.cache_dir) / "db"
    db_dir.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = {Path(m.name).name: m for m in tar.getmembers() if m.isfile()}
            missing = [name for name in _MEMBERS if name not in members]
            if missing:
                raise UsageError(f"{archive} holds no {' or '.join(missing)} (not a Trivy DB archive)")
            for name in _MEMBERS:  # only these two files, by name: nothing else is unpacked anywhere
                source = tar.extractfile(members[name])
                if source is None:
                    raise UsageError(f"{archive}: {name} cannot be read")
                partial = db_dir / f".{name}.partial"
                partial.write_bytes(source.read())
                partial.replace(db_dir / name)
    except tarfile.TarError as exc:
        raise UsageError(f"{archive} is not a tar archive: {exc}") from None
    return _describe(db_dir, out, as_json=args.json, verb="imported")


def show_db(args: argparse.Namespace, out: TextIO) -> int:
    return _describe(Path(args.cache_dir) / "db", out, as_json=args.json, verb="found")


def build_db(args: argparse.Namespace, out: TextIO) -> int:
    import importlib.util

    if (
        importlib.util.find_spec("boltdb") is None
        or importlib.util.find_spec("release_gates_testing") is None
    ):
        raise UsageError(
            "trivy-db build writes the repository's tiny demo DB and needs a development checkout "
            "(release_gates_testing) and `pip install boltdb`; for a real offline DB copy Trivy's "
            "db.tar.gz in and run `release-gates trivy-db import db.tar.gz --cache-dir DIR`"
        )
    import importlib

    # Imported by name: the wheel never depends on the repository's test support.
    offline = importlib.import_module("release_gates_testing.offline_trivy")
    advisories = [
        offline.Advisory(*fields, title)
        for *fields, title in DEMO_ADVISORIES  # the demo's two
    ]
    offline.build_trivy_db(Path(args.cache_dir), advisories)
    return _describe(Path(args.cache_dir) / "db", out, as_json=args.json, verb="built")


def _describe(db_dir: Path, out: TextIO, *, as_json: bool, verb: str) -> int:
    facts, problems = inspect_db(db_dir)
    if as_json:
        print(json.dumps({**facts, "usable": not problems, "problems": problems}, indent=2), file=out)
    elif problems:
        print(f"{db_dir}: not usable by Trivy offline", file=out)
        for problem in problems:
            print(f"  {problem}", file=out)
    else:
        print(f"{db_dir}: {verb} — Trivy will use this vulnerability DB offline", file=out)
        print(f"  schema version {facts['version']}, updated {facts['updated_at']}", file=out)
        print(f"  trivy.db {facts['db_bytes']} bytes; run with --cache-dir {db_dir.parent} "
              "--skip-db-update --offline-scan (connection extras cache_dir, skip_db_update, offline_scan)",
              file=out)  # fmt: skip
        if facts.get("stale"):
            print(
                "  NextUpdate is past: Trivy warns but scans; import a fresher archive when you can", file=out
            )
    return EXIT_FAIL if problems else EXIT_OK


def inspect_db(db_dir: Path) -> tuple[dict[str, Any], list[str]]:
    """What Trivy will read from ``db_dir`` and every reason it could not (empty: usable)."""
    facts: dict[str, Any] = {"db_dir": str(db_dir)}
    problems: list[str] = []
    db_file, metadata_file = db_dir / "trivy.db", db_dir / "metadata.json"
    if not db_file.is_file():
        problems.append(f"{db_file.name} missing")
    else:
        facts["db_bytes"] = db_file.stat().st_size
        if db_file.stat().st_size < 4096:
            problems.append("trivy.db is smaller than one bbolt page: not a DB")
    if not metadata_file.is_file():
        problems.append(f"{metadata_file.name} missing")
        return facts, problems
    try:
        metadata = json.loads(metadata_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        problems.append(f"metadata.json is not JSON: {exc}")
        return facts, problems
    if not isinstance(metadata, dict):
        problems.append("metadata.json is not an object")
        return facts, problems
    facts["version"] = metadata.get("Version")
    facts["updated_at"] = metadata.get("UpdatedAt")
    facts["next_update"] = metadata.get("NextUpdate")
    if metadata.get("Version") != DB_SCHEMA_VERSION:
        problems.append(
            f"metadata Version is {metadata.get('Version')!r}; this Trivy reads DB schema {DB_SCHEMA_VERSION}"
        )
    for key in ("UpdatedAt", "NextUpdate"):
        try:
            moment = datetime.fromisoformat(str(metadata.get(key)).replace("Z", "+00:00"))
        except ValueError:
            problems.append(f"metadata {key} is not an RFC 3339 time: {metadata.get(key)!r}")
            continue
        if key == "NextUpdate":
            facts["stale"] = moment.astimezone(UTC) < datetime.now(UTC)
    return facts, problems
