"""Discovery documents: /version, /api, /api/v1, /apis, /apis/G, /apis/G/V; the OpenAPI documents: /openapi/v3
(an index), /openapi/v3/<group-version> (a PATCH operation per kind listing the `fieldValidation` query parameter,
so kubectl leaves validation to the server, and the kinds' schemas for `kubectl explain`) and /openapi/v2 (the
same schemas as swagger 2.0 definitions, JSON or protobuf). Schemas come from hops.lab.apiserver.openapi.

Documents are built once per registry generation (CRDs change it; the OpenAPI ones also follow CRD updates) and
served as cached bytes.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from typing import overload

from hops.lab.apiserver import openapi, openapi_proto
from hops.lab.apiserver.resources import Registry, ResourceType

_dumps = json.JSONEncoder(separators=(",", ":")).encode


def version_info(git_version: str) -> dict:
    core = git_version.lstrip("v").split("-", 1)[0].split(".")
    major, minor = (core + ["0", "0"])[:2]
    return {"major": major, "minor": minor, "emulationMajor": major, "emulationMinor": minor,
            "minCompatibilityMajor": major, "minCompatibilityMinor": str(max(int(minor) - 1, 0)),
            "gitVersion": git_version, "gitCommit": "0" * 40, "gitTreeState": "clean",
            "buildDate": "2024-12-10T11:37:18Z", "goVersion": "go1.22.9", "compiler": "gc",
            "platform": "linux/amd64"}


def _group_version(group: str, version: str) -> str:
    return f"{group}/{version}" if group else version


def api_versions(address: str) -> dict:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}]}


def _group(registry: Registry, group: str) -> dict:
    versions = registry.groups[group]
    entries = [{"groupVersion": _group_version(group, v), "version": v} for v in versions]
    return {"name": group, "versions": entries, "preferredVersion": entries[0]}


def api_group_list(registry: Registry) -> dict:
    return {"kind": "APIGroupList", "apiVersion": "v1",
            "groups": [_group(registry, group) for group in registry.groups if group]}


def api_group(registry: Registry, group: str) -> dict | None:
    if not group or group not in registry.groups:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(registry, group)}


def _resource_entries(rt: ResourceType) -> list[dict]:
    main: dict = {"name": rt.plural, "singularName": rt.singular, "namespaced": rt.namespaced, "kind": rt.kind,
                  "verbs": list(rt.verbs)}
    if rt.short_names:
        main["shortNames"] = list(rt.short_names)
    if rt.categories:
        main["categories"] = list(rt.categories)
    main["storageVersionHash"] = hashlib.sha256(f"{rt.group}/{rt.plural}".encode()).hexdigest()[:11]
    out = [main]
    for sub in sorted(rt.subresources):
        entry: dict = {"name": f"{rt.plural}/{sub}", "singularName": "", "namespaced": rt.namespaced,
                       "kind": rt.kind, "verbs": ["get", "patch", "update"]}
        if sub == "scale":
            entry.update(group="autoscaling", version="v1", kind="Scale")
        elif sub == "log":
            entry["verbs"] = ["get"]
        elif sub == "exec":
            entry.update(kind="PodExecOptions", verbs=["create", "get"])
        out.append(entry)
    return out


def resource_list(registry: Registry, group: str, version: str) -> dict | None:
    types = registry.in_group_version(group, version)
    if not types:
        return None
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": _group_version(group, version),
            "resources": [entry for rt in types for entry in _resource_entries(rt)]}


# ----------------------------------------------------------------------------------------------------- OpenAPI

_PARAMETERS = [
    {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
    {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
    {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
    {"name": "force", "in": "query", "schema": {"type": "boolean", "uniqueItems": True}},
]


def _patch_path(rt: ResourceType) -> dict:
    """The PATCH operation of one kind. It lists no request body on purpose: kubectl's client-side apply then
    takes strategic-merge metadata from its compiled-in types (as exact as the real server's), not from the
    lab's schemas, and `fieldValidation` tells it the server validates."""
    path_params = [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}]
    if rt.namespaced:
        path_params.append({"name": "namespace", "in": "path", "required": True, "schema": {"type": "string"}})
    return {
        "parameters": path_params,
        "patch": {
            "tags": [f"{rt.group or 'core'}_{rt.version}"],
            "description": f"partially update the specified {rt.kind}",
            "operationId": f"patch{'Namespaced' if rt.namespaced else ''}{rt.kind}",
            "parameters": _PARAMETERS,
            "responses": {"200": {"description": "OK"}, "201": {"description": "Created"}},
            "x-kubernetes-action": "patch",
            "x-kubernetes-group-version-kind": {"group": rt.group, "version": rt.version, "kind": rt.kind},
        },
    }


