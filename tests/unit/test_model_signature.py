"""``kind: model_signature``: models signed here with model_signing, then verified — and attacked.

Every key, certificate and signature is made in the test (ECDSA P-256, the curves model signing's key
verifier accepts); nothing touches the network (the Sigstore path is never used).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pydantic import ValidationError

from release_gates import cli
from release_gates.checks.model_signature import evaluate_model_signature
from release_gates.inputs.catalog import DatasetCatalog
from release_gates.inputs.model_signature import resolve_model_signature_inputs, run_model_signature_check
from release_gates.inputs.scored import release_catalog
from release_gates.kinds.model_signature import ModelSignatureCheck
from release_gates.policy import load_policy
from release_gates.results import CheckResult, Status

signing = pytest.importorskip("model_signing.signing")


# -- keys, certificates and signatures, made here ------------------------------------------------------


def _pem_private(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _pem_public(key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


class Signer:
    """An ECDSA P-256 key pair on disk."""

    def __init__(self, directory: Path, name: str) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.private = directory / f"{name}.key"
        self.public = directory / f"{name}.pub"
        self.private.write_bytes(_pem_private(self.key))
        self.public.write_bytes(_pem_public(self.key))
        self.fingerprint = hashlib.sha256(self.public.read_bytes()).hexdigest()

    def sign(self, model: Path, signature: Path | None = None) -> Path:
        signature = signature or model.with_name(model.name + ".sig")
        signing.Config().use_elliptic_key_signer(private_key=self.private).sign(model, signature)
        return signature


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


class CertificateAuthority:
    """A self-signed CA and the leaf certificates it issues (code signing)."""

    def __init__(self, directory: Path, name: str) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.now(UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(_name(name))
            .issuer_name(_name(name))
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_key_usage(cert_sign=True), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.pem = directory / f"{name}.pem"
        self.pem.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        self.directory = directory

    def issue(self, common_name: str) -> tuple[Path, Path]:
        """A leaf key and certificate for ``common_name``: (private key path, certificate path)."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.now(UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(hours=1))
            .not_valid_after(now + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(cert_sign=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        key_path = self.directory / f"{common_name}.key"
        cert_path = self.directory / f"{common_name}.crt"
        key_path.write_bytes(_pem_private(key))
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return key_path, cert_path


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _root_digest(directory: Path) -> str:
    """Model signing's digest of a whole model, computed independently: sha256 over each file's sha256,
    files in path order."""
    files = sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file())
    return hashlib.sha256(
        b"".join(hashlib.sha256((directory / f).read_bytes()).digest() for f in files)
    ).hexdigest()


@pytest.fixture
def signer(tmp_path: Path) -> Signer:
    return Signer(tmp_path / "keys", "release")


@pytest.fixture
def model(tmp_path: Path) -> Path:
    path = tmp_path / "models" / "model.skops"
    path.parent.mkdir()
    path.write_bytes(b"candidate model weights " * 400)
    return path


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    root = tmp_path / "models" / "bert"
    (root / "tokenizer").mkdir(parents=True)
    (root / "weights.bin").write_bytes(b"\x00\x01" * 5000)
    (root / "config.json").write_text('{"layers": 2}')
    (root / "tokenizer" / "vocab.txt").write_text("a\nb\nc\n")
    return root


def _verify(model: Path, signature: Path, pin: str | None, **kwargs: Any) -> CheckResult:
    return evaluate_model_signature(model, signature, pinned_sha256=pin, check_id="provenance.sig", **kwargs)


def _ids(result: CheckResult) -> list[str]:
    return [f.id for f in result.findings]


# -- a single-file model -------------------------------------------------------------------------------


def test_signed_model_passes_with_the_signers_identity_and_no_key_material(
    model: Path, signer: Signer
) -> None:
    signature = signer.sign(model)
    result = _verify(model, signature, _sha(model), public_key=signer.public)

    assert result.status is Status.PASS, result.summary
    assert "covers exactly the pinned model" in result.summary
    assert result.metrics["signer"] == {
        "type": "public_key",
        "algorithm": "ECDSA P-256",
        "fingerprint_sha256": signer.fingerprint,
    }
    assert result.metrics["signed_digest"] == _sha(model) and result.metrics["files"] == 1
    assert result.inputs["signature"]["sha256"] == _sha(signature)
    text = result.to_json()
    for pem in (signer.public.read_text(), signer.private.read_text()):
        body = "".join(pem.splitlines()[1:-1])
        assert body[:40] not in text  # fingerprints only, never the key itself


def test_a_tampered_byte_fails_naming_the_file(model: Path, signer: Signer) -> None:
    pin = _sha(model)
    signature = signer.sign(model)
    data = bytearray(model.read_bytes())
    data[100] ^= 0x01
    model.write_bytes(bytes(data))

    result = _verify(model, signature, pin, public_key=signer.public)

    assert result.status is Status.FAIL
    assert _ids(result) == ["model_changed"]
    (finding,) = result.findings
    assert finding.location == str(model) and finding.data["actual"] == _sha(model)
    assert finding.data["signed"] == pin


def test_a_signature_of_another_model_does_not_cover_the_pinned_artifact(
    model: Path, signer: Signer, tmp_path: Path
) -> None:
    other = tmp_path / "other.skops"
    other.write_bytes(b"a different model")
    signature = signer.sign(other, model.with_name(model.name + ".sig"))  # shipped under the model's name

    result = _verify(model, signature, _sha(model), public_key=signer.public)

    assert result.status is Status.FAIL
    assert "does not cover the pinned artifact" in result.summary
    assert _ids(result)[0] == "not_pinned_artifact"
    assert result.findings[0].data == {"signed": _sha(other), "pinned": _sha(model)}


def test_a_pin_other_than_the_signed_file_fails_even_when_the_file_matches(
    model: Path, signer: Signer
) -> None:
    signature = signer.sign(model)
    result = _verify(model, signature, "0" * 64, public_key=signer.public)
    assert result.status is Status.FAIL and _ids(result) == ["not_pinned_artifact"]


def test_an_older_bundle_without_a_key_hint_verifies_and_prints_nothing(
    model: Path, signer: Signer, capsys: pytest.CaptureFixture[str]
) -> None:
    """model_signing prints a warning for these; stdout belongs to the CLI's --json document."""
    signature = signer.sign(model)
    bundle = json.loads(signature.read_text())
    del bundle["verificationMaterial"]["publicKey"]["hint"]
    signature.write_text(json.dumps(bundle))

    result = _verify(model, signature, _sha(model), public_key=signer.public)

    assert result.status is Status.PASS, result.summary
    assert capsys.readouterr().out == ""


def test_wrong_public_key_fails(model: Path, signer: Signer, tmp_path: Path) -> None:
    signature = signer.sign(model)
    stranger = Signer(tmp_path / "other-keys", "stranger")

    result = _verify(model, signature, _sha(model), public_key=stranger.public)

    assert result.status is Status.FAIL
    assert _ids(result) == ["signature_invalid"]
    assert (
        "Key mismatch" in result.findings[0].detail and stranger.fingerprint[:16] in result.findings[0].detail
    )


def test_a_forged_bundle_that_claims_the_trusted_key_fails(
    model: Path, signer: Signer, tmp_path: Path
) -> None:
    """Signed by another key, with the trusted key's fingerprint written in as the hint."""
    stranger = Signer(tmp_path / "other-keys", "stranger")
    signature = stranger.sign(model)
    bundle = json.loads(signature.read_text())
    bundle["verificationMaterial"]["publicKey"]["hint"] = signer.fingerprint
    signature.write_text(json.dumps(bundle))

    result = _verify(model, signature, _sha(model), public_key=signer.public)

    assert result.status is Status.FAIL and _ids(result) == ["signature_invalid"]


def test_a_rewritten_manifest_under_the_original_signature_fails(model: Path, signer: Signer) -> None:
    """The statement is changed to list the tampered file's digest; the DSSE signature no longer holds."""
    signature = signer.sign(model)
    model.write_bytes(model.read_bytes() + b"backdoor")
    bundle = json.loads(signature.read_text())
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    statement["predicate"]["resources"][0]["digest"] = _sha(model)
    statement["subject"][0]["digest"]["sha256"] = hashlib.sha256(bytes.fromhex(_sha(model))).hexdigest()
    bundle["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    signature.write_text(json.dumps(bundle))

    result = _verify(model, signature, _sha(model), public_key=signer.public)

    assert result.status is Status.FAIL and _ids(result) == ["signature_invalid"]


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not a signature",
        b'{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json"}',
        b"[1, 2, 3]",
        "\u00ff\u00fe".encode("utf-16"),
    ],
    ids=["empty", "text", "bundle-without-material", "json-list", "binary"],
)
def test_a_corrupt_signature_file_never_passes(model: Path, signer: Signer, content: bytes) -> None:
    signature = model.with_name(model.name + ".sig")
    signature.write_bytes(content)

    result = _verify(model, signature, _sha(model), public_key=signer.public)

    assert result.status in (Status.FAIL, Status.ERROR)
    assert result.status is Status.FAIL, result.summary  # a bad bundle is a verdict on the artifact
    assert _ids(result) == ["signature_invalid"]


