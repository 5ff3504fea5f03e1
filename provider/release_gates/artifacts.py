"""Where a release run's files go and how they are written: one folder per run, safe names, sha256.

Check operators (the drift report, the Trivy report and SBOM) and the seal step (the release report)
all store files under ``$AIRFLOW_HOME/release_gates/artifacts/<release id>/``. The folder name is
computed here and nowhere else: when each place sanitised the release id its own way, a run id such
as ``manual__2026-01-01T10:00:00+00:00`` put the drift report and the release report of one run in
two different folders.

Files are written atomically (a reader sees the old file or the whole new one, never a torn one) and
described as :class:`~release_gates.results.Artifact` with their sha256, which the evidence trail
records and the seal covers. A leaf module: standard library and ``results`` only.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from pathlib import Path

from release_gates.results import Artifact

#: Below ``$AIRFLOW_HOME``; one sub-folder per release run.
ARTIFACTS_ROOT = ("release_gates", "artifacts")

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(value: str, default: str = "release") -> str:
    """``value`` as one file or folder name: each run of characters outside ``[A-Za-z0-9._-]``
    becomes ``_``; leading and trailing ``.``/``_`` are dropped, so the result is never ``.``,
    ``..`` or a hidden file; ``default`` when nothing is left.

    Run ids carry ``:`` and ``+`` (``manual__2026-01-01T10:00:00+00:00``), which some filesystems
    and URI consumers reject; a release id comes from a templated operator argument, so it must not
    be able to name a path outside the artifacts folder either.
    """
    return _UNSAFE.sub("_", value).strip("._") or default


def airflow_home() -> Path:
    """``$AIRFLOW_HOME``, else ``~/airflow`` (Airflow's own default)."""
    return Path(os.environ.get("AIRFLOW_HOME") or Path.home() / "airflow")


def artifact_dir(release_id: str, *parts: str) -> Path:
    """``$AIRFLOW_HOME/release_gates/artifacts/<safe release id>[/<part>…]``: the run's folder, or a
    folder inside it (the seal's report goes to ``artifact_dir(release_id, "report")``).

    Nothing is created; writers create the folder when they write.
    """
    folder = airflow_home().joinpath(*ARTIFACTS_ROOT, safe_name(release_id))
    for part in parts:
        name = safe_name(part, default="")
        if not name:
            raise ValueError(f"artifact folder part {part!r} has no usable characters")
        folder = folder / name
    return folder


def write_atomic(path: Path, data: bytes | str) -> None:
    """Write ``data`` (``str`` as UTF-8) to ``path`` so that a reader, or a retry after a killed
    worker, finds either the previous file or the complete new one.

    The bytes go to a uniquely named temporary file in the same folder (so the final rename stays on
    one filesystem and is atomic), are flushed to disk, then renamed over ``path``. On any failure
    the temporary file is removed and the exception propagates; ``path`` is left as it was.
    """
    payload = data.encode("utf-8") if isinstance(data, str) else data
    # A random suffix, not just the pid: two tasks of one worker process may write the same name.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    # O_EXCL: never write through a file or link someone placed at the temporary name. Mode 0o666
    # (less the umask) keeps the permissions a plain write would give; mkstemp would force 0o600.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def file_artifact(path: Path, name: str, media_type: str | None) -> Artifact:
    """An :class:`Artifact` for a written file: its ``file://`` URI, sha256 and size."""
    with path.open("rb") as handle:
        digest = hashlib.file_digest(handle, "sha256").hexdigest()
    return Artifact(
        name=name,
        uri=path.resolve().as_uri(),
        sha256=digest,
        media_type=media_type,
        size_bytes=path.stat().st_size,
    )
