"""Decoding the Kubernetes protobuf bodies kubectl ≥ 1.32 sends for `kubectl create namespace|secret|configmap|
serviceaccount` (it sends `application/vnd.kubernetes.protobuf` and does not retry with JSON after a 415), and the
DeleteOptions body of the DELETE requests of `helm uninstall`.

Only those simple kinds are known; any other protobuf body still answers 415 Unsupported Media Type.
The envelope is "k8s\\0" + runtime.Unknown{typeMeta{apiVersion, kind}, raw}, raw being the object's message.
"""

from __future__ import annotations

import base64
import datetime
from typing import Any

MAGIC = b"k8s\x00"

Schema = dict[int, tuple[str, Any]]

_TIME: Schema = {1: ("seconds", "int"), 2: ("nanos", "int")}
_OWNER: Schema = {1: ("kind", "string"), 3: ("name", "string"), 4: ("uid", "string"), 5: ("apiVersion", "string"),
                  6: ("controller", "bool"), 7: ("blockOwnerDeletion", "bool")}
OBJECT_META: Schema = {
    1: ("name", "string"), 2: ("generateName", "string"), 3: ("namespace", "string"), 4: ("selfLink", "string"),
    5: ("uid", "string"), 6: ("resourceVersion", "string"), 7: ("generation", "int"),
    8: ("creationTimestamp", "time"), 9: ("deletionTimestamp", "time"), 10: ("deletionGracePeriodSeconds", "int"),
    11: ("labels", ("map", "string")), 12: ("annotations", ("map", "string")),
    13: ("ownerReferences", ("repeated", ("msg", _OWNER))), 14: ("finalizers", ("repeated", "string")),
}
_OBJECT_REFERENCE: Schema = {1: ("kind", "string"), 2: ("namespace", "string"), 3: ("name", "string"),
                             4: ("uid", "string"), 5: ("apiVersion", "string"), 6: ("resourceVersion", "string"),
                             7: ("fieldPath", "string")}
SCHEMAS: dict[tuple[str, str], Schema] = {
    ("v1", "Namespace"): {1: ("metadata", ("msg", OBJECT_META)),
                          2: ("spec", ("msg", {1: ("finalizers", ("repeated", "string"))})),
                          3: ("status", ("msg", {1: ("phase", "string")}))},
    ("v1", "ConfigMap"): {1: ("metadata", ("msg", OBJECT_META)), 2: ("data", ("map", "string")),
                          3: ("binaryData", ("map", "bytes")), 4: ("immutable", "bool")},
    ("v1", "Secret"): {1: ("metadata", ("msg", OBJECT_META)), 2: ("data", ("map", "bytes")), 3: ("type", "string"),
                       4: ("stringData", ("map", "string")), 5: ("immutable", "bool")},
    ("v1", "ServiceAccount"): {1: ("metadata", ("msg", OBJECT_META)),
                               2: ("secrets", ("repeated", ("msg", _OBJECT_REFERENCE))),
                               3: ("imagePullSecrets", ("repeated", ("msg", {1: ("name", "string")}))),
                               4: ("automountServiceAccountToken", "bool")},
}
# meta/v1 DeleteOptions, which `helm uninstall` (client-go) sends as the body of its DELETE requests; registered in
# every API group, so its envelope names whichever group the deleted object is in
DELETE_OPTIONS: Schema = {1: ("gracePeriodSeconds", "int"),
                          2: ("preconditions", ("msg", {1: ("uid", "string"), 2: ("resourceVersion", "string")})),
                          3: ("orphanDependents", "bool"), 4: ("propagationPolicy", "string"),
                          5: ("dryRun", ("repeated", "string"))}
KIND_SCHEMAS: dict[str, Schema] = {"DeleteOptions": DELETE_OPTIONS}
_UNKNOWN: Schema = {1: ("typeMeta", ("msg", {1: ("apiVersion", "string"), 2: ("kind", "string")})),
                    2: ("raw", "bytes"), 3: ("contentEncoding", "string"), 4: ("contentType", "string")}


class ProtobufError(ValueError):
    pass


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ProtobufError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(data: bytes) -> list[tuple[int, int, Any]]:
    out, pos = [], 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        value: int | bytes
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 2:
            length, pos = _varint(data, pos)
            value, pos = data[pos:pos + length], pos + length
            if pos > len(data):
                raise ProtobufError("truncated field")
        elif wire == 1:
            value, pos = data[pos:pos + 8], pos + 8
        elif wire == 5:
            value, pos = data[pos:pos + 4], pos + 4
        else:
            raise ProtobufError(f"unsupported wire type {wire}")
        out.append((number, wire, value))
    return out


def _scalar(kind: Any, value: Any) -> Any:
    if kind == "string":
        return value.decode("utf-8")
    if kind == "bytes":
        return base64.b64encode(value).decode()
    if kind == "int":
        return value - (1 << 64) if value >= 1 << 63 else value
    if kind == "bool":
        return bool(value)
    if kind == "time":
        seconds = _message(value, _TIME).get("seconds", 0)
        if not seconds:
            return None
        return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(kind, tuple) and kind[0] == "msg":
        return _message(value, kind[1])
    raise ProtobufError(f"unknown field kind {kind!r}")


def _message(data: bytes, schema: Schema) -> dict:
    obj: dict = {}
    for number, _, value in _fields(data):
        if number not in schema:
            continue                    # fields this emulation does not know are dropped, like unknown JSON ones
        name, kind = schema[number]
        if isinstance(kind, tuple) and kind[0] == "map":
            entry = {n: v for n, _, v in _fields(value)}
            key = entry.get(1, b"").decode("utf-8")
            obj.setdefault(name, {})[key] = _scalar(kind[1], entry.get(2, b""))
        elif isinstance(kind, tuple) and kind[0] == "repeated":
            obj.setdefault(name, []).append(_scalar(kind[1], value))
        else:
            converted = _scalar(kind, value)
            if converted not in (None, "", 0, False) or isinstance(kind, tuple):
                obj[name] = converted       # zero scalars are left out, as Go's omitempty JSON does
    return obj


def decode(body: bytes) -> dict | None:
    """The JSON-style object of a protobuf request body, or None when its kind is not one this module knows."""
    if not body.startswith(MAGIC):
        raise ProtobufError("missing the k8s protobuf magic number")
    envelope = _message(body[len(MAGIC):], _UNKNOWN)
    type_meta = envelope.get("typeMeta") or {}
    api_version, kind = type_meta.get("apiVersion", ""), type_meta.get("kind", "")
    schema = SCHEMAS.get((api_version, kind)) or KIND_SCHEMAS.get(kind)
    if schema is None:
        return None
    raw = base64.b64decode(envelope.get("raw", ""))
    return {"apiVersion": api_version, "kind": kind, **_message(raw, schema)}