@pytest.mark.parametrize(
    ("on_missing", "status"), [("fail", Status.FAIL), ("inconclusive", Status.INCONCLUSIVE)]
)
def test_no_signature_file_follows_on_missing(
    model: Path, signer: Signer, on_missing: str, status: Status
) -> None:
    expected = model.with_name(model.name + ".sig")
    result = _verify(model, expected, _sha(model), public_key=signer.public, on_missing=on_missing)
    assert result.status is status
    assert _ids(result) == ["signature_missing"] and result.findings[0].location == str(expected)


def test_a_valid_signature_without_a_pin_is_inconclusive(model: Path, signer: Signer) -> None:
    result = _verify(model, signer.sign(model), None, public_key=signer.public)
    assert result.status is Status.INCONCLUSIVE and _ids(result) == ["model_not_pinned"]


def test_an_ed25519_key_is_an_error_naming_the_supported_keys(
    model: Path, signer: Signer, tmp_path: Path
) -> None:
    ed_key = tmp_path / "ed25519.pub"
    ed_key.write_bytes(_pem_public(ed25519.Ed25519PrivateKey.generate()))
    result = _verify(model, signer.sign(model), _sha(model), public_key=ed_key)
    assert result.status is Status.ERROR
    assert "Ed25519" in result.summary and "P-256" in result.summary
    assert result.metrics["error"]["transient"] is False


