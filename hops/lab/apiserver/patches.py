"""The patch flavours: JSON merge patch (RFC 7386), strategic merge patch, JSON patch (RFC 6902), and the merge
server-side apply uses. All functions return new structures and never modify their inputs."""

from __future__ import annotations

import copy
import json
from typing import Any

from hops.lab.apiserver.errors import ApiError, bad_request

# Merge keys of the built-in API types' lists (patchStrategy "merge"). Lists not named here are replaced whole.
MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "conditions": "type",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "ownerReferences": "uid",
    "resourceClaims": "name",
    "topologySpreadConstraints": "topologyKey",
}
PRIMITIVE_SET_LISTS = {("metadata", "finalizers")}


def _ports_key(*lists: Any) -> str:
    """Container ports merge on containerPort, service ports on port."""
    for items in lists:
        for item in items or ():
            if isinstance(item, dict) and "containerPort" in item:
                return "containerPort"
    return "port"


def merge_key(field: str, *lists: Any) -> str | None:
    if field == "ports":
        return _ports_key(*lists)
    return MERGE_KEYS.get(field)


# ---------------------------------------------------------------------------------------------------- merge patch

def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: maps merge recursively, null deletes, everything else (lists too) replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# ------------------------------------------------------------------------------------------- strategic merge patch

