"""Server-side apply's field ownership: `metadata.managedFields`, conflicts, and removal of fields a manager stops
applying.

A field set is a set of paths; a path is a tuple of FieldsV1 keys (`f:spec`, `k:{"name":"app"}`, `v:"x"`, and
`.` for a keyed list item itself). Lists keyed the way the real apiserver keys them (containers by name, ports by
containerPort+protocol, CRD lists with `x-kubernetes-list-type: map`) get one path per item; other lists are
atomic (one leaf). Ownership is tracked for requests that name a manager: every HTTP write (the `fieldManager`
parameter, else the client's User-Agent product) and the lab's own `Store.server_side_apply`.
"""

from __future__ import annotations

import json
from typing import Any

from hops.lab.apiserver import fields
from hops.lab.apiserver.errors import ApiError

Path = tuple[str, ...]
APPLY, UPDATE = "Apply", "Update"
_META_FIELDS = ("labels", "annotations", "finalizers", "ownerReferences")


class Shape:
    """Where lists are keyed: a cursor over a built-in field tree or a CRD's openAPIV3Schema."""

    def __init__(self, node: Any, schema: bool) -> None:
        self.node = node
        self.schema = schema

    def child(self, key: str) -> Shape:
        node = self.node
        if self.schema:
            props = node.get("properties") or {} if isinstance(node, dict) else {}
            extra = node.get("additionalProperties") if isinstance(node, dict) else None
            return Shape(props.get(key, extra if isinstance(extra, dict) else {}), True)
        if key == "metadata":
            return Shape(fields.META, False)
        return Shape(node.get(key, fields.ANY) if isinstance(node, dict) else fields.ANY, False)

    def item(self) -> Shape:
        node = self.node
        if self.schema:
            return Shape((node.get("items") if isinstance(node, dict) else None) or {}, True)
        return Shape(node[0] if isinstance(node, list) and node else fields.ANY, False)

    def list_keys(self) -> tuple[str, ...] | None:
        node = self.node
        if self.schema:
            if isinstance(node, dict) and node.get("x-kubernetes-list-type") == "map":
                return tuple(node.get("x-kubernetes-list-map-keys") or ()) or None
            return None
        item = node[0] if isinstance(node, list) and node else None
        return tuple(item[fields.KEYED]) if isinstance(item, dict) and fields.KEYED in item else None

    def is_set(self, name: str) -> bool:
        if self.schema:
            return isinstance(self.node, dict) and self.node.get("x-kubernetes-list-type") == "set"
        return name == "finalizers"


def shape_for(key: tuple[str, str], schema: dict | None) -> Shape:
    if schema is not None:
        return Shape(schema, True)
    return Shape(fields.tree(key) or {}, False)


# list-map keys the schema defaults (a port without protocol is keyed as TCP)
KEY_DEFAULTS = {"protocol": "TCP"}


def _keyed(item: Any, keys: tuple[str, ...]) -> bool:
    return isinstance(item, dict) and all(k in item or k in KEY_DEFAULTS for k in keys) and any(k in item for k in keys)


def _item_key(item: dict, keys: tuple[str, ...]) -> str:
    return "k:" + json.dumps({k: item.get(k, KEY_DEFAULTS.get(k)) for k in keys}, separators=(",", ":"))


def paths(shape: Shape, value: Any, prefix: Path = (), name: str = "") -> set[Path]:
    """Every leaf path of `value` (an apply configuration or an object's managed part)."""
    if isinstance(value, dict):
        if not value:
            return {prefix} if prefix else set()
        out: set[Path] = set()
        for key, item in value.items():
            out |= paths(shape.child(key), item, prefix + (f"f:{key}",), key)
        return out
    if isinstance(value, list) and value:
        keys = shape.list_keys()
        if keys and all(_keyed(i, keys) for i in value):
            out = set()
            for item in value:
                here = prefix + (_item_key(item, keys),)
                out.add(here + (".",))
                out |= {p for p in paths(shape.item(), item, here) if p != here}
            return out
        if shape.is_set(name) and all(not isinstance(i, (dict, list)) for i in value):
            return {prefix + ("v:" + json.dumps(i),) for i in value}
    return {prefix}


