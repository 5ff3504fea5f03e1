"""Model signature: the candidate was signed by a trusted party, over exactly the artifact that ships.

The signature is an OpenSSF model signing bundle (the ``model_signing`` package, extra
``model-signing``): a DSSE envelope over an in-toto statement that lists every file of the model with
its digest. It is verified offline with ``model_signing.verifying.Config``, against the public key or
the CA chain the policy trusts (no transparency log, never the system's trust store): the library
checks the signature and that the model on disk hashes to the signed manifest. Then the signed
manifest must cover exactly the pinned artifact:

* a single-file model: the manifest lists that one file, and its signed sha256 is the release's pin;
* a directory: the signed files are exactly the files in it — a file the library's verification
  skips (git files, the signer's ``ignore_paths``) still ships, so here it is an unsigned extra
  file — and the pin, when given, is the manifest's root digest (the statement's subject digest,
  model signing's one digest for the whole model).

PASS: a valid signature from the trusted party and exact coverage. FAIL: a signature that does not
verify (a tampered byte, a wrong key, an untrusted certificate, a corrupt bundle), an extra, missing
or changed file, a signed digest other than the pin; no signature file: FAIL or INCONCLUSIVE
(``on_missing``). INCONCLUSIVE: a valid signature but no pin to bind it to what ships. ERROR: the
check could not run (no model, an unreadable key, model-signing not installed) — never a PASS.
Results name files, digests and fingerprints, never key material. This module imports no Airflow.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from release_gates import __version__
from release_gates.results import CheckResult, Finding, Severity, Status, utcnow

log = logging.getLogger(__name__)

KIND = "model_signature"
INSTALL_HINT = "pip install 'airflow-provider-release-gates[model-signing]'"
#: The curves model signing's key verifier accepts (``_check_supported_ec_key`` in model_signing).
CURVES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
#: A signature bundle is a few KiB; a file this large is not one and is not read into memory.
MAX_SIGNATURE_BYTES = 16 * 1024 * 1024
#: Files named in findings one by one; the rest are counted in one more finding.
MAX_NAMED_FILES = 20
#: How ``verifying.Config.verify`` reports a model that differs from the manifest it authenticated.
_MISMATCH_PREFIX = "Signature mismatch"
#: model_signing's v0.2 statements (still verified by the library) list the files as subjects.
_COMPAT_PREDICATE = "https://model_signing/Digests/v0.1"


class _CannotRun(Exception):
    """The check could not run: its message becomes the ERROR result's summary."""


@dataclass(frozen=True)
class SignedManifest:
    """What the authenticated statement says about the model.

    Parsed here from the same bytes the library verified (its public API verifies but does not return
    the manifest), so the coverage below is judged on exactly what was signed.
    """

    model_name: str
    #: sha256 over the resources' digests in order: model signing's digest of the whole model.
    root_digest: str | None
    method: str
    hash_type: str
    #: identifier (a relative path, ``.`` for a single file; ``path:start:end`` for a shard) → digest.
    resources: Mapping[str, tuple[str, str]]
    shard_size: int | None = None
    allow_symlinks: bool = False

    def file_of(self, identifier: str) -> str:
        return identifier.rsplit(":", 2)[0] if self.method == "shards" else identifier

    @property
    def files(self) -> set[str]:
        return {self.file_of(identifier) for identifier in self.resources}


def evaluate_model_signature(
    model: Path,
    signature: Path,
    *,
    pinned_sha256: str | None,
    public_key: Path | None = None,
    certificate_chain: Sequence[Path] = (),
    on_missing: Literal["fail", "inconclusive"] = "fail",
    severity: Severity = Severity.HIGH,
    check_id: str = KIND,
    inputs: Mapping[str, Any] | None = None,
) -> CheckResult:
    """Verify ``signature`` over ``model`` with one trust root, then its coverage of the pinned artifact.

    :param model: the model file or directory that ships (already resolved to a local path).
    :param signature: the signature bundle.
    :param pinned_sha256: the release's pin (a file's sha256; a directory's root digest), or None.
    :param public_key: PEM public key trusted to sign — or ``certificate_chain``, the trusted CA PEMs.
    """
    pin = (pinned_sha256 or "").strip().lower() or None
    facts = dict(inputs or {})
    facts["model"] = {**facts.get("model", {}), "path": str(model), "sha256_pinned": pin}
    facts["signature"] = {"path": str(signature)}
    run = _Run(
        check_id, severity, utcnow(), facts, model, signature, pin, public_key, tuple(certificate_chain)
    )
    try:
        return _evaluate(run, on_missing)
    except _CannotRun as exc:
        return run.error(str(exc))


