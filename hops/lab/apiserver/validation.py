"""Field validation of request bodies (`fieldValidation=Strict|Warn|Ignore`) and of custom resources' schemas.

Built-in kinds: unknown fields are dropped like the Go decoder drops them; Warn (the default for HTTP writes)
adds a `Warning` header per field, Strict refuses the request with 400 `strict decoding error`. Custom resources:
their CRD's structural schema prunes, defaults and validates (422 Invalid). A server-side apply configuration
with an unknown field fails as the typed patch conversion of the real apiserver does.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from hops.lab.apiserver import errors, fields, structural
from hops.lab.apiserver.errors import ApiError
from hops.lab.apiserver.resources import ResourceType

STRICT, WARN, IGNORE = "Strict", "Warn", "Ignore"
MODES = (STRICT, WARN, IGNORE)


@dataclass
class RequestOptions:
    """What one HTTP request asked for, and the warnings its handling produced."""

    field_validation: str | None = None      # as sent; None: not given
    http: bool = False                       # False: the lab's own Python writes (unknown fields pruned silently)
    warnings: list[str] = field(default_factory=list)
    manager: str = ""                        # the field manager ownership is recorded for ("" = none)
    force: bool = False                      # server-side apply: take over conflicting fields
    managed: list | None = None              # ownership already worked out by a server-side apply

    @property
    def mode(self) -> str | None:
        """The directive in force: an HTTP write without one gets Warn, the apiserver's default."""
        return self.field_validation or (WARN if self.http else None)


_local = threading.local()


@contextmanager
def request(field_validation: str | None, http: bool = True, manager: str = "",
            force: bool = False) -> Iterator[RequestOptions]:
    """Scope one request's options (thread-local: every HTTP request has its handler thread)."""
    if field_validation not in (None, *MODES):
        raise errors.bad_request(f"invalid field validation directive: {field_validation}")
    options = RequestOptions(field_validation, http, manager=manager, force=force)
    previous = getattr(_local, "options", None)
    _local.options = options
    try:
        yield options
    finally:
        _local.options = previous


def current() -> RequestOptions:
    return getattr(_local, "options", None) or RequestOptions()


def _strict_error(rt: ResourceType, unknown: list[str]) -> ApiError:
    found = ", ".join(f'unknown field "{path}"' for path in unknown)
    return errors.bad_request(f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: strict '
                              f"decoding error: {found}")


def _report(rt: ResourceType, unknown: list[str]) -> None:
    if not unknown:
        return
    options = current()
    mode = options.mode
    if mode == STRICT:
        raise _strict_error(rt, unknown)
    if mode == WARN:
        options.warnings += [f'unknown field "{path}"' for path in unknown]


def decode(rt: ResourceType, obj: dict, crd: dict | None) -> dict:
    """obj as the apiserver stores it: unknown fields dropped (or refused), a custom resource defaulted and
    validated against `crd`'s schema for rt's version. Returns a new dict when anything changed."""
    if rt.custom:
        schema = structural.version_schema(crd, rt.version) if crd else None
        if schema is None:
            return obj
        checked, causes, unknown = structural.check(schema, obj)
        _report(rt, unknown)
        if causes:
            raise errors.invalid(rt.group, rt.kind, (obj.get("metadata") or {}).get("name", ""), causes)
        return checked
    tree = fields.tree(rt.key)
    if tree is None:
        return obj
    kept, unknown = fields.prune(tree, obj)
    _report(rt, unknown)
    return kept


def check_apply(rt: ResourceType, config: dict, crd: dict | None) -> None:
    """A server-side apply configuration must only name declared fields (the typed patch conversion)."""
    options = current()
    if options.field_validation in (IGNORE, WARN) or not (options.http or options.field_validation):
        return                 # decode() drops (and for Warn reports) them
    if rt.custom:
        schema = structural.version_schema(crd, rt.version) if crd else None
        unknown = ["." + path for path in structural.check(schema, config)[2]] if schema else []
    else:
        tree = fields.tree(rt.key)
        unknown = fields.prune(tree, config, keyed=True)[1] if tree else []
    if not unknown:
        return
    meta = config.get("metadata") or {}
    where = f"{meta.get('namespace', '') if rt.namespaced else ''}/{meta.get('name', '')}"
    gvk = f"{rt.api_version if rt.group else '/' + rt.version}, Kind={rt.kind}"
    if len(unknown) == 1:
        detail = f"{unknown[0]}: field not declared in schema"
    else:
        detail = "errors:\n" + "\n".join(f"  {path}: field not declared in schema" for path in unknown)
    raise ApiError(500, "", f"failed to create typed patch object ({where}; {gvk}): {detail}")


def warning_header(warnings: list[str]) -> str:
    """The `Warning: 299 - "..."` header lines (RFC 7234 warn-code 299, as kube-apiserver sends them)."""
    lines = []
    for text in warnings:
        escaped = text.replace("\\", "\\\\").replace('"', '\\"')
        lines.append(f'Warning: 299 - "{escaped}"\r\n')
    return "".join(lines)
