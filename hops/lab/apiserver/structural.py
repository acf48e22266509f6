"""Custom resources checked against their CRD's structural `openAPIV3Schema`, as kube-apiserver's apiextensions
handler does: defaults filled in, unknown fields pruned (unless `x-kubernetes-preserve-unknown-fields`), then
types, required fields, enums, patterns, lengths and bounds validated, with the real field-error texts. The CRD's
`x-kubernetes-validations` rules run after that (hops.lab.apiserver.cel), unless a blocking error (a wrong type, a
missing required field, an unsupported enum value, a too long value) was found: then, like the real apiserver, one
last cause says the rules were not checked.
"""

from __future__ import annotations

import copy
import re
from functools import lru_cache
from typing import Any

from hops.lab.apiserver import cel

Cause = tuple[str, str, str]

# the field errors after which the apiserver does not run the CEL rules (apiextensions' hasBlockingErr)
BLOCKING = frozenset({"FieldValueRequired", "FieldValueNotSupported", "FieldValueTooLong", "FieldValueTooMany",
                      "FieldValueTypeInvalid"})
RULES_NOT_CHECKED: Cause = ("FieldValueInvalid", "<nil>", 'Invalid value: "null": some validation rules were not '
                            "checked because the object was invalid; correct the existing errors to complete "
                            "validation")

_JSON_TYPES = ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"), (list, "array"),
               (dict, "object"))


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    for python, name in _JSON_TYPES:
        if isinstance(value, python):
            return name
    return "object"


def _type_ok(schema: dict, value: Any) -> bool:
    if schema.get("x-kubernetes-int-or-string"):
        return isinstance(value, (int, str)) and not isinstance(value, bool)
    wanted = schema.get("type")
    if not wanted:
        return True
    got = type_name(value)
    return got == wanted or (wanted == "number" and got == "integer")