# --------------------------------------------------------------------------------------------------
# the run
# --------------------------------------------------------------------------------------------------


@dataclass
class _Run:
    """One verification: what it judges, and how its result is written."""

    check_id: str
    severity: Severity
    started: Any
    inputs: dict[str, Any]
    model: Path
    signature: Path
    pin: str | None
    public_key: Path | None
    chain: tuple[Path, ...]

    def finding(self, id: str, title: str, detail: str, location: str | None, **data: Any) -> Finding:
        return Finding(
            id=id, severity=self.severity, title=title, detail=detail, location=location, data=data
        )

    def result(
        self, status: Status, summary: str, findings: Sequence[Finding], metrics: dict[str, Any]
    ) -> CheckResult:
        return CheckResult(
            check_id=self.check_id,
            kind=KIND,
            status=status,
            summary=" ".join(summary.split())[:1000],
            findings=tuple(findings),
            metrics=metrics,
            inputs=self.inputs,
            engine=_engine(),
            started_at=self.started,
            finished_at=utcnow(),
        )

    def error(self, message: str) -> CheckResult:
        # The causes here are all permanent (a missing file, a bad key, a missing package): not retried.
        return CheckResult.error(
            check_id=self.check_id,
            kind=KIND,
            message=message,
            started_at=self.started,
            metrics={"error": {"type": "ModelSignatureError", "transient": False}},
            inputs=self.inputs,
            engine=_engine(),
        )


def _engine() -> dict[str, str]:
    from importlib import metadata

    try:
        return {"release-gates": __version__, "model-signing": metadata.version("model-signing")}
    except metadata.PackageNotFoundError:
        return {"release-gates": __version__}


def _evaluate(run: _Run, on_missing: Literal["fail", "inconclusive"]) -> CheckResult:
    model, signature, public_key, chain = run.model, run.signature, run.public_key, run.chain
    if (public_key is None) == (not chain):
        raise _CannotRun("give exactly one trust root: a public key or a certificate chain")
    verifying = _model_signing()
    if not model.exists():
        raise _CannotRun(f"model {model} does not exist")
    if public_key is not None:
        run.inputs["trust"] = {"public_key": _key_facts(public_key)}
    else:
        run.inputs["trust"] = {"certificate_chain": _chain_facts(chain)}
    if not signature.is_file():
        return _missing(run, signature, on_missing)
    data = _read_signature(signature)
    run.inputs["signature"]["sha256"] = hashlib.sha256(data).hexdigest()

    malformed = _malformed(data, with_certificate=public_key is None)
    verdict = _Verdict(malformed) if malformed else _verify(verifying, model, data, public_key, chain)
    if verdict.rejected is not None:
        finding = run.finding(
            "signature_invalid",
            "the model signature does not verify",
            f"{verdict.rejected}. Trusted: {_trust_description(run.inputs['trust'])}.",
            str(signature),
        )
        return run.result(Status.FAIL, f"signature rejected: {verdict.rejected}", [finding], {})

    try:
        bundle = json.loads(data)
        manifest = _signed_manifest(bundle)
        signer = _signer(bundle, run.inputs["trust"])
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        # The library accepted these bytes, so this is our reading failing: never a pass.
        from release_gates.datasets import describe_error

        raise _CannotRun(
            f"the verified signature {signature} could not be read: {describe_error(exc)}"
        ) from exc
    if model.is_dir():
        findings = _directory_coverage(run, manifest, matches=verdict.matches)
    else:
        findings = _file_coverage(run, manifest, matches=verdict.matches)
    signed_digest = _signed_digest(manifest, model)
    metrics: dict[str, Any] = {
        "signer": signer,
        "model_type": "directory" if model.is_dir() else "file",
        "files": len(manifest.files),
        "signed_digest": signed_digest,
        "root_digest": manifest.root_digest,
        "serialization": {"method": manifest.method, "hash_type": manifest.hash_type},
        "model_name": manifest.model_name,
    }
    if findings:
        summary = f"{len(findings)} problem(s): {findings[0].title}" + (
            f" ({findings[0].location})" if findings[0].location else ""
        )
        return run.result(Status.FAIL, summary, findings, metrics)
    who = _who(signer)
    if run.pin is None:
        finding = run.finding(
            "model_not_pinned",
            "the model has no sha256 pin",
            "The signature is valid, but without a pin nothing ties it to the artifact the release "
            "judges and promotes.",
            "candidate.sha256",
        )
        return run.result(
            Status.INCONCLUSIVE, f"signed by {who}, but the model is not pinned", [finding], metrics
        )
    if not verdict.matches:  # unreachable by the coverage rules above; kept so no path can pass it
        raise _CannotRun("the model differs from its signed manifest, but no difference was named")
    summary = (
        f"signed by {who}; the signature covers exactly the pinned model "
        f"({len(manifest.files)} file(s), digest {(signed_digest or '')[:12]}…)"
    )
    return run.result(Status.PASS, summary, [], metrics)


