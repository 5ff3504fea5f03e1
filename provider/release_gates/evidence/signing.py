"""Ed25519 keys for the evidence trail: signed checkpoints of chain heads and release attestations.

The private key never lives in the evidence database. It comes from an Airflow connection, so any
secrets backend holds it — ``release_gates_signing`` by default:

* ``password``: the PEM of an Ed25519 private key (PKCS#8, unencrypted), or ``extra.private_key``;
* ``extra.key_id`` (optional): the name verifiers know the key by; default :func:`key_id_of` the
  public key, ``ed25519:`` and 16 hex digits of the sha256 of its raw bytes.

Verifiers hold only public keys (PEM files, the policy's ``evidence.signing.public_keys``, or a
connection's ``extra.public_keys``), several at once: a rotated key keeps verifying what it signed.
``release-gates evidence keygen`` writes a new key pair.

Signatures cover a domain-separated message (:func:`checkpoint_message`), never a bare hash, so a
signature made for one purpose cannot be replayed as another.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from release_gates.exceptions import ReleaseGatesError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

#: The Airflow connection holding the signing key.
DEFAULT_SIGNING_CONN_ID = "release_gates_signing"
#: What a checkpoint signature covers: this prefix, then the canonical JSON of chain, seq and hash.
CHECKPOINT_DOMAIN = b"release-gates/checkpoint/v1\n"
#: A key id of the derived form (:func:`key_id_of`): it names one key, so it is never another key's name.
_DERIVED_ID = re.compile(r"^ed25519:[0-9a-f]{16}$")


class SigningKeyError(ReleaseGatesError, ValueError):
    """A signing or public key is missing, unreadable or not Ed25519 (the message names which)."""


def _raw_public(public_key: Ed25519PublicKey) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id_of(public_key: Ed25519PublicKey) -> str:
    """``ed25519:`` and the first 16 hex digits of the sha256 of the raw public key."""
    return "ed25519:" + hashlib.sha256(_raw_public(public_key)).hexdigest()[:16]


def _check_key_id(key_id: str, public_key: Ed25519PublicKey, what: str) -> None:
    """A key id of the derived form must be this key's own: ``ed25519:<fingerprint of K>`` bound to
    another key would make every report that says "signed by" it name a key that did not sign."""
    if _DERIVED_ID.match(key_id) and key_id != key_id_of(public_key):
        raise SigningKeyError(
            f"{what}: {key_id!r} is the key id of another key (this key's own is "
            f"{key_id_of(public_key)!r}); name it by its own id, or by a name not of the form ed25519:<hex>"
        )


def public_pem(public_key: Ed25519PublicKey) -> str:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return public_key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode("ascii")


def checkpoint_message(chain_id: str, seq: int, record_hash: str, record_kind: str) -> bytes:
    """The bytes a checkpoint signs: the chain, and the seq, hash and kind of the record it vouches for."""
    body = json.dumps(
        {"chain": chain_id, "hash": record_hash, "kind": record_kind, "seq": seq},
        sort_keys=True,
        separators=(",", ":"),
    )
    return CHECKPOINT_DOMAIN + body.encode("utf-8")


@dataclass(frozen=True)
class SigningKey:
    """An Ed25519 private key and the id verifiers know its public half by."""

    private_key: Ed25519PrivateKey
    key_id: str

    def __repr__(self) -> str:  # never the key material
        return f"SigningKey(key_id={self.key_id!r})"

    @classmethod
    def generate(cls, key_id: str | None = None) -> SigningKey:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        private = Ed25519PrivateKey.generate()
        return cls(private, key_id or key_id_of(private.public_key()))

    @classmethod
    def from_pem(cls, pem: str | bytes, key_id: str | None = None, *, source: str = "the key") -> SigningKey:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        data = pem.encode("utf-8") if isinstance(pem, str) else pem
        try:
            private = load_pem_private_key(data, password=None)
        except (ValueError, TypeError) as exc:
            # The exception text of cryptography names no key material; ours names only the source.
            raise SigningKeyError(
                f"{source} is not an unencrypted PEM private key ({type(exc).__name__})"
            ) from None
        if not isinstance(private, Ed25519PrivateKey):
            raise SigningKeyError(f"{source} is a {type(private).__name__}, not an Ed25519 private key")
        if key_id:
            _check_key_id(key_id, private.public_key(), source)
        return cls(private, key_id or key_id_of(private.public_key()))

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    @property
    def public_pem(self) -> str:
        return public_pem(self.public_key)

    def private_pem(self) -> str:
        from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

        return self.private_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode(
            "ascii"
        )

    def sign(self, message: bytes) -> str:
        """The base64 Ed25519 signature of ``message``."""
        return base64.b64encode(self.private_key.sign(message)).decode("ascii")


class PublicKeys(Mapping[str, "Ed25519PublicKey"]):
    """The public keys a verifier trusts, by key id (several: rotation)."""

    def __init__(self, keys: Mapping[str, Ed25519PublicKey] | None = None) -> None:
        self._keys = dict(keys or {})

    def __getitem__(self, key_id: str) -> Ed25519PublicKey:
        return self._keys[key_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"PublicKeys({sorted(self._keys)})"

    @classmethod
    def from_pems(
        cls, pems: Iterable[str | bytes] | Mapping[str, str | bytes], *, source: str = "a public key"
    ) -> PublicKeys:
        """Keys from PEM texts; a mapping gives each its key id, a list derives it (:func:`key_id_of`)."""
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
        from cryptography.hazmat.primitives.serialization import load_pem_public_key

        named = pems.items() if isinstance(pems, Mapping) else ((None, pem) for pem in pems)
        keys = cls()
        for key_id, pem in named:
            what = f"{source} {key_id}" if key_id else source
            data = pem.encode("utf-8") if isinstance(pem, str) else pem
            try:
                key = load_pem_public_key(data)
            except (ValueError, TypeError):
                raise SigningKeyError(f"{what} is not a PEM public key") from None
            if not isinstance(key, Ed25519PublicKey):
                raise SigningKeyError(f"{what} is not an Ed25519 public key")
            if key_id:
                _check_key_id(key_id, key, what)
            keys = keys.merged({key_id or key_id_of(key): key})
        return keys

    def merged(self, other: Mapping[str, Ed25519PublicKey]) -> PublicKeys:
        """Both sets of keys. One key id bound to two different keys is refused, never settled by
        order: whichever won, a signature by the other would be reported as the trusted one's."""
        keys = dict(self._keys)
        for key_id, key in other.items():
            if key_id in keys and _raw_public(keys[key_id]) != _raw_public(key):
                raise SigningKeyError(
                    f"two different public keys are trusted under key id {key_id!r}; "
                    "each key id must name one key (see which --key files, policy and connection list it)"
                )
            keys[key_id] = key
        return PublicKeys(keys)

    def problem(self, key_id: str, signature: str, message: bytes) -> str | None:
        """None when ``signature`` (base64) is ``key_id``'s over ``message``; else what is wrong."""
        from cryptography.exceptions import InvalidSignature

        key = self._keys.get(key_id)
        if key is None:
            known = ", ".join(sorted(self._keys)) or "none"
            return f"signed by key {key_id!r}, which is not among the trusted keys ({known})"
        try:
            key.verify(base64.b64decode(signature, validate=True), message)
        except (InvalidSignature, ValueError):
            return f"the signature by {key_id!r} does not match"
        return None


