"""Signatures as cosign stores them: a simple-signing payload naming the signed manifest's
digest, an ECDSA P-256 signature over it in the `dev.cosignproject.cosign/signature`
annotation, under the tag `sha256-<hex>.sig` of the signed manifest; and cosign's key files
(the private key encrypted with scrypt and NaCl secretbox, the public key as PKIX PEM).

`cosign verify --key cosign.pub --insecure-ignore-tlog IMAGE@DIGEST` reads these signatures
(nothing is written to a transparency log: no `--tlog-upload`).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from nacl.exceptions import CryptoError
from nacl.secret import SecretBox

from pipelines.errors import InputError
from pipelines.registry.client import OCI_MANIFEST, Manifest, sha256_digest
from pipelines.registry.credentials import Credentials
from pipelines.registry.reference import parse_reference
from pipelines.registry.referrers import ArtifactClient

PAYLOAD_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
_KEY_HEADERS = ("ENCRYPTED SIGSTORE PRIVATE KEY", "ENCRYPTED COSIGN PRIVATE KEY")
# scrypt's cost as cosign writes it: N = 65536 since cosign 2 (sigstore's fork of go-tuf's
# `encrypted`), 32768 before. Only these are accepted: the file sets them, and an attacker
# who can change it must not make opening it arbitrarily expensive.
_SCRYPT_N = (65536, 32768)
_SCRYPT_MAXMEM = 256 * 1024 * 1024


class SigningKeyError(InputError):
    """A signing or verification key that cannot be used."""


@dataclass(frozen=True)
class SigningKey:
    """A decrypted ECDSA P-256 private key; never printed."""

    key: ec.EllipticCurvePrivateKey

    def __repr__(self) -> str:
        return "SigningKey(***)"

    def public_pem(self) -> bytes:
        """The public key as cosign writes cosign.pub."""
        return self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_signing_key(pem: str, password: str) -> SigningKey:
    """A cosign private key file's text, decrypted with `password`."""
    body = _pem_body(pem, _KEY_HEADERS)
    if body is None:
        raise SigningKeyError("the signing key is not a cosign private key (no ENCRYPTED "
                              "SIGSTORE PRIVATE KEY block): make one with cosign "
                              "generate-key-pair or cosign import-key-pair")
    try:
        envelope = json.loads(body)
        kdf, cipher = envelope["kdf"], envelope["cipher"]
        params = kdf["params"]
        if kdf["name"] != "scrypt" or cipher["name"] != "nacl/secretbox" or \
                params.get("N") not in _SCRYPT_N or (params.get("r"), params.get("p")) != (8, 1):
            raise SigningKeyError("the signing key uses a KDF or cipher cosign does not write")
        secret = hashlib.scrypt(password.encode(), salt=base64.b64decode(kdf["salt"]),
                                n=params["N"], r=8, p=1, dklen=32, maxmem=_SCRYPT_MAXMEM)
        der = SecretBox(secret).decrypt(base64.b64decode(envelope["ciphertext"]),
                                        base64.b64decode(cipher["nonce"]))
    except CryptoError:
        raise SigningKeyError("the signing key does not open with the password given "
                              "(NODEPIPE_SIGN_PASSWORD)") from None
    except (ValueError, KeyError, TypeError):
        raise SigningKeyError("the signing key file is damaged: it is not cosign's "
                              "encrypted key format") from None
    key = serialization.load_der_private_key(der, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise SigningKeyError("the signing key is not an ECDSA P-256 key")
    return SigningKey(key)


def encrypt_signing_key(key: ec.EllipticCurvePrivateKey, password: str, salt: bytes,
                        nonce: bytes) -> str:
    """`key` in cosign's encrypted private key format (for tests and key set-up)."""
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    secret = hashlib.scrypt(password.encode(), salt=salt, n=_SCRYPT_N[0], r=8, p=1, dklen=32,
                            maxmem=_SCRYPT_MAXMEM)
    sealed = SecretBox(secret).encrypt(der, nonce).ciphertext
    envelope = {"kdf": {"name": "scrypt", "params": {"N": _SCRYPT_N[0], "r": 8, "p": 1},
                        "salt": base64.b64encode(salt).decode()},
                "cipher": {"name": "nacl/secretbox", "nonce": base64.b64encode(nonce).decode()},
                "ciphertext": base64.b64encode(sealed).decode()}
    text = base64.encodebytes(json.dumps(envelope).encode()).decode()
    return f"-----BEGIN {_KEY_HEADERS[0]}-----\n{text}-----END {_KEY_HEADERS[0]}-----\n"


def load_public_key(pem: str) -> ec.EllipticCurvePublicKey:
    """A PKIX PEM public key (cosign.pub)."""
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except ValueError:
        raise SigningKeyError("the verification key is not a PEM public key such as "
                              "cosign.pub") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise SigningKeyError("the verification key is not an ECDSA key")
    return key


def signature_tag(digest: str) -> str:
    """Where cosign looks for the signatures of `digest`."""
    algorithm, _, hex_ = digest.partition(":")
    return f"{algorithm}-{hex_}.sig"


def payload(reference: str, digest: str) -> bytes:
    """The simple-signing payload cosign signs for `reference`@`digest`."""
    return json.dumps({"critical": {"identity": {"docker-reference": reference},
                                    "image": {"docker-manifest-digest": digest},
                                    "type": "cosign container image signature"},
                       "optional": None}, separators=(",", ":")).encode()


async def sign(client: ArtifactClient, repository: str, reference: str, digest: str,
               key: SigningKey) -> str:
    """Sign the manifest `digest` of `reference` (REGISTRY/REPO) and store the signature under
    its `.sig` tag, beside any already there; return the signature manifest's digest."""
    data = payload(reference, digest)
    signature = base64.b64encode(key.key.sign(data, ec.ECDSA(hashes.SHA256()))).decode()
    layer = {"mediaType": PAYLOAD_TYPE, "digest": await client.put_blob(repository, data),
             "size": len(data), "annotations": {SIGNATURE_ANNOTATION: signature}}
    existing = await client.get_manifest(repository, signature_tag(digest))
    layers = [*_layers(existing), layer] if existing else [layer]
    config = json.dumps({"architecture": "", "os": "", "config": {},
                         "rootfs": {"type": "layers",
                                    "diff_ids": [entry["digest"] for entry in layers]}},
                        separators=(",", ":")).encode()
    document = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": CONFIG_TYPE,
                           "digest": await client.put_blob(repository, config),
                           "size": len(config)},
                "layers": layers}
    body = json.dumps(document, separators=(",", ":")).encode()
    return await client.put_manifest(repository, signature_tag(digest),
                                     Manifest(sha256_digest(body), OCI_MANIFEST, body))


