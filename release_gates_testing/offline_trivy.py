"""Inputs for real, offline Trivy scans: a ``docker save`` image tarball and a tiny vulnerability DB.

Trivy's public DB cannot be downloaded here, but the real binary scans offline against a DB written
by :func:`build_trivy_db` (run it with ``--cache-dir <dir> --skip-db-update --offline-scan``), and
reads an image from a tarball written by :func:`build_image_tarball` — no Docker needed. Both are
deterministic: the same arguments give byte-identical files, hence the same image id.

Used by the integration tests and the demo.
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
import tarfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

DEBIAN_12_OS_RELEASE = (
    'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n'
    'NAME="Debian GNU/Linux"\n'
    'VERSION_ID="12"\n'
    'VERSION="12 (bookworm)"\n'
    "VERSION_CODENAME=bookworm\n"
    "ID=debian\n"
)


@dataclass(frozen=True)
class ImageTarball:
    path: Path
    image_id: str  # "sha256:<config digest>", what Trivy reports as Metadata.ImageID
    diff_ids: tuple[str, ...]
    repo_tag: str


def build_image_tarball(
    path: Path,
    packages: Mapping[str, str] | Iterable[tuple[str, str]],
    os_release: str = DEBIAN_12_OS_RELEASE,
    *,
    debian_version: str | None = "12.5",
    repo_tag: str = "demo/model:1.0",
    files: Mapping[str, bytes] | None = None,
    user: str | None = "1000",
    env: Mapping[str, str] | None = None,
) -> ImageTarball:
    """Write a one-layer image in ``docker save`` layout that Trivy detects as the given OS.

    :param packages: dpkg package name → version (``1:1.2.13.dfsg-1`` style, epoch allowed).
    :param os_release: content of ``etc/os-release``.
    :param debian_version: content of ``etc/debian_version`` (``None`` leaves it out).
    :param files: further files of the layer, path (no leading ``/``) → bytes.
    :param user: the image's USER; ``None`` makes it run as root (Trivy reports DS-0002, HIGH).
    :param env: the image's ENV (Trivy's secret scanner reads it from the config).
    """
    layer_files: dict[str, bytes] = {"etc/os-release": os_release.encode()}
    if debian_version is not None:
        layer_files["etc/debian_version"] = f"{debian_version}\n".encode()
    items = list(packages.items()) if isinstance(packages, Mapping) else list(packages)
    layer_files["var/lib/dpkg/status"] = _dpkg_status(items).encode()
    layer_files.update(files or {})
    layer = _tar_bytes(sorted(layer_files.items()))
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    environment = [f"{k}={v}" for k, v in (env or {}).items()]
    # The history reads like `docker build` output: Trivy rebuilds a Dockerfile from it to check
    # (no HEALTHCHECK: Trivy 0.76 cannot read that step back, and then checks nothing — DS-0026 LOW).
    steps = ["/bin/sh -c #(nop) ADD file:layer in / "]
    steps += [f"/bin/sh -c #(nop)  ENV {e}" for e in environment]
    steps += [f"/bin/sh -c #(nop)  USER {user}"] if user else []
    steps += ['/bin/sh -c #(nop)  CMD ["/bin/sh"]']
    config_body: dict[str, object] = {"Cmd": ["/bin/sh"], "Env": environment}
    if user:
        config_body["User"] = user
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": config_body,
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            "history": [
                {"created": "2024-01-01T00:00:00Z", "created_by": step, "empty_layer": i > 0}
                for i, step in enumerate(steps)
            ],
        },
        sort_keys=True,
    ).encode()
    config_digest = hashlib.sha256(config).hexdigest()
    layer_name = f"{diff_id.removeprefix('sha256:')}/layer.tar"
    manifest = json.dumps(
        [{"Config": f"{config_digest}.json", "RepoTags": [repo_tag], "Layers": [layer_name]}]
    ).encode()
    path.write_bytes(
        _tar_bytes([(f"{config_digest}.json", config), (layer_name, layer), ("manifest.json", manifest)])
    )
    return ImageTarball(path=path, image_id=f"sha256:{config_digest}", diff_ids=(diff_id,), repo_tag=repo_tag)


def _dpkg_status(packages: Sequence[tuple[str, str]]) -> str:
    stanzas = [
        f"Package: {name}\nStatus: install ok installed\nPriority: optional\n"
        f"Architecture: amd64\nVersion: {version}\n"
        for name, version in packages
    ]
    return "\n".join(stanzas)


def _tar_bytes(entries: Iterable[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


# --------------------------------------------------------------------------------------------------
# The vulnerability DB
# --------------------------------------------------------------------------------------------------

_VENDOR_SEVERITY = {"LOW": 1, "MEDIUM": 2, "HIGH": 3, "CRITICAL": 4}


@dataclass(frozen=True)
class Advisory:
    """One vulnerability of one package; ``fixed_version=None`` means no fix yet (status affected)."""

    id: str
    package: str
    severity: str
    fixed_version: str | None = None
    title: str | None = None
    description: str = ""


def build_trivy_db(
    cache_dir: Path,
    advisories: Sequence[Advisory],
    *,
    os_bucket: str = "debian 12",
    data_source: Mapping[str, str] | None = None,
) -> Path:
    """Write ``<cache_dir>/db/trivy.db`` and ``metadata.json`` as Trivy's DB v2 lays them out.

    Buckets: ``<os_bucket>`` → package → advisory id → ``{"FixedVersion": …}`` (``{}`` when unfixed);
    ``vulnerability`` → id → details; ``data-source`` → ``<os_bucket>`` → source. Returns the DB path.
    Meant for a handful of advisories: the `boltdb` package that writes it is a small port of bbolt.
    """
    db_dir = cache_dir / "db"
    db_dir.mkdir(parents=True, exist_ok=True)
    db_path = db_dir / "trivy.db"
    db_path.unlink(missing_ok=True)
    by_package: dict[bytes, dict[bytes, bytes]] = {}
    details: dict[bytes, bytes] = {}
    for adv in advisories:
        fixed = {"FixedVersion": adv.fixed_version} if adv.fixed_version else {}
        by_package.setdefault(adv.package.encode(), {})[adv.id.encode()] = json.dumps(fixed).encode()
        vendor = {os_bucket.split(maxsplit=1)[0]: _VENDOR_SEVERITY.get(adv.severity.upper(), 0)}
        details[adv.id.encode()] = json.dumps(
            {
                "Title": adv.title or f"{adv.package}: {adv.id}",
                "Description": adv.description,
                "Severity": adv.severity.upper(),
                "VendorSeverity": vendor,
                "References": [f"https://security-tracker.debian.org/tracker/{adv.id}"],
            }
        ).encode()
    source = data_source or {
        "ID": "debian",
        "Name": "Debian Security Tracker",
        "URL": "https://salsa.debian.org/security-tracker-team/security-tracker",
    }
    _write_bolt(
        db_path,
        {
            os_bucket.encode(): by_package,
            b"vulnerability": details,
            b"data-source": {os_bucket.encode(): json.dumps(source).encode()},
        },
    )
    now = datetime.now(UTC).replace(microsecond=0)
    (db_dir / "metadata.json").write_text(
        json.dumps(
            {
                "Version": 2,
                "NextUpdate": (now + timedelta(days=3650)).isoformat(),
                "UpdatedAt": now.isoformat(),
                "DownloadedAt": now.isoformat(),
            }
        )
    )
    return db_path


def _write_bolt(path: Path, buckets: Mapping[bytes, Mapping[bytes, object]]) -> None:
    """Write a bbolt file with the ``boltdb`` package, then fix what it leaves out (checksums)."""
    from boltdb import BoltDB

    class _ClosedOnce(BoltDB):  # type: ignore[misc]
        # boltdb 0.0.2 closes again from __del__ and raises on the closed descriptor.
        _closed = False

        def close(self) -> None:
            if not self._closed:
                self._closed = True
                super().close()

    db = _ClosedOnce(str(path))
    try:
        with db.update() as tx:
            for name, content in buckets.items():
                _fill(tx.create_bucket(name), content)
    finally:
        db.close()
    fix_meta_checksums(path)


def _fill(bucket: object, content: Mapping[bytes, object]) -> None:
    for key, value in content.items():
        if isinstance(value, Mapping):
            _fill(bucket.create_bucket(key), value)  # type: ignore[attr-defined]
        else:
            bucket.put(key, value)  # type: ignore[attr-defined]


def fnv1a_64(data: bytes) -> int:
    value = 0xCBF29CE484222325
    for byte in data:
        value = ((value ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return value


def fix_meta_checksums(path: Path) -> None:
    """bbolt refuses a file whose meta pages carry no checksum: FNV-1a 64 over the first 56 bytes of
    each meta struct (16 bytes into pages 0 and 1), stored in the 8 bytes after them."""
    data = bytearray(path.read_bytes())
    page_size = struct.unpack_from("<I", data, 16 + 8)[0]  # meta: magic, version, pageSize, …
    for page in (0, 1):
        start = page * page_size + 16
        struct.pack_into("<Q", data, start + 56, fnv1a_64(bytes(data[start : start + 56])))
    path.write_bytes(bytes(data))
