"""Inputs of ``kind: documents``: each document as found (hashed, for a path; recorded, for a URL), its
owner role's users by the policy, and the recorded reviews of this model's releases.

Paths resolve against the policy file's directory, like datasets. Reviews are read from the release's
own chain and every chain opened by ``release_started`` for the same model
(:meth:`~release_gates.evidence.EvidenceStore.release_chains`), oldest first.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from release_gates.checks.documents import DocumentFacts, Review, reviews_from_records
from release_gates.exceptions import ReleaseGatesError
from release_gates.kinds.documents import is_url

if TYPE_CHECKING:
    from release_gates.evidence import EvidenceRecord, EvidenceStore
    from release_gates.inputs.catalog import DatasetCatalog
    from release_gates.kinds.documents import DocumentsCheck
    from release_gates.policy import ReleasePolicy
    from release_gates.results import CheckResult


class DocumentsInputError(ReleaseGatesError, ValueError):
    """A documents check that cannot run as written (an undeclared owner role, an unreadable file): a
    retry reads the same, and the message names the document and role as written in the policy."""


@dataclass(frozen=True)
class DocumentsInputs:
    documents: tuple[DocumentFacts, ...]
    reviews: tuple[Review, ...]
    inputs: dict[str, Any]


def document_facts(
    spec: DocumentsCheck, *, owners: Mapping[str, Sequence[str]], base_dir: Path | None
) -> list[DocumentFacts]:
    """Each document of ``spec`` as it is now. An owner role the policy does not declare is an error
    (nobody could ever review that document); a file that exists but cannot be read is one too."""
    from release_gates.datasets import file_sha256, local_path

    facts: list[DocumentFacts] = []
    for name, document in spec.documents.items():
        if document.owner not in owners:
            known = ", ".join(sorted(owners)) or "none"
            raise DocumentsInputError(
                f"document {name!r}: owner role {document.owner!r} is not declared under owners: ({known})"
            )
        common: dict[str, Any] = {
            "name": name,
            "owner_role": document.owner,
            "owner_users": tuple(owners[document.owner]),
            "location": document.location,
            "pinned_sha256": document.sha256,
            "max_age": document.max_age,
        }
        if is_url(document.location):
            facts.append(DocumentFacts(**common, is_url=True))
            continue
        path = local_path(document.location, base_dir=base_dir)
        if not path.is_file():
            facts.append(DocumentFacts(**common, exists=False))
            continue
        try:
            sha256 = file_sha256(path)
        except OSError as exc:
            raise DocumentsInputError(f"document {name!r}: cannot read {path}: {exc.strerror}") from exc
        facts.append(DocumentFacts(**common, exists=True, sha256=sha256))
    return facts


def model_review_records(
    store: EvidenceStore, model: str | None, release_id: str | None
) -> list[EvidenceRecord]:
    """The records reviews are read from: every release chain of ``model`` and ``release_id``'s own."""
    from release_gates.exceptions import EvidenceNotFoundError

    chains = store.release_chains(model) if model else {}
    records = [record for chain in chains.values() for record in chain]
    if release_id and release_id not in chains:
        with contextlib.suppress(EvidenceNotFoundError):  # no record yet: nothing to read
            records += store.records(release_id)
    return records


def resolve_documents_inputs(
    spec: DocumentsCheck,
    catalog: DatasetCatalog,
    *,
    policy: ReleasePolicy | None,
    records: Iterable[EvidenceRecord],
) -> DocumentsInputs:
    """The documents of ``spec`` and the reviews in ``records``; the owners come from ``policy``."""
    if policy is None:
        raise DocumentsInputError(
            f"a {spec.kind} check needs its release policy: the owner roles decide whose review counts"
        )
    owners = {role: list(owner.users) for role, owner in policy.owners.items()}
    documents = document_facts(spec, owners=owners, base_dir=catalog.base_dir)
    read = list(records)
    reviews = reviews_from_records(read)
    chains = {record.release_id for record in read}
    return DocumentsInputs(
        tuple(documents),
        tuple(reviews),
        {
            "documents": {
                d.name: {"location": d.location, "url": d.is_url, "exists": d.exists, "sha256": d.sha256}
                for d in documents
            },
            "reviews": {"model": policy.release.model, "chains_read": len(chains), "reviews": len(reviews)},
        },
    )


def run_documents_check(
    spec: DocumentsCheck,
    catalog: DatasetCatalog,
    *,
    check_id: str,
    policy: ReleasePolicy | None,
    records: Iterable[EvidenceRecord],
    now: datetime | None = None,
) -> CheckResult:
    """Resolve the inputs and run the engine: what the operator and the CLI both call."""
    from release_gates.checks.documents import evaluate_documents

    resolved = resolve_documents_inputs(spec, catalog, policy=policy, records=records)
    return evaluate_documents(
        resolved.documents,
        resolved.reviews,
        now=now,
        severity=spec.severity,
        check_id=check_id,
        inputs=resolved.inputs,
    )
