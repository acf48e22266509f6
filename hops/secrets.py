"""Every secret value hops reads (from 1Password) is registered here and redacted from all logs and output."""

from __future__ import annotations

import threading

REDACTED = "[redacted]"
_values: set[str] = set()
_lock = threading.Lock()


def register(value: str) -> str:
    """Remember `value` (and each of its lines, for multi-line bundles) as secret; returns it unchanged."""
    with _lock:
        for candidate in {value, *value.splitlines()}:
            candidate = candidate.strip()
            if len(candidate) >= 6:  # shorter fragments would redact ordinary words
                _values.add(candidate)
    return value


def redact(text: str) -> str:
    """`text` with every registered secret replaced; longest first so a secret containing another is hidden whole."""
    if not _values or not text:
        return text
    with _lock:
        values = sorted(_values, key=len, reverse=True)
    for value in values:
        if value in text:
            text = text.replace(value, REDACTED)
    return text


def clear() -> None:
    """Forget all registered values (tests)."""
    with _lock:
        _values.clear()
