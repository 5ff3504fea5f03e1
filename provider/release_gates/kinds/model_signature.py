"""``kind: model_signature`` — the candidate is signed by a trusted party, over exactly the pinned model."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from release_gates.kinds.declaration import CheckKind
from release_gates.kinds.fields import CheckSpecBase


class ModelSignatureCheck(CheckSpecBase):
    kind: Literal["model_signature"] = Field(
        description="model_signature: the candidate model carries an OpenSSF model signature from a trusted "
        "key or CA, and the signed digests cover exactly the pinned artifact (verified offline)."
    )
    signature: str | None = Field(
        default=None,
        min_length=1,
        description="Signature bundle (model_signing's .sig; a path, relative to the policy file; "
        "templated). Default: the model's path with .sig appended, next to the model.",
        examples=["models/model.skops.sig"],
    )
    public_key: str | None = Field(
        default=None,
        min_length=1,
        description="PEM public key of the trusted signer (ECDSA P-256, P-384 or P-521: what model "
        "signing's key verifier accepts). Give this or certificate_chain.",
        examples=["keys/release-signer.pub"],
    )
    certificate_chain: list[str] | None = Field(
        default=None,
        min_length=1,
        description="PEM files of the trusted CA chain (root, then intermediates) the signing certificate "
        "must chain to; only these are trusted, never the system's store. Give this or public_key.",
        examples=[["keys/model-signing-ca.pem"]],
    )
    on_missing: Literal["fail", "inconclusive"] = Field(
        default="fail",
        description="Verdict when the signature file does not exist: fail (an unsigned model does not "
        "ship) or inconclusive (while signing is being rolled out).",
    )

    @model_validator(mode="after")
    def _one_trust_root(self) -> ModelSignatureCheck:
        if (self.public_key is None) == (self.certificate_chain is None):
            raise ValueError("give exactly one of public_key or certificate_chain (who is trusted to sign)")
        return self


KIND = CheckKind(
    name="model_signature",
    spec=ModelSignatureCheck,
    engine="release_gates.checks.model_signature:evaluate_model_signature",
    resolver="release_gates.inputs.model_signature:resolve_model_signature_inputs",
    operator="release_gates.operators.model_signature:ModelSignatureCheckOperator",
    cli_command="release_gates.cli.checks.model_signature:COMMAND",
)