def _model_signing() -> Any:
    """``model_signing.verifying``, or an ERROR naming the extra to install."""
    try:
        from model_signing import verifying
    except ImportError as exc:
        raise _CannotRun(
            f"verifying model signatures needs the model-signing package ({exc}): {INSTALL_HINT}"
        ) from exc
    return verifying


def _missing(run: _Run, signature: Path, on_missing: Literal["fail", "inconclusive"]) -> CheckResult:
    status = Status.FAIL if on_missing == "fail" else Status.INCONCLUSIVE
    finding = run.finding(
        "signature_missing",
        "the model has no signature",
        f"No signature bundle at {signature}. Sign the model (model_signing sign key|certificate) and "
        "ship the bundle next to it, or name it in the check's signature.",
        str(signature),
    )
    return run.result(status, f"no model signature at {signature}", [finding], {})


def _read_signature(signature: Path) -> bytes:
    try:
        if signature.stat().st_size > MAX_SIGNATURE_BYTES:
            raise _CannotRun(f"signature {signature} is over {MAX_SIGNATURE_BYTES} bytes: not a bundle")
        return signature.read_bytes()
    except OSError as exc:
        raise _CannotRun(f"cannot read signature {signature}: {exc.strerror}") from exc


# --------------------------------------------------------------------------------------------------
# trust roots (fingerprints only: no key material leaves here)
# --------------------------------------------------------------------------------------------------


def _key_facts(path: Path) -> dict[str, Any]:
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise _CannotRun(f"cannot read the trusted public key {path}: {exc.strerror}") from exc
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise _CannotRun(f"the trusted public key {path} is not a PEM public key") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name not in CURVES:
        what = (
            f"an EC key on {key.curve.name}"
            if isinstance(key, ec.EllipticCurvePublicKey)
            else (f"a {type(key).__name__.removesuffix('PublicKey') or 'non-EC'} key")
        )
        raise _CannotRun(
            f"the trusted public key {path} is {what}; model signing verifies ECDSA keys on "
            f"{', '.join(CURVES.values())}"
        )
    pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    # The same fingerprint model signing writes into a key-signed bundle as its key hint.
    return {
        "path": str(path),
        "algorithm": f"ECDSA {CURVES[key.curve.name]}",
        "fingerprint_sha256": hashlib.sha256(pem).hexdigest(),
    }


def _chain_facts(paths: Sequence[Path]) -> list[dict[str, Any]]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    facts: list[dict[str, Any]] = []
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise _CannotRun(f"cannot read the trusted certificate file {path}: {exc.strerror}") from exc
        try:
            certificates = x509.load_pem_x509_certificates(data)
        except ValueError as exc:
            raise _CannotRun(f"the trusted certificate file {path} holds no PEM certificate") from exc
        facts += [
            {
                "path": str(path),
                "subject": c.subject.rfc4514_string(),
                "fingerprint_sha256": c.fingerprint(hashes.SHA256()).hex(),
            }
            for c in certificates
        ]
    return facts