async def sign_all(
    ref_with_digest: str, digests: Sequence[str], key: SigningKey,
    credentials: Credentials | None, *, insecure_registries: Iterable[str] = (),
) -> int:
    """Sign the index at `ref_with_digest` and the manifests `digests` (its attestations) of
    the same repository; return how many signatures were stored."""
    ref = parse_reference(ref_with_digest)
    assert ref.digest is not None, "signing needs the index digest"
    async with ArtifactClient(ref.api_host, credentials,
                              insecure_registries=insecure_registries) as client:
        for digest in (ref.digest, *digests):
            await sign(client, ref.repository, ref.name, digest, key)
    return 1 + len(digests)


async def signature_problem(client: ArtifactClient, repository: str, digest: str,
                            key: ec.EllipticCurvePublicKey, what: str) -> str:
    """'' when a signature under `digest`'s `.sig` tag verifies with `key` and names
    `digest`; else one sentence about `what`."""
    found = await client.get_manifest(repository, signature_tag(digest))
    if found is None:
        return f"{what} is not signed (no {signature_tag(digest)})"
    for layer in _layers(found):
        signature = (layer.get("annotations") or {}).get(SIGNATURE_ANNOTATION, "")
        data = await client.get_blob(repository, str(layer.get("digest")))
        if not signature or data is None or sha256_digest(data) != layer.get("digest"):
            continue
        try:
            key.verify(base64.b64decode(signature), data, ec.ECDSA(hashes.SHA256()))
            signed = json.loads(data)["critical"]["image"]["docker-manifest-digest"]
        except (InvalidSignature, ValueError, KeyError, TypeError):
            continue
        if signed == digest:
            return ""
    return f"{what} has no signature that verifies with the given key"


def _layers(manifest: Manifest | None) -> list[dict[str, Any]]:
    try:
        layers = manifest.document().get("layers") if manifest else None
    except ValueError:
        return []
    return [layer for layer in layers or [] if isinstance(layer, dict)]


def _pem_body(pem: str, headers: tuple[str, ...]) -> bytes | None:
    for header in headers:
        begin, end = f"-----BEGIN {header}-----", f"-----END {header}-----"
        if begin in pem and end in pem:
            inner = pem.split(begin, 1)[1].split(end, 1)[0]
            try:
                return base64.b64decode("".join(inner.split()))
            except ValueError:
                return None
    return None