def openapi_document(registry: Registry, group: str, version: str, git_version: str,
                     crd_lookup: openapi.CrdLookup | None = None) -> dict | None:
    """/openapi/v3/<group-version>: a PATCH path per kind and the schemas of its kinds (and what they use)."""
    types = registry.in_group_version(group, version)
    if not types:
        return None
    paths = {(rt.path("{namespace}", "{name}") if rt.namespaced else rt.path(None, "{name}")): _patch_path(rt)
             for rt in types}
    schemas = openapi.Builder(crd_lookup).add_kinds(types)
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": git_version}, "paths": paths,
            "components": {"schemas": dict(sorted(schemas.items()))}}


def swagger_document(registry: Registry, git_version: str, crd_lookup: openapi.CrdLookup | None = None) -> dict:
    """/openapi/v2: the definitions of every served kind, swagger 2.0 style (no paths: nothing reads them)."""
    schemas = openapi.Builder(crd_lookup).add_kinds(registry.types)
    return {"swagger": "2.0", "info": {"title": "Kubernetes", "version": git_version}, "paths": {},
            "definitions": dict(sorted(openapi.swagger_definitions(schemas).items()))}


def _openapi_key(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


class Discovery:
    """Cached encoded documents, rebuilt whenever the registry changes (the OpenAPI ones also whenever a served
    CRD changes: its schema is in them)."""

    def __init__(self, registry: Registry, git_version: str, crd_lookup: openapi.CrdLookup | None = None) -> None:
        self.registry = registry
        self.git_version = git_version
        self.crd_lookup = crd_lookup
        self._lock = threading.Lock()
        self._generation = -1
        self._cache: dict[str, bytes | None] = {}
        self._schema_cache: dict[str, tuple[tuple, bytes | None]] = {}

    @overload
    def _cached(self, key: str, build: Callable[[], dict]) -> bytes: ...

    @overload
    def _cached(self, key: str, build: Callable[[], dict | None]) -> bytes | None: ...

    def _cached(self, key: str, build: Callable[[], dict | None]) -> bytes | None:
        """The document build() makes, encoded; None (cached too) where build() finds no such document."""
        generation = self.registry.generation
        with self._lock:
            if generation != self._generation:
                self._cache = {}
                self._generation = generation
            if key in self._cache:
                return self._cache[key]
        doc = build()
        raw = _dumps(doc).encode() if doc is not None else None
        with self._lock:
            if self._generation == generation:
                self._cache[key] = raw
        return raw

    def _crd_revisions(self, types: list[ResourceType]) -> tuple:
        """What the OpenAPI documents of `types` depend on besides the registry: their CRDs' resourceVersions."""
        if self.crd_lookup is None:
            return ()
        revisions = []
        for rt in types:
            if rt.custom:
                crd = self.crd_lookup(rt)
                revisions.append((rt.group, rt.plural, ((crd or {}).get("metadata") or {}).get("resourceVersion")))
        return tuple(revisions)

    def _schema_cached(self, key: str, types: list[ResourceType], build: Callable[[], bytes | None]) -> bytes | None:
        """build()'s bytes, kept until the registry or one of the CRDs serving `types` changes."""
        signature = (self.registry.generation, self._crd_revisions(types))
        with self._lock:
            hit = self._schema_cache.get(key)
            if hit is not None and hit[0] == signature:
                return hit[1]
        raw = build()
        with self._lock:
            self._schema_cache[key] = (signature, raw)
        return raw

    def version(self) -> bytes:
        return self._cached("version", lambda: version_info(self.git_version))

    def api(self, address: str) -> bytes:
        return self._cached(f"api:{address}", lambda: api_versions(address))

    def apis(self) -> bytes:
        return self._cached("apis", lambda: api_group_list(self.registry))

    def group(self, group: str) -> bytes | None:
        return self._cached(f"group:{group}", lambda: api_group(self.registry, group))

    def resources(self, group: str, version: str) -> bytes | None:
        return self._cached(f"resources:{group}/{version}", lambda: resource_list(self.registry, group, version))

    def openapi_document(self, group: str, version: str) -> bytes | None:
        def build() -> bytes | None:
            doc = openapi_document(self.registry, group, version, self.git_version, self.crd_lookup)
            return _dumps(doc).encode() if doc is not None else None
        return self._schema_cached(f"v3:{group}/{version}", self.registry.in_group_version(group, version), build)

    def openapi_index(self) -> bytes:
        def build() -> bytes:
            paths = {}
            for group, versions in self.registry.groups.items():
                for version in versions:
                    raw = self.openapi_document(group, version) or b""
                    digest = hashlib.sha512(raw).hexdigest().upper()
                    key = _openapi_key(group, version)
                    paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={digest}"}
            return _dumps({"paths": paths}).encode()
        return self._schema_cached("v3-index", self.registry.types, build) or b""

    def swagger(self, protobuf: bool = False) -> bytes:
        """/openapi/v2 as JSON, or as the gnostic protobuf message kubectl asks for."""
        def build() -> bytes:
            doc = swagger_document(self.registry, self.git_version, self.crd_lookup)
            return openapi_proto.document(doc) if protobuf else _dumps(doc).encode()
        return self._schema_cached(f"v2:{'pb' if protobuf else 'json'}", self.registry.types, build) or b""