def _trust_description(trust: Mapping[str, Any]) -> str:
    if "public_key" in trust:
        key = trust["public_key"]
        return f"the {key['algorithm']} key {key['fingerprint_sha256'][:16]}… ({key['path']})"
    return "the CA chain " + ", ".join(
        c["subject"] or c["fingerprint_sha256"][:16] for c in trust["certificate_chain"]
    )


# --------------------------------------------------------------------------------------------------
# verification (model_signing)
# --------------------------------------------------------------------------------------------------


def _malformed(data: bytes, *, with_certificate: bool) -> str | None:
    """Why ``data`` is not a bundle of the kind the trust root verifies, before the library reads it.

    The library assumes the shape (a key-signed bundle given to the certificate verifier ends in an
    AttributeError); this says plainly what is wrong with the file instead.
    """
    try:
        bundle = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return "the signature file is not a JSON signature bundle"
    if not isinstance(bundle, dict):
        return "the signature file is not a signature bundle (not a JSON object)"
    material = bundle.get("verificationMaterial")
    if not isinstance(bundle.get("dsseEnvelope"), dict) or not isinstance(material, dict):
        return "the signature bundle has no DSSE envelope or no verification material"
    if with_certificate and not isinstance(material.get("x509CertificateChain"), dict):
        return (
            "the bundle carries no signing certificate (signed with a bare key); the policy trusts a CA chain"
        )
    if not with_certificate and not isinstance(material.get("publicKey"), dict):
        return "the bundle was signed with a certificate, not a bare key; the policy trusts a public key"
    return None


def _rejections() -> tuple[type[BaseException], ...]:
    """What model signing raises for a signature it does not accept: a malformed bundle (ValueError,
    KeyError, …), a wrong key (ValueError "Key mismatch", InvalidSignature), an untrusted or unfit
    certificate (OpenSSL's X509StoreContextError, ValueError)."""
    from cryptography.exceptions import InvalidSignature

    rejected: list[type[BaseException]] = [ValueError, KeyError, TypeError, IndexError, InvalidSignature]
    try:
        from OpenSSL import crypto

        rejected += [crypto.X509StoreContextError, crypto.Error]
    except ImportError:  # only the certificate verifier needs it, and then model_signing failed to import
        pass
    return tuple(rejected)


@dataclass(frozen=True)
class _Verdict:
    #: Why the signature is not accepted, or None when it is authentic and from the trusted party.
    rejected: str | None
    #: Whether the model on disk hashes to the signed manifest (the library's own comparison).
    matches: bool = False


def _verify(
    verifying: Any, model: Path, data: bytes, public_key: Path | None, chain: tuple[Path, ...]
) -> _Verdict:
    """Run model signing's verification of ``data`` (the bytes read once) over ``model``.

    An authentic signature over other bytes than the model's (the library's "Signature mismatch",
    raised only after it authenticated the manifest) is not a rejection: the coverage checks then
    name what differs.
    """
    from release_gates.datasets import describe_error

    config_class: Any = verifying.Config
    config = config_class()
    try:
        if public_key is not None:
            config.use_elliptic_key_verifier(public_key=public_key)
        else:
            config.use_certificate_verifier(certificate_chain=list(chain))
    except Exception as exc:
        raise _CannotRun(f"model signing could not load the trust root: {describe_error(exc)}") from exc
    with tempfile.TemporaryDirectory(prefix="release-gates-sig-") as tmp:
        # Verify a private copy of the bytes read once: what is parsed afterwards is what was verified.
        copy = Path(tmp) / "model.sig"
        copy.write_bytes(data)
        try:
            # The library prints some warnings; stdout belongs to the CLI's --json document.
            with contextlib.redirect_stdout(io.StringIO()) as printed:
                config.verify(model, copy)
            if printed.getvalue().strip():
                log.warning("model_signing: %s", " ".join(printed.getvalue().split())[:500])
        except OSError as exc:
            raise _CannotRun(f"model signing could not read {model}: {exc.strerror or exc}") from exc
        except _rejections() as exc:
            if isinstance(exc, ValueError) and str(exc).startswith(_MISMATCH_PREFIX):
                return _Verdict(None, matches=False)
            if isinstance(exc, KeyError):  # a field of the bundle's schema (the library's own key)
                return _Verdict(
                    f"the signature bundle has no {exc.args[0] if exc.args else 'expected'} field"
                )
            return _Verdict(describe_error(exc) if str(exc) else type(exc).__name__)
        except Exception as exc:
            raise _CannotRun(f"model signing failed on {model}: {describe_error(exc)}") from exc
    return _Verdict(None, matches=True)


