"""Every secret value hops reads (from 1Password) is registered here and redacted from all logs and output.

Redaction is by value. A plain secret (a token) is registered whole. A structured secret — a YAML or JSON
document such as the Talos secrets bundle or 1password-credentials.json, possibly base64-encoded, possibly with
JSON or base64 nested in its values — is registered whole *and* by each of its leaf values, never by its keys or
its lines: the lines of a bundle are structure (`secrets:`, `cluster:`, `certs:`) and redacting them would hide
ordinary words such as `external-secrets` or `kube-system/cluster-admin` in every message.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
from collections.abc import Iterator
from typing import Any

REDACTED = "[redacted]"

# A whole value is a secret by itself (the caller says so), so only the tiniest are refused: a 1–5 character
# "secret" would blank common fragments of every line, and no value hops reads from 1Password is that short.
MIN_WHOLE = 6
# A leaf of a document is registered from 16 characters. Every secret leaf of the documents hops reads is at
# least that long: Kubernetes/Talos bootstrap and trustd tokens are 23 (`[a-z0-9]{6}.[a-z0-9]{16}`), Talos
# cluster id/secret and secretbox keys 44 (base64 of 32 bytes), certificate/key blobs hundreds, the salt, hash,
# data and key of 1password-credentials.json 22+ and its AES-GCM iv 16 (base64url of 12 bytes). The shorter
# leaves are public format words and flags — "2", "A256GCM", "oct", "decrypt", "b5+jwk+json", true — which do
# appear in ordinary text. A 16+ character leaf that is not random (e.g. "localauthv2keykid") is harmless:
# it never occurs in hops' own messages, so registering it cannot blank an ordinary word.
MIN_LEAF = 16
# Nested encodings (base64 of JSON of base64 …) are followed this deep; real documents nest two levels at most.
MAX_DEPTH = 4

_BASE64 = re.compile(r"[A-Za-z0-9+/_-]+={0,2}")
_PEM_ARMOR = re.compile(r"-----(BEGIN|END) [A-Z0-9 ]+-----")

_values: set[str] = set()
_longest_first: list[str] = []   # _values sorted for redact(), rebuilt on register (redact runs per log line)
_lock = threading.Lock()


def register(value: str) -> str:
    """Remember `value` as secret; returns it unchanged. A YAML/JSON document (also base64-encoded) is registered
    whole and by each leaf value (see `register_structured`); a plain value whole."""
    found = set(_whole(value))
    found.update(_leaves_of_text(value, 0))
    with _lock:
        if not found <= _values:
            _values.update(found)
            _longest_first[:] = sorted(_values, key=len, reverse=True)
    return value


def register_structured(text: str) -> str:
    """Remember the document `text` whole and by each leaf value of at least MIN_LEAF characters (never its keys,
    never its lines); returns it unchanged. Same as `register`, named for call sites that know they hold a
    document."""
    return register(text)


def candidates(value: str) -> set[str]:
    """The strings `register(value)` would redact (for tests and diagnostics; the values themselves are secret)."""
    return set(_whole(value)) | set(_leaves_of_text(value, 0))


def _whole(value: str) -> Iterator[str]:
    """The value itself, and its base64 form: hops stores secrets in Kubernetes Secrets, whose data is base64."""
    value = value.strip()
    if len(value) >= MIN_WHOLE:
        yield value
        yield base64.b64encode(value.encode()).decode()


def _leaves_of_text(text: str, depth: int) -> Iterator[str]:
    """The secret fragments inside `text`: leaves when it is a document, decoded forms when it is base64 or PEM.
    A plain value yields nothing here (it is registered whole)."""
    if depth > MAX_DEPTH:
        return
    document = _parse(text)
    if document is not None:
        for leaf in _walk(document):
            yield from _leaf(leaf, depth + 1)
        return
    stripped = text.strip()
    if _PEM_ARMOR.search(stripped):
        yield from _pem_lines(stripped)
        return
    decoded = _unbase64(stripped)
    if decoded is not None:
        if len(decoded.strip()) >= MIN_LEAF:
            yield decoded.strip()
        yield from _leaves_of_text(decoded, depth + 1)


def _leaf(value: str, depth: int) -> Iterator[str]:
    """One leaf value of a document: itself when long enough, plus whatever it encodes."""
    stripped = value.strip()
    if len(stripped) >= MIN_LEAF:
        yield stripped
    yield from _leaves_of_text(stripped, depth)


def _parse(text: str) -> Any:
    """The mapping or list `text` holds as JSON or YAML, else None (a scalar is not a document)."""
    stripped = text.strip()
    if not stripped:
        return None
    try:
        data = json.loads(stripped)
    except ValueError:
        data = _parse_yaml(stripped) if "\n" in stripped or ": " in stripped else None
    return data if isinstance(data, (dict, list)) and data else None


def _parse_yaml(text: str) -> Any:
    import yaml  # lazy: `doit list` imports this module and must stay light

    try:
        return yaml.safe_load(text)
    except (yaml.YAMLError, ValueError, TypeError, RecursionError):
        return None


def _walk(data: Any) -> Iterator[str]:
    """Every scalar leaf of a parsed document as text; keys are skipped (they are structure, not secrets)."""
    if isinstance(data, dict):
        for item in data.values():
            yield from _walk(item)
    elif isinstance(data, list):
        for item in data:
            yield from _walk(item)
    elif isinstance(data, (str, int, float)) and not isinstance(data, bool):
        yield str(data)  # a long all-digit token is parsed by YAML as an int; it is still a secret


def _unbase64(text: str) -> str | None:
    """The UTF-8 text `text` encodes in (standard or URL-safe) base64, else None. Random key bytes are not UTF-8
    text, so only encoded documents and PEM blocks come back."""
    compact = "".join(text.split())
    if len(compact) < MIN_LEAF or not _BASE64.fullmatch(compact):
        return None
    padded = compact + "=" * (-len(compact) % 4)
    try:
        raw = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
        return raw.decode("utf-8")
    except (binascii.Error, ValueError):
        return None


def _pem_lines(text: str) -> Iterator[str]:
    """A PEM block whole and by its body lines: a log may show a key re-wrapped or one line of it. The armor lines
    (`-----BEGIN CERTIFICATE-----`) are public and are not registered; the joined body (the DER base64 without
    line breaks) is, as tools print it unwrapped."""
    yield text
    body = [line.strip() for line in text.splitlines() if line.strip() and not _PEM_ARMOR.fullmatch(line.strip())]
    body = [line for line in body if ":" not in line]  # "Proc-Type: 4,ENCRYPTED"-style headers are not secret
    yield from (line for line in body if len(line) >= MIN_LEAF)
    joined = "".join(body)
    if len(joined) >= MIN_LEAF:
        yield joined


def redact(text: str) -> str:
    """`text` with every registered secret replaced; longest first so a secret containing another is hidden whole."""
    if not _longest_first or not text:
        return text
    with _lock:
        values = list(_longest_first)
    for value in values:
        if value in text:
            text = text.replace(value, REDACTED)
    return text


def clear() -> None:
    """Forget all registered values (tests)."""
    with _lock:
        _values.clear()
        _longest_first.clear()