def _connection(conn_id: str) -> Any | None:
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return None


def load_signing_key(conn_id: str = DEFAULT_SIGNING_CONN_ID, *, required: bool = False) -> SigningKey | None:
    """The signing key of Airflow connection ``conn_id``; None when there is no such connection
    (:class:`SigningKeyError` instead when ``required``)."""
    conn = _connection(conn_id)
    if conn is None:
        if required:
            raise SigningKeyError(
                f"no Airflow connection {conn_id!r} holds the evidence signing key "
                "(create one with `release-gates evidence keygen`)"
            )
        return None
    extra = conn.extra_dejson or {}
    pem = conn.password or extra.get("private_key")
    if not pem:
        raise SigningKeyError(
            f"Airflow connection {conn_id!r} has no private key (password or extra.private_key)"
        )
    return SigningKey.from_pem(pem, extra.get("key_id"), source=f"the private key of connection {conn_id!r}")


def load_public_keys(
    paths: Iterable[str] = (),
    *,
    pems: Mapping[str, str] | None = None,
    conn_id: str | None = None,
) -> PublicKeys:
    """The trusted public keys: PEM files, a mapping key id → PEM (a policy's), a connection's
    ``extra.public_keys`` (same mapping) — and the public half of its private key, if it holds one."""
    from pathlib import Path

    keys = PublicKeys()
    for path in paths:
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise SigningKeyError(f"cannot read public key {path}: {exc.strerror}") from None
        keys = keys.merged(PublicKeys.from_pems([text], source=f"public key file {path}"))
    if pems:
        keys = keys.merged(PublicKeys.from_pems(pems, source="policy public key"))
    if conn_id:
        conn = _connection(conn_id)
        if conn is not None:
            listed = (conn.extra_dejson or {}).get("public_keys") or {}
            keys = keys.merged(PublicKeys.from_pems(listed, source=f"connection {conn_id!r} public key"))
            if conn.password or (conn.extra_dejson or {}).get("private_key"):
                signer = load_signing_key(conn_id)
                if signer is not None:
                    keys = keys.merged({signer.key_id: signer.public_key})
    return keys