# --------------------------------------------------------------------------------------------------
# the authenticated statement
# --------------------------------------------------------------------------------------------------


def _signed_manifest(bundle: Mapping[str, Any]) -> SignedManifest:
    """The manifest of the in-toto statement in ``bundle``'s DSSE envelope (format: model signing's
    ``signing.Payload`` docstring; v0.2 statements listed the files as subjects)."""
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"], validate=True))
    subjects = statement["subject"]
    if statement.get("predicateType") == _COMPAT_PREDICATE:
        resources = {s["name"]: ("sha256", str(s["digest"]["sha256"]).lower()) for s in subjects}
        return SignedManifest("", None, "files", "sha256", resources)
    predicate = statement["predicate"]
    serialization = predicate.get("serialization") or {}
    resources = {
        str(r["name"]): (str(r["algorithm"]), str(r["digest"]).lower()) for r in predicate["resources"]
    }
    return SignedManifest(
        model_name=str(subjects[0].get("name", "")),
        root_digest=str(subjects[0]["digest"]["sha256"]).lower(),
        method=str(serialization.get("method", "files")),
        hash_type=str(serialization.get("hash_type", "sha256")),
        resources=resources,
        shard_size=int(serialization["shard_size"]) if "shard_size" in serialization else None,
        allow_symlinks=bool(serialization.get("allow_symlinks", False)),
    )


def _signer(bundle: Mapping[str, Any], trust: Mapping[str, Any]) -> dict[str, Any]:
    """Who signed: the trusted key's fingerprint, or the signing certificate's identity."""
    if "public_key" in trust:
        key = trust["public_key"]
        return {
            "type": "public_key",
            "algorithm": key["algorithm"],
            "fingerprint_sha256": key["fingerprint_sha256"],
        }
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    chain = bundle["verificationMaterial"]["x509CertificateChain"]["certificates"]
    leaf = x509.load_der_x509_certificate(base64.b64decode(chain[0]["rawBytes"]))
    return {
        "type": "certificate",
        "subject": leaf.subject.rfc4514_string(),
        "issuer": leaf.issuer.rfc4514_string(),
        "serial": format(leaf.serial_number, "x"),
        "fingerprint_sha256": leaf.fingerprint(hashes.SHA256()).hex(),
        "not_before": leaf.not_valid_before_utc.isoformat(),
        "not_after": leaf.not_valid_after_utc.isoformat(),
    }


def _who(signer: Mapping[str, Any]) -> str:
    if signer["type"] == "public_key":
        return f"the trusted {signer['algorithm']} key {signer['fingerprint_sha256'][:16]}…"
    return f"{signer['subject'] or 'a certificate'} (issued by {signer['issuer'] or 'the trusted CA'})"


def _signed_digest(manifest: SignedManifest, model: Path) -> str | None:
    """The digest the pin is compared with: a file's signed sha256, a directory's root digest."""
    if model.is_dir():
        return manifest.root_digest
    only = list(manifest.resources.values())
    return only[0][1] if len(only) == 1 and only[0][0] == "sha256" and manifest.method == "files" else None


# --------------------------------------------------------------------------------------------------
# coverage: the signed manifest against the pinned artifact
# --------------------------------------------------------------------------------------------------


def _not_pinned(run: _Run, signed: str, pin: str, location: str, what: str) -> Finding:
    return run.finding(
        "not_pinned_artifact",
        "the signature does not cover the pinned artifact",
        f"It signs {what} {signed}; the release pins {pin}. The signed model is not the one the release "
        "judges and promotes.",
        location,
        signed=signed,
        pinned=pin,
    )


