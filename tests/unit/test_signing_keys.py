"""cosign key files: decrypted with their password, one sentence for a wrong password or a
file that is no cosign key, and the key settings never shown or read from the source tree."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from pipelines.registry.signatures import (
    SigningKeyError,
    encrypt_signing_key,
    load_public_key,
    load_signing_key,
    payload,
)
from pipelines.settings import SettingsError, load_settings, public_view

KEY = ec.generate_private_key(ec.SECP256R1())
PEM = encrypt_signing_key(KEY, "right", b"s" * 32, b"n" * 24)


def test_a_cosign_key_opens_with_its_password_and_gives_its_public_key() -> None:
    """The decrypted key is the one encrypted; its public PEM loads as a verification key."""
    opened = load_signing_key(PEM, "right")
    assert opened.key.private_numbers() == KEY.private_numbers()
    assert load_public_key(opened.public_pem().decode()).public_numbers() == \
        KEY.public_key().public_numbers()
    assert "right" not in repr(opened)


@pytest.mark.parametrize(("pem", "password", "sentence"), [
    (PEM, "wrong", "does not open with the password given"),
    ("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "x",
     "is not a cosign private key"),
    (PEM.replace(PEM.splitlines()[1], "bm90IGpzb24="), "right", "damaged"),
])
def test_a_key_that_cannot_be_used_is_one_sentence(pem: str, password: str,
                                                    sentence: str) -> None:
    """A wrong password, a plain PEM key, a damaged file: each a SigningKeyError sentence."""
    with pytest.raises(SigningKeyError, match=sentence):
        load_signing_key(pem, password)


def test_the_payload_names_the_digest_as_cosign_does() -> None:
    """The simple-signing payload cosign verifies: docker-manifest-digest and the type."""
    critical = json.loads(payload("r.example/team/api", "sha256:" + "a" * 64))["critical"]
    assert critical == {"identity": {"docker-reference": "r.example/team/api"},
                        "image": {"docker-manifest-digest": "sha256:" + "a" * 64},
                        "type": "cosign container image signature"}


def test_key_settings_are_masked_and_refused_in_the_config_file(tmp_path: Path) -> None:
    """--print shows *** for the key and its password; node-pipelines.toml may not set them."""
    settings = load_settings({"source": str(tmp_path), "sign_key": "/keys/cosign.key"},
                             {"NODEPIPE_SIGN_PASSWORD": "right"})
    view = public_view(settings)
    assert (view["sign_key"], view["sign_password"]) == ("***", "***")
    (tmp_path / "node-pipelines.toml").write_text('sign_password = "x"\n')
    with pytest.raises(SettingsError, match="sign_password, a secret"):
        load_settings({"source": str(tmp_path)}, {})


def test_only_the_scrypt_costs_cosign_writes_are_accepted() -> None:
    """N=65536 (cosign 2, what is written here) opens; a file asking for N=2^24 is refused
    before any work (an attacker's file must not make opening it arbitrarily expensive)."""
    lines = PEM.splitlines()
    envelope = json.loads(base64.b64decode("".join(lines[1:-1])))
    assert envelope["kdf"]["params"] == {"N": 65536, "r": 8, "p": 1}
    envelope["kdf"]["params"]["N"] = 1 << 24
    body = base64.encodebytes(json.dumps(envelope).encode()).decode()
    with pytest.raises(SigningKeyError, match="KDF or cipher cosign does not write"):
        load_signing_key(f"{lines[0]}\n{body}{lines[-1]}\n", "right")