def test_a_private_key_given_as_the_public_key_is_an_error_without_its_contents(
    model: Path, signer: Signer
) -> None:
    result = _verify(model, signer.sign(model), _sha(model), public_key=signer.private)
    assert result.status is Status.ERROR and "is not a PEM public key" in result.summary
    assert "PRIVATE KEY" not in result.to_json()


def test_a_missing_model_is_an_error(tmp_path: Path, signer: Signer) -> None:
    result = _verify(tmp_path / "gone.skops", tmp_path / "gone.skops.sig", "0" * 64, public_key=signer.public)
    assert result.status is Status.ERROR and "does not exist" in result.summary


def test_without_model_signing_the_check_is_an_error_naming_the_extra(
    model: Path, signer: Signer, monkeypatch: pytest.MonkeyPatch
) -> None:
    signature = signer.sign(model)
    # The package is installed here; a None entry in sys.modules is how Python makes it unimportable.
    monkeypatch.setitem(sys.modules, "model_signing", None)
    monkeypatch.setitem(sys.modules, "model_signing.verifying", None)

    result = _verify(model, signature, _sha(model), public_key=signer.public)

    assert result.status is Status.ERROR
    assert "pip install 'airflow-provider-release-gates[model-signing]'" in result.summary


# -- a directory model ---------------------------------------------------------------------------------


def test_a_signed_directory_passes_with_its_root_digest_as_the_pin(model_dir: Path, signer: Signer) -> None:
    signature = signer.sign(model_dir)
    result = _verify(model_dir, signature, _root_digest(model_dir), public_key=signer.public)
    assert result.status is Status.PASS, result.summary
    assert result.metrics["files"] == 3 and result.metrics["model_type"] == "directory"
    assert result.metrics["signed_digest"] == _root_digest(model_dir)


def test_an_extra_file_in_the_directory_fails_naming_it(model_dir: Path, signer: Signer) -> None:
    pin = _root_digest(model_dir)
    signature = signer.sign(model_dir)
    (model_dir / "tokenizer" / "added.py").write_text("import os")

    result = _verify(model_dir, signature, pin, public_key=signer.public)

    assert result.status is Status.FAIL
    assert [(f.id, f.location) for f in result.findings] == [("unsigned_file", "tokenizer/added.py")]


def test_a_missing_file_in_the_directory_fails_naming_it(model_dir: Path, signer: Signer) -> None:
    pin = _root_digest(model_dir)
    signature = signer.sign(model_dir)
    (model_dir / "config.json").unlink()

    result = _verify(model_dir, signature, pin, public_key=signer.public)

    assert result.status is Status.FAIL
    assert [(f.id, f.location) for f in result.findings] == [("missing_file", "config.json")]


