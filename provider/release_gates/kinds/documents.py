"""``kind: documents`` — required documents exist, are the pinned version, and their owners reviewed them
recently (a review is a human answer recorded in the evidence trail)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator

from release_gates.kinds.declaration import CheckKind
from release_gates.kinds.fields import CheckSpecBase, Duration, Identifier, PolicyModel

#: The review step's option for "I reviewed none of these"; also what a timed-out step answers.
NOT_REVIEWED = "Not reviewed"


def _document_name(value: str) -> str:
    if not value.strip() or value != value.strip():
        raise ValueError("a document name is non-empty and has no surrounding spaces")
    if len(value) > 100:
        raise ValueError("a document name is at most 100 characters (it is an option of the review step)")
    if value == NOT_REVIEWED:
        raise ValueError(f"{NOT_REVIEWED!r} is the review step's own option; name the document otherwise")
    return value


DocumentName = Annotated[str, AfterValidator(_document_name)]


def is_url(location: str) -> bool:
    """``https://…`` (or any ``scheme://``): a location the check records but does not read."""
    return bool(re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", location)) and not location.startswith("file://")


class RequiredDocument(PolicyModel):
    """A document the release needs (threat model, DPIA, runbook, intended use…), owned by one role."""

    owner: Identifier = Field(
        description="Owner role (a key of owners:) that reviews the document; its failures go to this role.",
        examples=["security"],
    )
    location: str = Field(
        min_length=1,
        description="Path relative to the policy file (read and hashed), or a URL (recorded, not fetched: "
        "its review binds to the sha256 given here).",
        examples=["docs/threat-model.md"],
    )
    sha256: str = Field(
        description="sha256 of the reviewed version; the file must still hash to it.",
        examples=["9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"],
    )
    max_age: Duration = Field(
        description="Longest time since the owner's last review (e.g. 180d).", examples=["180d"]
    )
    description: str = Field(default="", description="What the document is for, shown to the reviewer.")

    @field_validator("sha256")
    @classmethod
    def _sha(cls, value: str) -> str:
        if not re.fullmatch(r"[0-9a-f]{64}", value):
            raise ValueError("must be 64 lower-case hex characters (a sha256 digest)")
        return value


class DocumentsCheck(CheckSpecBase):
    kind: Literal["documents"] = Field(
        description="documents: each required document exists, hashes to its pinned sha256, and its owner "
        "reviewed that version within max_age (reviews are answered in the release DAG)."
    )
    documents: dict[DocumentName, RequiredDocument] = Field(
        min_length=1,
        description="Document name (free text, e.g. 'threat model', 'DPIA') → owner, location, sha256, "
        "max_age.",
        examples=[
            {
                "threat model": {
                    "owner": "security",
                    "location": "docs/threat-model.md",
                    "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                    "max_age": "180d",
                }
            }
        ],
    )
    review_timeout: Duration = Field(
        default=timedelta(hours=24),
        description="How long each owner has to answer the release's review step (then: not reviewed).",
    )

    def owner_roles(self) -> list[str]:
        """The roles that review this check's documents, each once, in document order."""
        return list(dict.fromkeys(document.owner for document in self.documents.values()))


KIND = CheckKind(
    name="documents",
    spec=DocumentsCheck,
    engine="release_gates.checks.documents:evaluate_documents",
    resolver="release_gates.inputs.documents:resolve_documents_inputs",
    operator="release_gates.operators.documents:DocumentsCheckOperator",
    cli_command="release_gates.cli.checks.documents:COMMAND",
)
