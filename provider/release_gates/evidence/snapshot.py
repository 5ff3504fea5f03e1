"""The policy a release ran under, kept in its evidence so the rules can be read back a year later.

``release_started`` names the policy file and its sha256; a hash alone cannot tell an auditor what
the rules were. The start step therefore reads the file once, parses and hashes those bytes, and
records the same text in ``release_started`` under ``policy_snapshot``::

    {"sha256": <the file's, as release_started.policy>, "text_sha256": <of the recorded text>,
     "credentials_redacted": <count>, "text": <the file's text>}

The text is the text that was hashed, with one exception: credentials in it (URL passwords,
``password:``/``token:`` values; :func:`release_gates.credentials.redact_credentials`) are masked,
because the trail is exported and read by auditors. ``text_sha256`` equals ``sha256`` exactly when
nothing was masked, so a reader can tell a byte-exact snapshot from a masked one. The masked values
are connection secrets, never a rule a gate decides by.

The seal step's report records the same snapshot as a ``policy_snapshot`` record
(:func:`release_gates.reports.seal.record_policy_snapshot`); chains sealed before the start step
recorded one carry only that. :func:`snapshots_in` reads both.

No Airflow here: the start step and ``release-gates evidence replay`` both use this module.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from release_gates.exceptions import EvidenceError

if TYPE_CHECKING:
    from release_gates.evidence.record import EvidenceRecord
    from release_gates.policy import ReleasePolicy

#: Where the snapshot sits in the ``release_started`` payload.
SNAPSHOT_KEY = "policy_snapshot"
#: The kind of the seal step's own snapshot record.
SNAPSHOT_KIND = "policy_snapshot"


class PolicySnapshotError(EvidenceError):
    """The policy cannot be recorded (too large for one evidence record) or read back."""


def read_policy_with_snapshot(path: str | Path) -> tuple[ReleasePolicy, dict[str, Any]]:
    """The policy at ``path`` and its snapshot, from one read of the file.

    Reading once matters: a file read twice (once to parse, once to record) could change in between,
    and the snapshot would then describe rules the release never ran under. Raises
    :class:`~release_gates.policy.PolicyError` for an unreadable or invalid file, as ``load_policy``.
    """
    from release_gates.policy import PolicyError, parse_policy
    from release_gates.policy.loader import MAX_POLICY_BYTES
    from release_gates.policy.problems import PolicyProblem

    source = str(path)
    try:
        with Path(path).open("rb") as handle:
            raw = handle.read(MAX_POLICY_BYTES + 1)  # parse_policy refuses anything longer, by size
    except OSError as exc:
        raise PolicyError(
            [PolicyProblem(source, None, (), f"cannot read policy file: {exc.strerror}")]
        ) from exc
    policy = parse_policy(raw, source=source)
    return policy, snapshot_of(raw)


def snapshot_of(raw: bytes) -> dict[str, Any]:
    """The ``policy_snapshot`` of a policy file's bytes (see the module docstring)."""
    from release_gates.credentials import redact_credentials

    text, redacted = redact_credentials(raw.decode("utf-8"))
    return {
        "sha256": hashlib.sha256(raw).hexdigest(),
        "text_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        "credentials_redacted": redacted,
        "text": text,
    }


def check_recordable(kind: str, payload: dict[str, Any], *, policy_source: str) -> None:
    """Refuse, naming the policy and the sizes, a record the evidence store would refuse as too large.

    The store's limit is per record (:data:`~release_gates.evidence.store.MAX_PAYLOAD_BYTES`); a
    policy close to the policy size limit no longer fits once its text is escaped as JSON.
    """
    from release_gates.evidence.canonical import canonical_json
    from release_gates.evidence.store import MAX_PAYLOAD_BYTES

    size = len(canonical_json(payload).encode("utf-8"))
    if size > MAX_PAYLOAD_BYTES:
        text_size = len(str((payload.get(SNAPSHOT_KEY) or {}).get("text") or "").encode("utf-8"))
        raise PolicySnapshotError(
            f"policy {policy_source} ({text_size:,} bytes of text) cannot be recorded: with it the {kind} "
            f"record is {size:,} bytes and an evidence record holds at most {MAX_PAYLOAD_BYTES:,} "
            "(1 MiB); shorten the policy (comments count)"
        )


@dataclass(frozen=True)
class Snapshot:
    """A policy snapshot found in a chain."""

    sha256: str
    text: str
    #: The recorded text hashes to ``sha256``: byte-exact, nothing masked.
    exact: bool
    credentials_redacted: int
    #: Where it was read, e.g. ``release_started #1`` or ``policy_snapshot #14``.
    where: str


def snapshots_in(records: Iterable[EvidenceRecord]) -> list[Snapshot]:
    """Every policy snapshot in the chain, in chain order (the start's first).

    A snapshot that says nothing was masked but whose text does not hash to its ``sha256`` is
    inconsistent; it is refused (:class:`PolicySnapshotError`), never read as the rules.
    """
    found: list[Snapshot] = []
    for record in records:
        if record.kind == "release_started":
            raw = record.payload.get(SNAPSHOT_KEY)
        elif record.kind == SNAPSHOT_KIND:
            raw = record.payload
        else:
            continue
        if not isinstance(raw, dict) or not isinstance(raw.get("text"), str) or not raw.get("sha256"):
            continue
        where = f"{record.kind} #{record.seq}"
        text = str(raw["text"])
        exact = hashlib.sha256(text.encode("utf-8")).hexdigest() == raw["sha256"]
        redacted = int(raw.get("credentials_redacted") or 0)
        if not exact and redacted == 0:
            raise PolicySnapshotError(
                f"the policy snapshot in {record.release_id} {where} does not hash to the sha256 it "
                "records and masked no credentials: it is not the policy the release ran under"
            )
        found.append(Snapshot(str(raw["sha256"]), text, exact, redacted, where))
    return found