def managed_part(obj: dict | None, subresource: str, status_apart: bool) -> dict:
    """The part of an object a write through `subresource` ("" or "status") owns: for the status subresource only
    status; else spec and the rest, some metadata, and status unless the kind keeps it apart."""
    if obj is None:
        return {}
    if subresource == "status":
        return {"status": obj["status"]} if "status" in obj else {}
    meta = obj.get("metadata") or {}
    out = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata", "status")}
    picked = {k: meta[k] for k in _META_FIELDS if k in meta}
    if picked:
        out["metadata"] = picked
    if not status_apart and "status" in obj:
        out["status"] = obj["status"]
    return out


_MISSING = object()


def get(value: Any, path: Path) -> Any:
    """The value at a path (the item for a trailing "."), or _MISSING."""
    for part in path:
        if part == ".":
            continue
        if part.startswith("f:"):
            if not isinstance(value, dict) or part[2:] not in value:
                return _MISSING
            value = value[part[2:]]
        elif part.startswith("k:"):
            wanted = json.loads(part[2:])
            if not isinstance(value, list):
                return _MISSING
            value = next((i for i in value if isinstance(i, dict) and
                          all(i.get(k, KEY_DEFAULTS.get(k)) == v for k, v in wanted.items())), _MISSING)
            if value is _MISSING:
                return value
        elif part.startswith("v:"):
            wanted = json.loads(part[2:])
            return wanted if isinstance(value, list) and wanted in value else _MISSING
    return value


def remove(obj: dict, path: Path) -> None:
    """Delete the field (or keyed item, or set value) at path from obj, in place."""
    parent: Any = obj
    for part in path[:-1]:
        parent = get(parent, (part,)) if part != "." else parent
        if parent is _MISSING:
            return
    last = path[-1]
    if last == ".":
        if len(path) >= 2:
            container = get(obj, path[:-2]) if len(path) > 2 else obj
            target = get(obj, path[:-1])
            if isinstance(container, list) and target is not _MISSING:
                container.remove(target)
        return
    if last.startswith("f:") and isinstance(parent, dict):
        parent.pop(last[2:], None)
    elif last.startswith("v:") and isinstance(parent, list):
        value = json.loads(last[2:])
        if value in parent:
            parent.remove(value)


def to_fields_v1(owned: set[Path]) -> dict:
    tree: dict = {}
    for path in sorted(owned):
        node = tree
        for part in path:
            node = node.setdefault(part, {})
    return tree


def from_fields_v1(tree: Any, prefix: Path = ()) -> set[Path]:
    if not isinstance(tree, dict) or not tree:
        return {prefix} if prefix else set()
    out: set[Path] = set()
    for key, sub in tree.items():
        out |= from_fields_v1(sub, prefix + (key,))
    return out


def path_string(path: Path) -> str:
    """fieldpath.Path.String(): `.spec.containers[name="app"].image`, `.metadata.finalizers[="x"]`."""
    out = ""
    for part in path:
        if part == ".":
            continue
        if part.startswith("f:"):
            out += "." + part[2:]
        elif part.startswith("k:"):
            keys = json.loads(part[2:])
            out += "[" + ",".join(f"{k}={json.dumps(v)}" for k, v in keys.items()) + "]"
        elif part.startswith("v:"):
            out += "[=" + part[2:] + "]"
    return out


class Entry:
    """One managedFields entry: who, how, at which apiVersion and subresource, owning which paths."""

    def __init__(self, manager: str, operation: str, api_version: str, subresource: str, owned: set[Path],
                 time: str) -> None:
        self.manager, self.operation, self.api_version = manager, operation, api_version
        self.subresource, self.owned, self.time = subresource, owned, time

    @classmethod
    def parse(cls, raw: dict) -> Entry:
        return cls(raw.get("manager", ""), raw.get("operation", UPDATE), raw.get("apiVersion", ""),
                   raw.get("subresource", ""), from_fields_v1(raw.get("fieldsV1")), raw.get("time", ""))

    def same(self, manager: str, operation: str, subresource: str) -> bool:
        return (self.manager, self.operation, self.subresource) == (manager, operation, subresource)

    def describe(self) -> str:
        """How conflict messages name the manager (printManager)."""
        text = json.dumps(self.manager)
        if self.subresource:
            text += f" with subresource {json.dumps(self.subresource)}"
        if self.operation == UPDATE:
            text += f" using {self.api_version}" + (f" at {self.time}" if self.time else "")
        return text

    def dump(self) -> dict:
        out = {"manager": self.manager, "operation": self.operation, "apiVersion": self.api_version,
               "time": self.time, "fieldsType": "FieldsV1", "fieldsV1": to_fields_v1(self.owned)}
        if self.subresource:
            out["subresource"] = self.subresource
        return out