def test_a_changed_file_in_the_directory_fails_naming_it(model_dir: Path, signer: Signer) -> None:
    pin = _root_digest(model_dir)
    signature = signer.sign(model_dir)
    (model_dir / "tokenizer" / "vocab.txt").write_text("a\nb\nX\n")

    result = _verify(model_dir, signature, pin, public_key=signer.public)

    assert result.status is Status.FAIL
    assert [(f.id, f.location) for f in result.findings] == [("changed_file", "tokenizer/vocab.txt")]


def test_a_file_model_signing_skips_is_still_an_unsigned_file(model_dir: Path, signer: Signer) -> None:
    """model_signing leaves git files out of the manifest and out of its own check; they ship all the same."""
    pin = _root_digest(model_dir)
    signature = signer.sign(model_dir)
    (model_dir / ".gitattributes").write_text("*.bin filter=lfs")

    result = _verify(model_dir, signature, pin, public_key=signer.public)

    assert result.status is Status.FAIL
    assert [(f.id, f.location) for f in result.findings] == [("unsigned_file", ".gitattributes")]


def test_a_signature_kept_inside_the_directory_is_not_an_extra_file(model_dir: Path, signer: Signer) -> None:
    """As model_signing's CLI does for a bundle written into the model: it is left out of the manifest."""
    from model_signing import hashing

    pin = _root_digest(model_dir)
    inside = model_dir / "model.sig"
    signing.Config().use_elliptic_key_signer(private_key=signer.private).set_hashing_config(
        hashing.Config().set_ignored_paths(paths=["model.sig"])
    ).sign(model_dir, inside)

    result = _verify(model_dir, inside, pin, public_key=signer.public)
    assert result.status is Status.PASS, result.summary

    # Anything else the signer left out still ships unsigned.
    (model_dir / "notes.md").write_text("unsigned")
    result = _verify(model_dir, inside, pin, public_key=signer.public)
    assert [(f.id, f.location) for f in result.findings] == [("unsigned_file", "notes.md")]


def test_a_directory_signed_as_another_model_does_not_cover_the_pin(model_dir: Path, signer: Signer) -> None:
    signature = signer.sign(model_dir)
    result = _verify(model_dir, signature, "f" * 64, public_key=signer.public)
    assert result.status is Status.FAIL and _ids(result) == ["not_pinned_artifact"]


# -- a certificate chain -------------------------------------------------------------------------------


def test_a_model_signed_with_a_certificate_from_the_trusted_ca_passes(model: Path, tmp_path: Path) -> None:
    ca = CertificateAuthority(tmp_path / "pki", "Model Signing CA")
    key, cert = ca.issue("release-bot")
    signature = model.with_name(model.name + ".sig")
    signing.Config().use_certificate_signer(
        private_key=key, signing_certificate=cert, certificate_chain=[ca.pem]
    ).sign(model, signature)

    result = _verify(model, signature, _sha(model), certificate_chain=[ca.pem])

    assert result.status is Status.PASS, result.summary
    signer = result.metrics["signer"]
    assert signer["type"] == "certificate"
    assert signer["subject"] == "CN=release-bot" and signer["issuer"] == "CN=Model Signing CA"
    assert result.inputs["trust"]["certificate_chain"][0]["subject"] == "CN=Model Signing CA"
    assert "release-bot" in result.summary


def test_a_certificate_from_an_untrusted_ca_fails(model: Path, tmp_path: Path) -> None:
    rogue = CertificateAuthority(tmp_path / "rogue", "Rogue CA")
    trusted = CertificateAuthority(tmp_path / "pki", "Model Signing CA")
    key, cert = rogue.issue("release-bot")
    signature = model.with_name(model.name + ".sig")
    signing.Config().use_certificate_signer(
        private_key=key, signing_certificate=cert, certificate_chain=[rogue.pem]
    ).sign(model, signature)

    result = _verify(model, signature, _sha(model), certificate_chain=[trusted.pem])

    assert result.status is Status.FAIL and _ids(result) == ["signature_invalid"]
    assert "Model Signing CA" in result.findings[0].detail


def test_a_key_signature_checked_against_a_ca_chain_fails(
    model: Path, signer: Signer, tmp_path: Path
) -> None:
    ca = CertificateAuthority(tmp_path / "pki", "Model Signing CA")
    result = _verify(model, signer.sign(model), _sha(model), certificate_chain=[ca.pem])
    assert result.status is Status.FAIL and _ids(result) == ["signature_invalid"]
    assert "no signing certificate" in result.summary


