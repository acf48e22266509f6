"""Label selectors (=, ==, !=, in, notin, exists, !key, gt/lt) and field selectors, parsed like the apiserver does."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from hops.lab.apiserver.errors import bad_request

Matcher = Callable[[dict], bool]

_SET_RE = re.compile(r"^([^\s!=<>(),]+)\s+(in|notin)\s*\((.*)\)$")
_KEY_RE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")

# Field labels a real apiserver accepts besides metadata.name / metadata.namespace, per resource.
FIELD_LABELS: dict[tuple[str, str], tuple[str, ...]] = {
    ("", "pods"): ("spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
                   "spec.hostNetwork", "status.phase", "status.podIP", "status.podIPs", "status.nominatedNodeName"),
    ("", "events"): ("involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
                     "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
                     "reason", "reportingComponent", "source", "type"),
    ("events.k8s.io", "events"): ("regarding.kind", "regarding.namespace", "regarding.name", "regarding.uid",
                                  "reason", "reportingController", "type"),
    ("", "secrets"): ("type",),
    ("", "nodes"): ("spec.unschedulable",),
    ("", "namespaces"): ("status.phase",),
    ("", "persistentvolumeclaims"): ("status.phase",),
    ("", "persistentvolumes"): ("status.phase",),
    ("apps", "replicasets"): ("status.replicas",),
    ("batch", "jobs"): ("status.successful",),
}


def _split_terms(text: str) -> list[str]:
    terms: list[str] = []
    depth = 0
    current: list[str] = []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            terms.append("".join(current))
            current = []
        else:
            current.append(char)
    terms.append("".join(current))
    return [term.strip() for term in terms if term.strip()]


def _check_key(key: str, term: str) -> str:
    if not _KEY_RE.match(key):
        raise bad_request(f"unable to parse requirement: values[0][{key}]: Invalid value: \"{key}\": "
                          f"name part must consist of alphanumeric characters, '-', '_' or '.' ({term})")
    return key


def parse_label_selector(text: str | None) -> Matcher | None:
    """A predicate on a labels dict, or None for "everything"."""
    if not text or not text.strip():
        return None
    requirements: list[tuple[str, str, tuple[str, ...]]] = []
    for term in _split_terms(text):
        match = _SET_RE.match(term)
        if match:
            values = tuple(v.strip() for v in match.group(3).split(",") if v.strip())
            requirements.append((_check_key(match.group(1), term), match.group(2), values))
        elif term.startswith("!"):
            requirements.append((_check_key(term[1:].strip(), term), "!", ()))
        else:
            for op in ("==", "!=", "=", ">", "<"):
                if op in term:
                    key, _, value = term.partition(op)
                    key, value = key.strip(), value.strip()
                    if op in (">", "<") and not value.lstrip("-").isdigit():
                        raise bad_request(f"unable to parse requirement: for 'Gt', 'Lt' operators, the value must be "
                                          f"an integer ({term})")
                    requirements.append((_check_key(key, term), "=" if op == "==" else op, (value,)))
                    break
            else:
                requirements.append((_check_key(term, term), "exists", ()))
    return lambda labels: all(_matches(labels, req) for req in requirements)


def _matches(labels: dict, requirement: tuple[str, str, tuple[str, ...]]) -> bool:
    key, op, values = requirement
    if op == "=":
        return key in labels and labels[key] == values[0]
    if op == "!=":
        return labels.get(key) != values[0]
    if op == "in":
        return key in labels and labels[key] in values
    if op == "notin":
        return key not in labels or labels[key] not in values
    if op == "exists":
        return key in labels
    if op == "!":
        return key not in labels
    if key not in labels:
        return False
    try:
        number = int(labels[key])
    except ValueError:
        return False
    return number > int(values[0]) if op == ">" else number < int(values[0])


def labels_matcher(labels: dict[str, str] | None) -> Matcher | None:
    """The Python-side `labels={...}` filter: every pair must match."""
    if not labels:
        return None
    pairs = list(labels.items())
    return lambda have: all(key in have and have[key] == value for key, value in pairs)


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)


def _field_value(obj: dict, path: str) -> str:
    current: Any = obj
    for part in path.split("."):
        if not isinstance(current, dict):
            return ""
        current = current.get(part)
    if current is None:
        return ""
    if isinstance(current, bool):
        return "true" if current else "false"
    if isinstance(current, list):       # status.podIPs
        return ",".join(item.get("ip", "") if isinstance(item, dict) else str(item) for item in current)
    return str(current)


def parse_field_selector(text: str | None, key: tuple[str, str]) -> Matcher | None:
    """A predicate on a whole object, or None. Unsupported field labels answer 400 like a real apiserver."""
    if not text or not text.strip():
        return None
    allowed = ("metadata.name", "metadata.namespace") + FIELD_LABELS.get(key, ())
    requirements: list[tuple[str, bool, str]] = []
    for term in re.split(r"(?<!\\),", text):
        term = term.strip()
        if not term:
            continue
        for op in ("!=", "==", "="):
            if op in term:
                path, _, value = term.partition(op)
                break
        else:
            raise bad_request(f'invalid selector: \'{text}\'; can\'t understand \'{term}\'')
        path = path.strip()
        if path not in allowed:
            raise bad_request(f'field label not supported: {path}')
        requirements.append((path, op != "!=", _unescape(value.strip())))

    def match(obj: dict) -> bool:
        return all((_field_value(obj, path) == value) == equal for path, equal, value in requirements)
    return match