def _file_coverage(run: _Run, manifest: SignedManifest, *, matches: bool) -> list[Finding]:
    model, pin, where = run.model, run.pin, str(run.model)
    if manifest.files != {"."}:
        names = sorted(manifest.files)
        return [
            run.finding(
                "signature_scope",
                "the signature is not over this single model file",
                f"It covers {len(names)} file(s): {', '.join(names[:MAX_NAMED_FILES])}.",
                where,
            )
        ]
    signed = _signed_digest(manifest, model)
    if signed is None:
        return [
            run.finding(
                "signed_digest_not_sha256",
                "the signed digest cannot be compared with the pinned sha256",
                f"The model was signed with {manifest.method} serialization and {manifest.hash_type}; the "
                "release pins the file's sha256. Sign it with model signing's defaults (files, sha256).",
                where,
            )
        ]
    # The pin first: a signature of another model is the finding a reader must see.
    findings = [_not_pinned(run, signed, pin, where, "sha256")] if pin is not None and signed != pin else []
    if not matches:
        actual = _file_sha256(model)
        findings.append(
            run.finding(
                "model_changed",
                "the model file is not the signed file",
                f"Its sha256 is {actual}; the signature signs {signed}: a byte changed after signing, or "
                "it is another file.",
                where,
                actual=actual,
                signed=signed,
            )
        )
    return findings


def _directory_coverage(run: _Run, manifest: SignedManifest, *, matches: bool) -> list[Finding]:
    model, pin = run.model, run.pin
    on_disk = _files_on_disk(model, skip=run.signature)
    signed = manifest.files
    findings: list[Finding] = []
    if pin is not None and manifest.root_digest != pin:
        findings.append(_not_pinned(run, manifest.root_digest or "nothing", pin, str(model), "root digest"))
    findings += _named(run, "unsigned_file", "a file of the model is not signed", sorted(on_disk - signed))
    findings += _named(
        run, "missing_file", "a signed file is missing from the model", sorted(signed - on_disk)
    )
    if not matches:
        changed = _changed_files(model, manifest, sorted(on_disk & signed))
        findings += _named(run, "changed_file", "a file of the model differs from the signed one", changed)
        if not findings:
            findings.append(
                run.finding(
                    "model_changed",
                    "the model does not match the signed manifest",
                    "Model signing's recomputed manifest differs from the signed one.",
                    str(model),
                )
            )
    return findings


def _named(run: _Run, id: str, title: str, files: list[str]) -> list[Finding]:
    findings = [run.finding(id, f"{title}: {name}", "", name) for name in files[:MAX_NAMED_FILES]]
    if len(files) > MAX_NAMED_FILES:
        rest = len(files) - MAX_NAMED_FILES
        findings.append(
            run.finding(id, f"{title}: {rest} more", ", ".join(files[MAX_NAMED_FILES:][:50]), None)
        )
    return findings


def _files_on_disk(root: Path, *, skip: Path) -> set[str]:
    """Every file under ``root`` (relative, ``/``-separated), symlinks as entries; the signature
    bundle itself when it lies inside (it cannot sign itself)."""
    skip_at = os.path.abspath(skip)
    found: set[str] = set()
    for directory, subdirectories, files in os.walk(root):  # does not descend into symlinked folders
        base = Path(directory)
        for name in [*files, *(d for d in subdirectories if (base / d).is_symlink())]:
            path = base / name
            if os.path.abspath(path) != skip_at:
                found.add(path.relative_to(root).as_posix())
    return found


def _changed_files(model: Path, manifest: SignedManifest, files: list[str]) -> list[str]:
    """Which of ``files`` hash differently than signed, recomputed the way they were signed."""
    from model_signing import hashing

    config_class: Any = hashing.Config  # untyped in model_signing
    config = config_class()
    config.set_ignored_paths(paths=[], ignore_git_paths=False)
    config.set_allow_symlinks(manifest.allow_symlinks)
    if manifest.method == "shards" and manifest.shard_size:
        config.use_shard_serialization(hashing_algorithm=manifest.hash_type, shard_size=manifest.shard_size)
    else:
        config.use_file_serialization(hashing_algorithm=manifest.hash_type)
    actual = {
        d.identifier: d.digest.digest_hex
        for d in config.hash(model, files_to_hash=[model / f for f in files]).resource_descriptors()
    }
    return sorted(
        {
            manifest.file_of(identifier)
            for identifier, (_, digest) in manifest.resources.items()
            if actual.get(identifier, digest) != digest
        }
        | {manifest.file_of(i) for i in actual if i not in manifest.resources}
    )


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