def test_a_certificate_signature_checked_against_a_public_key_fails(
    model: Path, signer: Signer, tmp_path: Path
) -> None:
    ca = CertificateAuthority(tmp_path / "pki", "Model Signing CA")
    key, cert = ca.issue("release-bot")
    signature = model.with_name(model.name + ".sig")
    signing.Config().use_certificate_signer(
        private_key=key, signing_certificate=cert, certificate_chain=[ca.pem]
    ).sign(model, signature)
    result = _verify(model, signature, _sha(model), public_key=signer.public)
    assert result.status is Status.FAIL and "signed with a certificate" in result.summary


# -- the spec, the resolver, the CLI ---------------------------------------------------------------------


def test_the_spec_needs_exactly_one_trust_root() -> None:
    with pytest.raises(ValidationError, match="exactly one of public_key or certificate_chain"):
        ModelSignatureCheck(kind="model_signature")
    with pytest.raises(ValidationError, match="exactly one of public_key or certificate_chain"):
        ModelSignatureCheck(kind="model_signature", public_key="a.pub", certificate_chain=["ca.pem"])
    with pytest.raises(ValidationError):
        ModelSignatureCheck(kind="model_signature", certificate_chain=[])  # not the system's trust store
    spec = ModelSignatureCheck(kind="model_signature", public_key="a.pub")
    assert spec.on_missing == "fail" and spec.signature is None


def _policy(directory: Path, checks: str) -> Path:
    path = directory / "policy.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            policy_version: 1
            release: {model: signed-model}
            owners: {security_engineer: {users: [bob]}}
            candidate:
              uri: models/model.skops
              sha256: "%s"
            gates:
              - id: provenance
                owner: security_engineer
                rationale: Only a model signed by the release key ships.
                checks:
            """
        )
        % _sha(directory / "models" / "model.skops")
        + textwrap.indent(textwrap.dedent(checks), " " * 6)
    )
    return path


def test_the_candidate_and_every_path_resolve_against_the_policy_file(
    tmp_path: Path, model: Path, signer: Signer, monkeypatch: pytest.MonkeyPatch
) -> None:
    signer.sign(model)
    policy = load_policy(_policy(tmp_path, "- kind: model_signature\n  public_key: keys/release.pub\n"))
    monkeypatch.chdir(tmp_path.parent)  # not the policy's directory
    catalog = release_catalog(
        DatasetCatalog.build({}, base_dir=policy.base_dir),
        policy,
        policy.candidate,
        record=None,
        substitute=False,
    )
    (_, spec, check_id), *_ = policy.iter_checks()

    resolved = resolve_model_signature_inputs(spec, catalog)
    assert resolved.model == model and resolved.signature == model.with_name("model.skops.sig")
    assert resolved.public_key == signer.public and resolved.pinned_sha256 == _sha(model)
    result = run_model_signature_check(spec, catalog, check_id=check_id)
    assert result.status is Status.PASS, result.summary
    assert result.check_id == "provenance.model_signature" and result.inputs["model"]["source"] == "candidate"


def test_without_a_candidate_the_check_cannot_run(tmp_path: Path) -> None:
    spec = ModelSignatureCheck(kind="model_signature", public_key="k.pub")
    with pytest.raises(Exception, match="no candidate"):
        resolve_model_signature_inputs(spec, DatasetCatalog.build({}))


def _cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = cli.main(["check", "model-signature", *argv, "--json"], out=out)
    return code, out.getvalue()


def test_cli_verifies_from_flags_and_from_a_policy(tmp_path: Path, model: Path, signer: Signer) -> None:
    signer.sign(model)
    code, out = _cli("--model", str(model), "--model-sha256", _sha(model), "--public-key", str(signer.public))
    assert code == 0 and json.loads(out)["status"] == "PASS"

    stranger = Signer(tmp_path / "other-keys", "stranger")
    code, out = _cli(
        "--model", str(model), "--model-sha256", _sha(model), "--public-key", str(stranger.public)
    )
    assert code == 1 and json.loads(out)["findings"][0]["id"] == "signature_invalid"

    policy = _policy(tmp_path, "- kind: model_signature\n  public_key: keys/release.pub\n")
    code, out = _cli("--policy", str(policy), "--gate", "provenance")
    assert code == 0 and json.loads(out)["check_id"] == "provenance.model_signature"

    model.with_name("model.skops.sig").unlink()
    code, out = _cli("--policy", str(policy), "--gate", "provenance", "--on-missing", "inconclusive")
    assert code == 3 and json.loads(out)["status"] == "INCONCLUSIVE"