def _clean(value: Any) -> Any:
    """A patch fragment inserted as a whole: drop directives and null-valued keys."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if not k.startswith("$") and v is not None}
    if isinstance(value, list):
        return [_clean(v) for v in value if not (isinstance(v, dict) and v.get("$patch") in ("delete", "replace"))]
    return value


def strategic_merge(original: Any, patch: Any, path: tuple[str, ...] = ()) -> Any:
    """Apply a strategic merge patch (with the $patch, $retainKeys, $deleteFromPrimitiveList and
    $setElementOrder directives kubectl sends). Returns None when the patch deletes the whole map."""
    if not isinstance(patch, dict):
        return _clean(patch)
    if not isinstance(original, dict):
        original = {}
    directive = patch.get("$patch")
    if directive == "delete":
        return None
    if directive == "replace":
        return _clean(patch)
    result = dict(original)
    orders: dict[str, list] = {}
    for key, value in patch.items():
        if key.startswith("$"):
            if key.startswith("$deleteFromPrimitiveList/"):
                field = key.split("/", 1)[1]
                if isinstance(result.get(field), list):
                    drop = value or []
                    result[field] = [item for item in result[field] if item not in drop]
            elif key.startswith("$setElementOrder/"):
                orders[key.split("/", 1)[1]] = value or []
            continue
        if value is None:
            result.pop(key, None)
            continue
        current = result.get(key)
        if isinstance(value, dict):
            merged = strategic_merge(current if isinstance(current, dict) else {}, value, path + (key,))
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list):
            mkey = merge_key(key, value, current)
            if path[-1:] + (key,) in PRIMITIVE_SET_LISTS and isinstance(current, list):
                result[key] = current + [item for item in value if item not in current]
            elif mkey and isinstance(current, list):
                result[key] = _merge_list(current, value, mkey, path + (key,))
            else:
                result[key] = _clean(value)
        else:
            result[key] = value
    retain = patch.get("$retainKeys")
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    for field, order in orders.items():
        if isinstance(result.get(field), list):
            result[field] = _reorder(result[field], order, merge_key(field, result[field]))
    return result


def _merge_list(current: list, patch: list, key: str, path: tuple[str, ...]) -> list:
    if any(isinstance(item, dict) and item.get("$patch") == "replace" for item in patch):
        return _clean(patch)
    result = list(current)
    for item in patch:
        if not isinstance(item, dict):
            result.append(item)
            continue
        wanted = item.get(key)
        position = next((i for i, have in enumerate(result)
                         if isinstance(have, dict) and wanted is not None and have.get(key) == wanted), None)
        if item.get("$patch") == "delete":
            if position is not None:
                del result[position]
            continue
        if position is None:
            result.append(_clean(item))
        else:
            merged = strategic_merge(result[position], item, path)
            if merged is None:
                del result[position]
            else:
                result[position] = merged
    return result


def _reorder(items: list, order: list, key: str | None) -> list:
    def ident(item: Any) -> Any:
        return item.get(key) if key and isinstance(item, dict) else json.dumps(item, sort_keys=True)
    wanted = [ident(entry) for entry in order]
    ranked = {value: index for index, value in enumerate(wanted)}
    return sorted(items, key=lambda item: ranked.get(ident(item), len(wanted)))


def apply_merge(original: dict, applied: dict) -> dict:
    """Server-side apply for one field manager: the applied fields win, maps merge, associative lists merge
    by their keys, other lists are replaced."""
    return strategic_merge(original, applied)


# ------------------------------------------------------------------------------------------------------ JSON patch

def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise ApiError(422, "Invalid", f"the JSON pointer {path!r} must start with '/'")
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _walk(doc: Any, parts: list[str], path: str) -> Any:
    for part in parts:
        if isinstance(doc, dict):
            if part not in doc:
                raise ApiError(422, "Invalid", f"the server rejected our request due to an error in our request: "
                                              f"doc is missing path: \"{path}\": missing value")
            doc = doc[part]
        elif isinstance(doc, list):
            doc = doc[_index(doc, part, path)]
        else:
            raise ApiError(422, "Invalid", f"doc is missing path: \"{path}\"")
    return doc


def _index(items: list, part: str, path: str, allow_end: bool = False) -> int:
    if part == "-" and allow_end:
        return len(items)
    try:
        index = int(part)
    except ValueError:
        raise ApiError(422, "Invalid", f"unable to access invalid index: {part} in {path}") from None
    if index < 0 or index > len(items) or (index == len(items) and not allow_end):
        raise ApiError(422, "Invalid", f"the server rejected our request due to an error in our request: "
                                      f"add operation does not apply: doc is missing path: \"{path}\"")
    return index


def json_patch(doc: Any, operations: Any) -> Any:
    """RFC 6902 add / remove / replace / move / copy / test."""
    if not isinstance(operations, list):
        raise bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    doc = copy.deepcopy(doc)
    for op in operations:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise ApiError(422, "Invalid", f"the server rejected our request due to an error in our request: "
                                          f"invalid JSON patch operation {op!r}")
        kind, path = op["op"], op["path"]
        if kind == "add":
            doc = _add(doc, path, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            doc, _ = _remove(doc, path)
        elif kind == "replace":
            doc, _ = _remove(doc, path)
            doc = _add(doc, path, copy.deepcopy(op.get("value")))
        elif kind == "move":
            doc, value = _remove(doc, op["from"])
            doc = _add(doc, path, value)
        elif kind == "copy":
            value = copy.deepcopy(_walk(doc, _pointer(op["from"]), op["from"]))
            doc = _add(doc, path, value)
        elif kind == "test":
            if _walk(doc, _pointer(path), path) != op.get("value"):
                raise ApiError(422, "Invalid", f"the server rejected our request due to an error in our request: "
                                              f"testing value {path} failed: test failed")
        else:
            raise ApiError(422, "Invalid", f"Unexpected kind: {kind}")
    return doc


def _add(doc: Any, path: str, value: Any) -> Any:
    parts = _pointer(path)
    if not parts:
        return value
    parent = _walk(doc, parts[:-1], path)
    last = parts[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, path, allow_end=True), value)
    else:
        raise ApiError(422, "Invalid", f"doc is missing path: \"{path}\"")
    return doc


def _remove(doc: Any, path: str) -> tuple[Any, Any]:
    parts = _pointer(path)
    if not parts:
        return None, doc
    parent = _walk(doc, parts[:-1], path)
    last = parts[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise ApiError(422, "Invalid", f"the server rejected our request due to an error in our request: "
                                          f"remove operation does not apply: doc is missing path: \"{path}\"")
        return doc, parent.pop(last)
    if isinstance(parent, list):
        return doc, parent.pop(_index(parent, last, path))
    raise ApiError(422, "Invalid", f"doc is missing path: \"{path}\"")
