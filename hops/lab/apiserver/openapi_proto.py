"""The swagger 2.0 document as the protobuf message `openapi.v2.Document` (google/gnostic's OpenAPIv2.proto).

kubectl (client-go's discovery `OpenAPISchema`) asks /openapi/v2 only for
`application/com.github.proto-openapi.spec.v2@v1.0+protobuf` and parses the answer as protobuf, with no JSON
fallback; `kubectl explain --output=plaintext-openapiv2` and kubectl's apply patcher use it. Only what a schema
document holds is encoded: swagger, info, definitions (schemas with their vendor extensions).
"""

from __future__ import annotations

import json
import struct
from typing import Any

_json = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, sort_keys=True).encode

# openapi.v2.Schema field numbers by JSON key: (number, kind)
_SCHEMA_FIELDS: dict[str, tuple[int, str]] = {
    "$ref": (1, "string"), "format": (2, "string"), "title": (3, "string"), "description": (4, "string"),
    "default": (5, "any"), "multipleOf": (6, "double"), "maximum": (7, "double"), "exclusiveMaximum": (8, "bool"),
    "minimum": (9, "double"), "exclusiveMinimum": (10, "bool"), "maxLength": (11, "int"), "minLength": (12, "int"),
    "pattern": (13, "string"), "maxItems": (14, "int"), "minItems": (15, "int"), "uniqueItems": (16, "bool"),
    "maxProperties": (17, "int"), "minProperties": (18, "int"), "required": (19, "strings"), "enum": (20, "anys"),
    "additionalProperties": (21, "additional"), "type": (22, "type"), "items": (23, "items"),
    "allOf": (24, "schemas"), "properties": (25, "properties"), "discriminator": (26, "string"),
    "readOnly": (27, "bool"), "example": (30, "any"),
}
_VENDOR_EXTENSION = 31


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1            # negative int64s as their two's complement, like protobuf does
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _tag(number: int, wire: int) -> bytes:
    return _varint(number << 3 | wire)


def _length(number: int, data: bytes) -> bytes:
    return _tag(number, 2) + _varint(len(data)) + data


def _text(number: int, value: str) -> bytes:
    return _length(number, value.encode())


def _any(value: Any) -> bytes:
    """openapi.v2.Any: the value as YAML text (JSON is YAML), field 2."""
    return _text(2, _json(value))


def _named_any(name: str, value: Any) -> bytes:
    return _text(1, name) + _length(2, _any(value))


def _field(number: int, kind: str, value: Any) -> bytes:
    if kind == "string":
        return _text(number, str(value))
    if kind == "bool":
        return _tag(number, 0) + _varint(1 if value else 0)
    if kind == "int":
        return _tag(number, 0) + _varint(int(value))
    if kind == "double":
        return _tag(number, 1) + struct.pack("<d", float(value))
    if kind == "any":
        return _length(number, _any(value))
    if kind == "strings":
        return b"".join(_text(number, str(item)) for item in value)
    if kind == "anys":
        return b"".join(_length(number, _any(item)) for item in value)
    if kind == "type":                # TypeItem{repeated string value = 1}
        names = value if isinstance(value, list) else [value]
        return _length(number, b"".join(_text(1, str(name)) for name in names))
    if kind == "items":               # ItemsItem{repeated Schema schema = 1}
        items = value if isinstance(value, list) else [value]
        return _length(number, b"".join(_length(1, schema(item)) for item in items))
    if kind == "schemas":
        return b"".join(_length(number, schema(item)) for item in value)
    if kind == "properties":          # Properties{repeated NamedSchema additional_properties = 1}
        return _length(number, _named_schemas(value))
    if kind == "additional":          # AdditionalPropertiesItem{oneof {Schema schema = 1; bool boolean = 2}}
        inner = _tag(2, 0) + _varint(1 if value else 0) if isinstance(value, bool) else _length(1, schema(value))
        return _length(number, inner)
    raise ValueError(f"unknown field kind {kind}")


def _named_schemas(schemas: dict) -> bytes:
    return b"".join(_length(1, _text(1, name) + _length(2, schema(sub))) for name, sub in schemas.items())


def schema(doc: dict) -> bytes:
    """One openapi.v2.Schema; keys it has no field for are dropped, `x-` keys become vendor extensions."""
    out = bytearray()
    for key, value in doc.items():
        if key.startswith("x-"):
            out += _length(_VENDOR_EXTENSION, _named_any(key, value))
            continue
        known = _SCHEMA_FIELDS.get(key)
        if known is not None and value is not None:
            out += _field(known[0], known[1], value)
    return bytes(out)


def document(swagger: dict) -> bytes:
    """openapi.v2.Document: swagger = 1, info = 2 {title = 1, version = 2}, definitions = 9."""
    info = swagger.get("info") or {}
    out = _text(1, swagger.get("swagger", "2.0"))
    out += _length(2, _text(1, info.get("title", "")) + _text(2, info.get("version", "")))
    out += _length(9, _named_schemas(swagger.get("definitions") or {}))
    return out