def load(obj: dict) -> list[Entry]:
    raw = (obj.get("metadata") or {}).get("managedFields") or []
    return [Entry.parse(e) for e in raw if isinstance(e, dict)]


def dump(entries: list[Entry]) -> list[dict] | None:
    kept = [e.dump() for e in entries if e.owned]
    return kept or None


def conflict_error(conflicts: list[tuple[Entry, Path]]) -> ApiError:
    causes = [{"reason": "FieldManagerConflict", "message": f"conflict with {entry.describe()}",
               "field": path_string(path)} for entry, path in conflicts]
    if len(conflicts) == 1:
        entry, path = conflicts[0]
        message = f"Apply failed with 1 conflict: conflict with {entry.describe()}: {path_string(path)}"
    else:
        by_manager: dict[str, list[str]] = {}
        for entry, path in conflicts:
            by_manager.setdefault(entry.describe(), []).append(path_string(path))
        lines = []
        for manager in sorted(by_manager):
            lines.append(f"conflicts with {manager}:")
            lines += [f"- {p}" for p in sorted(by_manager[manager])]
        message = f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)
    return ApiError(409, "Conflict", message, {"causes": causes})


def _covered(path: Path, owned: set[Path]) -> bool:
    """Whether any path in owned is path itself, below it, or (for a keyed item) inside the same item."""
    base = path[:-1] if path and path[-1] == "." else path
    return any(p[:len(base)] == base for p in owned)


def apply(entries: list[Entry], shape: Shape, live: dict, config: dict, merged: dict, manager: str,
          api_version: str, subresource: str, force: bool, stamp: str, status_apart: bool) -> list[Entry]:
    """Server-side apply of `config` by `manager` over `live`, whose plain merge is `merged`: removes from
    `merged` (in place) the fields this manager no longer applies and nobody else owns; returns the new
    managedFields entries. 409 on conflicts unless force."""
    applied = paths(shape, managed_part(config, subresource, status_apart))
    conflicts = []
    for entry in entries:
        if entry.same(manager, APPLY, subresource):
            continue
        for path in sorted(applied & entry.owned):
            if get(live, path) != get(config, path):
                conflicts.append((entry, path))
    if conflicts and not force:
        raise conflict_error(conflicts)
    taken = {path for _, path in conflicts}
    mine = next((e for e in entries if e.same(manager, APPLY, subresource)), None)
    others = [e for e in entries if e is not mine]
    for entry in others:
        entry.owned -= taken
    if mine is not None:
        still = set().union(*(e.owned for e in others)) if others else set()
        # whole list items first (their fields go with them), then single fields
        for path in sorted(mine.owned - applied, key=lambda p: (p[-1] != ".", len(p))):
            if not _covered(path, still) and not _covered(path, applied):
                remove(merged, path)
    if mine is not None and mine.owned == applied and mine.api_version == api_version:
        stamp = mine.time          # nothing changed for this manager: a no-op apply stays a no-op
    entry = Entry(manager, APPLY, api_version, subresource, applied, stamp)
    return others + [entry]


def update(entries: list[Entry], shape: Shape, old: dict | None, new: dict, manager: str, api_version: str,
           subresource: str, stamp: str, status_apart: bool) -> list[Entry]:
    """A non-apply write (create, update, patch) by `manager`: it owns what it changed; what it removed is
    nobody's any more."""
    before = paths(shape, managed_part(old, subresource, status_apart))
    after = paths(shape, managed_part(new, subresource, status_apart))
    changed = {p for p in after if p not in before or get(old, p) != get(new, p)}
    removed = before - after
    if not changed and not removed:
        return entries
    out = []
    mine = None
    for entry in entries:
        entry.owned -= removed
        if entry.same(manager, UPDATE, subresource):
            mine = entry
        else:
            entry.owned -= changed
        out.append(entry)
    if mine is None:
        mine = Entry(manager, UPDATE, api_version, subresource, set(), stamp)
        out.append(mine)
    mine.owned |= changed
    mine.time, mine.api_version = stamp, api_version
    return out
