"""Value checks shared by the pydantic model and the talconfig parser (no pydantic here).

Each check takes the raw YAML value (any type), returns the normalised string or raises ValueError with a
message that starts with the offending value and says what was expected.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_VERSION = re.compile(r"^v?\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]+)?$")
_GITHUB_OWNER = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")
_GITHUB_REPO = re.compile(r"^[A-Za-z0-9._-]{1,100}$")


def _text(value: Any) -> str:
    if value is None:
        raise ValueError("is empty (expected a value)")
    if isinstance(value, (bool, dict, list)):
        raise ValueError(f"{value!r} is not a string")
    return str(value).strip()


def ip_address(value: Any) -> str:
    """An IPv4 or IPv6 address, in its normalised form."""
    try:
        return str(ipaddress.ip_address(_text(value)))
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address (expected e.g. 192.168.1.10)") from None


def cidr(value: Any) -> str:
    """A network in CIDR notation with no host bits set, normalised (a bare address becomes a /32 or /128)."""
    try:
        return str(ipaddress.ip_network(_text(value), strict=True))
    except ValueError:
        raise ValueError(f"{value!r} is not a network in CIDR notation with no host bits set "
                         "(expected e.g. 10.244.0.0/16)") from None


def https_endpoint(value: Any) -> str:
    """An https://host:port URL with a valid IP address or DNS name as host and no path; a trailing '/'
    is dropped."""
    expected = "(expected an https URL with host and port, e.g. https://192.168.1.10:6443)"
    try:
        text = _text(value)
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise ValueError(f"{value!r} is not a URL {expected}") from None
    if parts.scheme != "https":
        raise ValueError(f"{value!r} does not start with https:// {expected}")
    if not parts.hostname:
        raise ValueError(f"{value!r} has no host {expected}")
    _endpoint_host(value, parts.hostname, expected)
    if port is None:
        raise ValueError(f"{value!r} has no port {expected}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"{value!r} has a path; give only scheme, host and port {expected}")
    return text.rstrip("/")


def _endpoint_host(value: Any, host: str, expected: str) -> None:
    """The host must be an IP address or a DNS name: `172.29.51.999` is neither (it looks like an address)."""
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{value!r}: {host} is not a valid IPv6 address {expected}") from None
    elif re.fullmatch(r"[0-9.]+", host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise ValueError(f"{value!r}: {host} is not a valid IPv4 address {expected}") from None
    elif not all(_DNS_LABEL.match(label) and len(label) <= 63 for label in host.split(".")):
        raise ValueError(f"{value!r}: {host} is not a valid host name {expected}")


def endpoint_key(url: str) -> tuple[str, str, int | None]:
    """Comparable form of an endpoint: scheme, lower-case host, port."""
    parts = urlsplit(url.strip())
    try:
        port = parts.port
    except ValueError:
        port = None
    return parts.scheme, (parts.hostname or "").lower(), port


def dns_label(value: Any) -> str:
    """A DNS-1123 label: lower-case letters, digits and '-', at most 63 characters."""
    text = _text(value)
    if len(text) > 63 or not _DNS_LABEL.match(text):
        raise ValueError(f"{value!r} is not a DNS-1123 label (expected lower-case letters, digits and '-', "
                         "starting and ending with a letter or digit, at most 63 characters, e.g. talos-cp-1)")
    return text


def dns_subdomain(value: Any) -> str:
    """Dot-separated DNS-1123 labels, at most 253 characters (e.g. cluster.local)."""
    text = _text(value)
    if len(text) > 253 or not all(_DNS_LABEL.match(p) and len(p) <= 63 for p in text.split(".")):
        raise ValueError(f"{value!r} is not a DNS name (expected dot-separated DNS-1123 labels, e.g. cluster.local)")
    return text


def version(value: Any) -> str:
    """A version such as v1.8.3 or 1.8.3 (optionally -pre/+build), as written: a leading 'v' is kept."""
    text = _text(value)
    if not _VERSION.match(text):
        raise ValueError(f"{value!r} does not look like a version (expected e.g. v1.8.3 or 1.8.3; "
                         "quote it in YAML)")
    return text


def same_version(a: str, b: str) -> bool:
    """The two versions are equal apart from surrounding whitespace and a leading 'v'."""
    return a.strip().lstrip("v") == b.strip().lstrip("v")


def non_empty(value: Any) -> str:
    """The value as a stripped string, which must not be empty."""
    text = _text(value)
    if not text:
        raise ValueError("is empty (expected a non-empty string)")
    return text


def github_owner(value: Any) -> str:
    """A GitHub user or organisation name: a letter or digit, then up to 38 letters, digits or '-'."""
    text = _text(value)
    if not _GITHUB_OWNER.match(text):
        raise ValueError(f"{value!r} is not a GitHub user or organisation name "
                         "(expected letters, digits and '-', e.g. example-homelab)")
    return text


def github_repository(value: Any) -> str:
    """A GitHub repository name: 1 to 100 letters, digits, '.', '_' or '-', but not '.' or '..'."""
    text = _text(value)
    if not _GITHUB_REPO.match(text) or text in (".", ".."):
        raise ValueError(f"{value!r} is not a GitHub repository name (expected letters, digits, '.', '_', '-', "
                         "e.g. home-ops)")
    return text


def git_branch(value: Any) -> str:
    """A git branch name, by a subset of git's rules (no '..', whitespace or ~^:?*[ and backslash; no
    leading '-' or '/'; no trailing '/' or '.lock')."""
    text = _text(value)
    bad = (not text or ".." in text or text.startswith(("-", "/")) or text.endswith(("/", ".lock"))
           or re.search(r"[\s~^:?*\[\\]", text) is not None)
    if bad:
        raise ValueError(f"{value!r} is not a valid git branch name (expected e.g. main)")
    return text


def repo_path(value: Any) -> str:
    """A path inside the GitOps repository: relative, no '..'."""
    text = _text(value)
    if text.startswith("/") or ".." in PurePosixPath(text).parts or not text.strip("/"):
        raise ValueError(f"{value!r} is not a relative path inside the repository "
                         "(expected e.g. infrastructure/clusters/home-ops)")
    text = text.strip("/")
    return text


def file_path(value: Any) -> str:
    """A non-empty path as written (relative to the project root; not checked to exist)."""
    text = _text(value)
    if not text:
        raise ValueError("is empty (expected a file or folder path, relative to the project root)")
    return text