@lru_cache(maxsize=256)
def _pattern(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except re.error:
        return None


def _quote(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else str(value)


class Walker:
    """One pass over an object: builds its defaulted, pruned copy and collects the causes and pruned paths."""

    def __init__(self) -> None:
        self.causes: list[Cause] = []
        self.unknown: list[str] = []
        self.rules: list[tuple[list[dict], Any, str]] = []  # (x-kubernetes-validations, value, path), to run last

    def walk(self, schema: dict, value: Any, path: str) -> Any:
        if value is None:
            if schema.get("nullable") or not (schema.get("type") or schema.get("x-kubernetes-int-or-string")):
                return value
            self._type_error(schema, value, path)
            return value
        if not _type_ok(schema, value):
            self._type_error(schema, value, path)
            return value
        if isinstance(value, dict):
            return self._object(schema, value, path)
        if isinstance(value, list):
            items = schema.get("items")
            if isinstance(items, dict):
                return [self.walk(items, item, f"{path}[{index}]") for index, item in enumerate(value)]
            return value
        self._scalar(schema, value, path)
        return value

    def _type_error(self, schema: dict, value: Any, path: str) -> None:
        wanted = "integer-or-string" if schema.get("x-kubernetes-int-or-string") else schema.get("type")
        got = type_name(value)
        self.causes.append(("FieldValueTypeInvalid", path,
                            f'Invalid value: "{got}": {path} in body must be of type {wanted}: "{got}"'))

    def _object(self, schema: dict, value: dict, path: str) -> dict:
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        preserve = schema.get("x-kubernetes-preserve-unknown-fields") or schema.get("x-kubernetes-embedded-resource")
        out: dict = {}
        for key, sub in props.items():
            if key not in value and isinstance(sub, dict) and "default" in sub:
                out[key] = copy.deepcopy(sub["default"])
        for key, item in value.items():
            child = f"{path}.{key}" if path else key
            if key in props:
                out[key] = self.walk(props[key], item, child)
            elif isinstance(extra, dict):
                out[key] = self.walk(extra, item, child)
            elif preserve or extra is True:
                out[key] = item
            else:
                self.unknown.append(child)
        for key in schema.get("required") or []:
            if key not in out:
                self.causes.append(("FieldValueRequired", f"{path}.{key}" if path else key, "Required value"))
        if schema.get("x-kubernetes-validations"):
            self.rules.append((schema["x-kubernetes-validations"], out, path))
        return out

    def run_rules(self, schema: dict) -> None:
        """The CEL rules met during the walk, or the 'not checked' cause when a blocking error came first."""
        if not has_rules(schema):
            return
        if any(reason in BLOCKING for reason, _, _ in self.causes):
            self.causes.append(RULES_NOT_CHECKED)
            return
        for rules, value, path in self.rules:
            for rule in rules:
                test = cel.compile_rule(str(rule.get("rule", "")))
                if test is not None and not test(value):
                    message = rule.get("message") or f"failed rule: {rule.get('rule')}"
                    self.causes.append(("FieldValueInvalid", path or "<nil>",
                                        f'Invalid value: "{type_name(value)}": {message}'))

    def _scalar(self, schema: dict, value: Any, path: str) -> None:
        enum = schema.get("enum")
        if enum and value not in enum:
            supported = ", ".join(_quote(v) for v in enum)
            self.causes.append(("FieldValueNotSupported", path,
                                f"Unsupported value: {_quote(value)}: supported values: {supported}"))
            return
        if isinstance(value, str):
            self._string(schema, value, path)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            self._number(schema, value, path)

    def _string(self, schema: dict, value: str, path: str) -> None:
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            self.causes.append(("FieldValueTooLong", path, f"Too long: may not be longer than {schema['maxLength']}"))
        if "minLength" in schema and len(value) < schema["minLength"]:
            self.causes.append(("FieldValueInvalid", path, f'Invalid value: "{value}": {path} in body should be at '
                                                           f'least {schema["minLength"]} chars long'))
        pattern = schema.get("pattern")
        compiled = _pattern(pattern) if pattern else None
        if compiled is not None and not compiled.search(value):
            self.causes.append(("FieldValueInvalid", path,
                                f"Invalid value: \"{value}\": {path} in body should match '{pattern}'"))

    def _number(self, schema: dict, value: float, path: str) -> None:
        if "minimum" in schema and value < schema["minimum"]:
            self.causes.append(("FieldValueInvalid", path, f"Invalid value: {value}: {path} in body should be "
                                                           f"greater than or equal to {schema['minimum']}"))
        if "maximum" in schema and value > schema["maximum"]:
            self.causes.append(("FieldValueInvalid", path, f"Invalid value: {value}: {path} in body should be "
                                                           f"less than or equal to {schema['maximum']}"))


_with_rules: dict[int, tuple[dict, bool]] = {}  # id(schema) -> (schema kept alive, declares a rule somewhere)


def _declares_rules(node: Any) -> bool:
    if isinstance(node, dict):
        return bool(node.get("x-kubernetes-validations")) or any(_declares_rules(v) for v in node.values())
    if isinstance(node, list):
        return any(_declares_rules(v) for v in node)
    return False


def has_rules(schema: dict) -> bool:
    """Whether a CRD version's schema declares any x-kubernetes-validations (then the apiserver runs CEL)."""
    cached = _with_rules.get(id(schema))
    if cached is None or cached[0] is not schema:
        if len(_with_rules) > 256:
            _with_rules.clear()
        cached = _with_rules[id(schema)] = (schema, _declares_rules(schema))
    return cached[1]


def check(schema: dict, obj: dict) -> tuple[dict, list[Cause], list[str]]:
    """(obj defaulted and pruned, validation causes, pruned field paths). apiVersion, kind and metadata are the
    apiserver's own business and left alone."""
    walker = Walker()
    body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
    props = {k: v for k, v in (schema.get("properties") or {}).items() if k not in ("apiVersion", "kind", "metadata")}
    checked = walker.walk({**schema, "properties": props}, body, "")
    walker.run_rules(schema)
    if not isinstance(checked, dict):
        checked = body
    result = {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"), "metadata": obj.get("metadata"),
              **checked}
    return result, walker.causes, walker.unknown


def version_schema(crd: dict, version: str) -> dict | None:
    """The openAPIV3Schema a CRD declares for one version (or for all, at spec.validation), if any."""
    spec = crd.get("spec") or {}
    for entry in spec.get("versions") or []:
        if entry.get("name") == version:
            found = ((entry.get("schema") or {}).get("openAPIV3Schema"))
            if isinstance(found, dict):
                return found
    shared = (spec.get("validation") or {}).get("openAPIV3Schema")
    return shared if isinstance(shared, dict) else None
