"""Fake-but-consistent certificates for the lab.

A "certificate" here is a PEM-looking block wrapping JSON (subject, serial, fingerprint, issuer fingerprint).
No cryptography: the lab only needs to tell whether a client certificate was issued by a given CA, the way a
real Talos node rejects a talosconfig from another cluster. Every value says "hops-lab-fake" so nobody mistakes
it for a real secret.
"""

from __future__ import annotations

import base64
import json
import os

_CERT = "CERTIFICATE"
_KEY = "ED25519 PRIVATE KEY"
FAKE_MARK = "hops-lab-fake"


def _hex(size: int) -> str:
    """What secrets.token_hex answers (os.urandom, hex); without importing `secrets` and `random` in every tool."""
    return os.urandom(size).hex()


class PkiError(ValueError):
    """Text that is not a lab certificate (or key); the message says what was expected."""


def _pem(kind: str, payload: dict) -> str:
    body = base64.b64encode(json.dumps(payload, sort_keys=True).encode()).decode()
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return "\n".join([f"-----BEGIN {kind}-----", *lines, f"-----END {kind}-----"]) + "\n"


def _unpem(text: str, kind: str) -> dict:
    text = text.strip()
    head, tail = f"-----BEGIN {kind}-----", f"-----END {kind}-----"
    if not (text.startswith(head) and text.endswith(tail)):
        raise PkiError(f"expected a PEM block of type {kind}")
    body = "".join(text[len(head):-len(tail)].split())
    try:
        return json.loads(base64.b64decode(body))
    except (ValueError, json.JSONDecodeError):
        raise PkiError(f"the {kind} block does not decode") from None


def new_ca(subject: str) -> dict[str, str]:
    """A CA identity: {'crt': PEM, 'key': PEM}; its fingerprint is random, so two CAs never match."""
    fingerprint = _hex(16)
    crt = _pem(_CERT, {"subject": subject, "ca": True, "fingerprint": fingerprint, "issuer": fingerprint,
                       "serial": _hex(8), "note": FAKE_MARK})
    key = _pem(_KEY, {"fingerprint": fingerprint, "secret": f"{FAKE_MARK}-{_hex(16)}"})
    return {"crt": crt, "key": key}


def issue(ca: dict[str, str], subject: str, roles: list[str] | None = None) -> dict[str, str]:
    """A client certificate 'signed' by `ca` (needs the CA key, as a real issuer would)."""
    ca_cert = _unpem(ca["crt"], _CERT)
    ca_key = _unpem(ca["key"], _KEY)
    if ca_key["fingerprint"] != ca_cert["fingerprint"]:
        raise PkiError("the CA key does not belong to the CA certificate")
    fingerprint = _hex(16)
    crt = _pem(_CERT, {"subject": subject, "ca": False, "fingerprint": fingerprint,
                       "issuer": ca_cert["fingerprint"], "roles": roles or [], "serial": _hex(8),
                       "note": FAKE_MARK})
    key = _pem(_KEY, {"fingerprint": fingerprint, "secret": f"{FAKE_MARK}-{_hex(16)}"})
    return {"crt": crt, "key": key}


def read_cert(pem: str) -> dict:
    return _unpem(pem, _CERT)


def fingerprint(pem: str) -> str:
    return read_cert(pem)["fingerprint"]


def issued_by(cert_pem: str, ca_pem: str) -> bool:
    """True when `cert_pem` was issued by the CA `ca_pem` (False for anything unreadable)."""
    try:
        return read_cert(cert_pem)["issuer"] == read_cert(ca_pem)["fingerprint"]
    except PkiError:
        return False


def key_matches(cert_pem: str, key_pem: str) -> bool:
    try:
        return _unpem(key_pem, _KEY)["fingerprint"] == read_cert(cert_pem)["fingerprint"]
    except PkiError:
        return False


def b64(pem: str) -> str:
    """Talos configs carry PEM blocks base64-encoded (machine.ca.crt, talosconfig ca/crt/key)."""
    return base64.b64encode(pem.encode()).decode()


def unb64(value: str) -> str:
    try:
        return base64.b64decode(value, validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        raise PkiError("the value is not base64-encoded PEM") from None
