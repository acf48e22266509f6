"""The HTTP side: one `ApiHandler` per connection (keep-alive), routing Kubernetes API paths to the store.

Responses are written in one piece (status line, headers and body together) and the socket has Nagle's
algorithm disabled; otherwise every request costs ~40 ms of delayed-ACK wait.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import select
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, parse_qsl, unquote

import yaml

from hops.lab.apiserver import errors, podlogs, protobuf, reviews, tables, validation
from hops.lab.apiserver.collector import check_policy
from hops.lab.apiserver.errors import ApiError
from hops.lab.apiserver.patches import json_patch, merge_patch, strategic_merge
from hops.lab.apiserver.resources import ResourceType
from hops.lab.apiserver.selectors import parse_field_selector, parse_label_selector
from hops.lab.apiserver.store import APPLY, JSON_PATCH, MERGE, STRATEGIC
from hops.lab.apiserver.watch import Entry

if TYPE_CHECKING:
    from hops.lab.apiserver.server import ApiServer

log = logging.getLogger(__name__)

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_PHRASES = {200: "OK", 201: "Created", 202: "Accepted", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
            404: "Not Found", 405: "Method Not Allowed", 406: "Not Acceptable", 409: "Conflict", 410: "Gone",
            415: "Unsupported Media Type", 422: "Unprocessable Entity", 429: "Too Many Requests",
            500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}
PATCH_TYPES = {
    "application/json-patch+json": JSON_PATCH,
    "application/merge-patch+json": MERGE,
    "application/strategic-merge-patch+json": STRATEGIC,
    "application/apply-patch+yaml": APPLY,
}
CUSTOM_PATCH_TYPES = ["application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml"]
BODY_TYPES = ["application/json", "application/yaml"]
HOLD_SECONDS = 30.0
SWAGGER_PROTOBUF = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
SWAGGER_PROTOBUF_ACCEPTED = ("application/com.github.proto-openapi.spec.v2@v1.0+protobuf", SWAGGER_PROTOBUF)


class _Hold(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Raised to stop answering: the fault hook asked for a request that never gets a response."""


class ApiHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "kube-apiserver"
    timeout = 600          # idle keep-alive connections are closed after this many seconds

    api: ApiServer
    _params: dict = {}
    _request: validation.RequestOptions | None = None

    # ------------------------------------------------------------------------------------------ plumbing

    def setup(self) -> None:
        super().setup()
        self.api = self.server.api          # type: ignore[attr-defined]
        self.api._track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.api._track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - BaseHTTPRequestHandler's signature
        log.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_HEAD(self) -> None:
        self._handle("HEAD")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_OPTIONS(self) -> None:
        self._handle("OPTIONS")

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, code: int, body: bytes, content_type: str = "application/json", extra: str = "") -> None:
        closing = "Connection: close\r\n" if self.close_connection else ""
        if self._request is not None and self._request.warnings:
            extra += validation.warning_header(self._request.warnings)
        head = (f"HTTP/1.1 {code} {_PHRASES.get(code, 'Unknown')}\r\n"
                f"Content-Type: {content_type}\r\n"
                f"Cache-Control: no-cache, private\r\n"
                f"Content-Length: {len(body)}\r\n{extra}{closing}\r\n").encode("latin-1")
        self.wfile.write(head if self.command == "HEAD" else head + body)

    def _send_json(self, code: int, doc: Any) -> None:
        self._send(code, _dumps(doc).encode())

    def _send_error(self, exc: ApiError) -> None:
        # as kube-apiserver: a Status asking the client to come back carries it as a header too (client-go retries
        # such an answer itself, up to 10 times)
        wait = int((exc.details or {}).get("retryAfterSeconds") or 0)
        self._send(exc.code, _dumps(exc.status()).encode(), extra=f"Retry-After: {wait}\r\n" if wait > 0 else "")

    def _client_gone(self, wait: float) -> bool:
        """True when the client closed its end (checked by peeking, waiting up to `wait` seconds)."""
        try:
            readable, _, _ = select.select([self.connection], [], [], wait)
            if not readable:
                return False
            if self.connection.recv(1, socket.MSG_PEEK) == b"":
                return True
        except (OSError, ValueError):
            return True
        time.sleep(wait)                 # data from a client that should be waiting: don't spin on it
        return False

    def _hold(self) -> None:
        """An injected hang: no answer until the client gives up or the server's own request timeout passes;
        then, as kube-apiserver's timeout filter does, a 504 Timeout Status."""
        deadline = time.monotonic() + getattr(self.api, "hold_seconds", HOLD_SECONDS)
        while time.monotonic() < deadline and not self.api.stopping:
            if self._client_gone(min(0.2, max(0.0, deadline - time.monotonic()))):
                self.close_connection = True
                return
        if not self.api.stopping:
            self._send_error(ApiError(504, "Timeout", "Timeout: request did not complete within requested timeout "
                                                      "- context deadline exceeded"))
        self.close_connection = True

    # ------------------------------------------------------------------------------------------ dispatch

    def _handle(self, method: str) -> None:
        api = self.api
        api.store.count_request(method)
        self._request = None
        path, _, query = self.path.partition("?")
        path = unquote(path)
        try:
            body = self._read_body() if method in ("POST", "PUT", "PATCH", "DELETE") else b""
            if api.fault is not None:
                outcome = api.fault(method, path)
                if outcome == "timeout":
                    raise _Hold()
                if isinstance(outcome, ApiError):
                    raise outcome
                if isinstance(outcome, int) and not isinstance(outcome, bool):
                    raise errors.from_code(outcome)
            params = self._params = dict(parse_qsl(query, keep_blank_values=True))
            writing = method in ("POST", "PUT", "PATCH")
            directive = params.get("fieldValidation") if writing else None
            with validation.request(directive, manager=self._manager(params) if writing else "",
                                    force=params.get("force") == "true") as self._request:
                self._route(method, path, params, body)
        except _Hold:
            self._hold()
        except ApiError as exc:
            self._send_error(exc)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:  # noqa: BLE001 - answer like an apiserver, keep serving
            log.exception("%s %s failed", method, self.path)
            self._send_error(ApiError(500, "InternalError", f"Internal error occurred: {exc}"))

    def _manager(self, params: dict) -> str:
        """The field manager: as given, else the client's User-Agent product (`kubectl`, `OpenAPI-Generator`)."""
        given = params.get("fieldManager")
        if given:
            if len(given) > 128:
                raise errors.invalid("meta.k8s.io", "PatchOptions", "", [
                    ("FieldValueTooLong", "fieldManager", "Too long: may not be longer than 128")])
            return given
        return (self.headers.get("User-Agent") or "").split("/", 1)[0][:128]

    def _route(self, method: str, path: str, params: dict, body: bytes) -> None:
        api = self.api
        if path in ("/healthz", "/livez") or path.startswith(("/healthz/", "/livez/")):
            return self._send(200, b"ok", "text/plain; charset=utf-8")
        if path == "/version" or path == "/version/":
            return self._send(200, api.discovery.version())
        gated = path.startswith(("/api", "/openapi")) or path == "/readyz" or path.startswith("/readyz/")
        if gated and api.gate is not None:
            verdict = api.gate()
            if verdict:
                code, message = verdict
                if path.startswith("/readyz"):
                    return self._send(code, f"[-]etcd failed: {message}\nreadyz check failed".encode(),
                                      "text/plain; charset=utf-8")
                raise errors.from_code(code, message)
        if path == "/readyz" or path.startswith("/readyz/"):
            return self._send(200, b"ok", "text/plain; charset=utf-8")
        if path.startswith("/openapi/"):
            return self._openapi(path)
        parts = [p for p in path.split("/") if p]
        if not parts or parts[0] not in ("api", "apis"):
            return self._send(404, b"404 page not found\n", "text/plain; charset=utf-8")
        if method not in ("GET", "HEAD") and len(parts) < 3 + (parts[0] == "apis"):
            raise errors.method_not_allowed()
        if parts[0] == "api":
            if len(parts) == 1:
                return self._send(200, api.discovery.api(f"{api.host}:{api.port}"))
            group, version, rest = "", parts[1], parts[2:]
        else:
            if len(parts) == 1:
                return self._send(200, api.discovery.apis())
            if len(parts) == 2:
                doc = api.discovery.group(parts[1])
                if doc is None:
                    raise errors.resource_not_found()
                return self._send(200, doc)
            group, version, rest = parts[1], parts[2], parts[3:]
        if not rest:
            doc = api.discovery.resources(group, version)
            if doc is None:
                raise errors.resource_not_found()
            return self._send(200, doc)
        watch = params.get("watch") in ("true", "1")
        if rest[0] == "watch":
            watch, rest = True, rest[1:]
        namespace = None
        if len(rest) >= 3 and rest[0] == "namespaces" and not (len(rest) == 3 and rest[2] in ("status", "finalize")):
            namespace, rest = rest[1], rest[2:]
        if not rest or len(rest) > 3:
            raise errors.resource_not_found()
        rt = api.store.registry.by_path(group, version, rest[0])
        if rt is None or (namespace is not None and not rt.namespaced):
            raise errors.resource_not_found()
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if rt.namespaced and namespace is None and name is not None:
            raise errors.resource_not_found()
        if name is None:
            return self._collection(method, rt, namespace, params, body, watch)
        if sub is None:
            return self._item(method, rt, namespace or "", name, params, body)
        if sub not in rt.subresources:
            raise errors.resource_not_found()
        if sub == "log":
            if method not in ("GET", "HEAD"):
                raise errors.method_not_allowed()
            return self._log(rt, namespace or "", name, params)
        if sub == "scale":
            return self._scale(method, rt, namespace or "", name, params, body)
        if sub == "exec":       # the exec protocol lives in its own module (hops.lab.apiserver.exec)
            return self._exec(method, rt, namespace or "", name)
        return self._item(method, rt, namespace or "", name, params, body, sub)

    def _openapi(self, path: str) -> None:
        discovery = self.api.discovery
        if path in ("/openapi/v2", "/openapi/v2/"):
            encoding = _swagger_encoding(self.headers.get("Accept", ""))
            if encoding is None:
                return self._send(406, b"406 - Not Acceptable\n", "text/plain; charset=utf-8")
            return self._send(200, discovery.swagger(encoding == SWAGGER_PROTOBUF), encoding)
        if path in ("/openapi/v3", "/openapi/v3/"):
            return self._send(200, discovery.openapi_index())
        parts = [p for p in path.split("/") if p][2:]
        doc = None
        if len(parts) == 2 and parts[0] == "api":
            doc = discovery.openapi_document("", parts[1])
        elif len(parts) == 3 and parts[0] == "apis":
            doc = discovery.openapi_document(parts[1], parts[2])
        if doc is None:
            return self._send(404, b"404 page not found\n", "text/plain; charset=utf-8")
        return self._send(200, doc)

    # ------------------------------------------------------------------------------------------ helpers

    def _wants_table(self) -> bool:
        accept = self.headers.get("Accept", "")
        return "as=Table" in accept

    def _parse_body(self, body: bytes, allow_yaml: bool = True) -> Any:
        content_type = (self.headers.get("Content-Type") or "application/json").split(";")[0].strip().lower()
        if content_type == "application/vnd.kubernetes.protobuf":
            try:
                decoded = protobuf.decode(body)
            except (protobuf.ProtobufError, ValueError):
                decoded = None
            if decoded is None:
                raise errors.unsupported_media_type(content_type, BODY_TYPES)
            return decoded
        if "protobuf" in content_type or "cbor" in content_type:
            raise errors.unsupported_media_type(content_type, BODY_TYPES)
        if not body.strip():
            raise errors.bad_request("the request body is empty")
        try:
            return json.loads(body)
        except ValueError:
            if not allow_yaml:
                raise errors.bad_request("the request body is not valid JSON") from None
        try:
            return yaml.safe_load(body)
        except yaml.YAMLError as exc:
            raise errors.bad_request(f"error decoding YAML: {exc}") from None

    @staticmethod
    def _dry_run(params: dict, options: dict | None = None) -> bool:
        if params.get("dryRun") == "All":
            return True
        return bool(options and "All" in (options.get("dryRun") or []))

    def _selectors(self, rt: ResourceType, params: dict):
        return (parse_label_selector(params.get("labelSelector")),
                parse_field_selector(params.get("fieldSelector"), rt.key))

    def _send_entry(self, code: int, rt: ResourceType, entry: Entry) -> None:
        if self._wants_table() and self.command in ("GET", "HEAD"):
            doc = tables.table(rt, [entry.obj], _rv(entry.obj), self._include_object())
            self._send_json(code, doc)
            return
        self._send(code, self.api.store.view(rt, entry).raw)

    def _include_object(self) -> str:
        return self._params.get("includeObject", "PartialObjectMetadata")

    # ------------------------------------------------------------------------------------------ resources

    def _collection(self, method: str, rt: ResourceType, namespace: str | None, params: dict, body: bytes,
                    watch: bool) -> None:
        store = self.api.store
        if reviews.is_review(rt):
            if method != "POST":
                raise errors.method_not_allowed()
            return self._send_json(201, reviews.answer(rt, self._parse_body(body), namespace))
        if method in ("GET", "HEAD"):
            if watch:
                return self._watch(rt, namespace, params)
            return self._list(rt, namespace, params)
        if method == "POST":
            if rt.namespaced and namespace is None:
                raise errors.method_not_allowed()
            obj = self._parse_body(body)
            entry = store.create_in(rt, namespace, obj, self._dry_run(params))
            return self._send_entry(201, rt, entry)
        if method == "DELETE":
            if "deletecollection" not in rt.verbs:
                raise errors.method_not_allowed()
            labels, fields = self._selectors(rt, params)
            options = self._parse_body(body) if body.strip() else None
            policy = _policy(params, options if isinstance(options, dict) else {})
            deleted = store.delete_collection(rt, namespace, labels, fields, self._dry_run(params, options), policy)
            return self._send_list(rt, deleted, store.resource_version)
        raise errors.method_not_allowed()

    def _send_list(self, rt: ResourceType, entries: list[Entry], rv: int, extra_meta: dict | None = None) -> None:
        if self._wants_table():
            doc = tables.table(rt, [e.obj for e in entries], str(rv), self._include_object(), extra_meta=extra_meta)
            self._send_json(200, doc)
            return
        meta = _dumps({"resourceVersion": str(rv), **(extra_meta or {})})
        view = self.api.store.view
        head = f'{{"kind":"{rt.list_kind}","apiVersion":"{rt.api_version}","metadata":{meta},"items":['.encode()
        items = (view(rt, e).raw if rt.custom else e.item_raw for e in entries)
        self._send(200, head + b",".join(items) + b"]}")

    def _list(self, rt: ResourceType, namespace: str | None, params: dict) -> None:
        labels, fields = self._selectors(rt, params)
        entries, rv = self.api.store.select(rt, namespace, labels, fields)
        extra: dict = {}
        token = params.get("continue")
        if token:
            try:
                state = json.loads(base64.urlsafe_b64decode(token.encode()))
                start = tuple(state["start"])
                rv = int(state.get("rv") or rv)
            except (ValueError, KeyError, TypeError, binascii.Error):
                raise errors.bad_request("continue key is not valid: incorrect encoded start resourceVersion "
                                         "(version meta.k8s.io/v1)") from None
            entries = [e for e in entries if (e.namespace, e.obj["metadata"]["name"]) > start]
        try:
            limit = int(params.get("limit") or 0)
        except ValueError:
            limit = 0
        if 0 < limit < len(entries):
            last = entries[limit - 1]
            state = {"rv": rv, "start": [last.namespace, last.obj["metadata"]["name"]]}
            extra = {"continue": base64.urlsafe_b64encode(_dumps(state).encode()).decode(),
                     "remainingItemCount": len(entries) - limit}
            entries = entries[:limit]
        self._send_list(rt, entries, rv, extra)

    def _item(self, method: str, rt: ResourceType, namespace: str, name: str, params: dict, body: bytes,
              sub: str | None = None) -> None:
        store = self.api.store
        if reviews.is_review(rt):
            raise errors.method_not_allowed()
        if method in ("GET", "HEAD"):
            return self._send_entry(200, rt, store.read(rt, namespace, name))
        if method == "PUT":
            obj = self._parse_body(body)
            if not isinstance(obj, dict):
                raise errors.bad_request("the object provided is not a JSON object")
            entry = store.replace_in(rt, namespace, name, obj, sub, self._dry_run(params))
            return self._send_entry(200, rt, entry)
        if method == "PATCH":
            patch_type, patch = self._parse_patch(rt, body)
            entry, created = store.patch_in(rt, namespace, name, patch_type, patch, sub, self._dry_run(params))
            return self._send_entry(201 if created else 200, rt, entry)
        if method == "DELETE" and sub is None:
            options = self._parse_body(body) if body.strip() else {}
            options = options if isinstance(options, dict) else {}
            entry = store.delete_in(rt, namespace, name, self._dry_run(params, options),
                                    options.get("preconditions"), _policy(params, options))
            return self._send_entry(200, rt, entry)
        raise errors.method_not_allowed()

    def _parse_patch(self, rt: ResourceType, body: bytes) -> tuple[str, Any]:
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        patch_type = PATCH_TYPES.get(content_type)
        if patch_type == APPLY and not self._params.get("fieldManager"):
            raise errors.invalid("meta.k8s.io", "PatchOptions", "", [
                ("FieldValueRequired", "fieldManager", "Required value: is required for apply patch")])
        if patch_type != APPLY and self._params.get("force"):
            raise errors.invalid("meta.k8s.io", "PatchOptions", "", [
                ("FieldValueForbidden", "force", "Forbidden: may not be specified for non-apply patch")])
        if patch_type is None or (patch_type == STRATEGIC and rt.custom):
            accepted = CUSTOM_PATCH_TYPES if rt.custom else list(PATCH_TYPES)
            raise errors.unsupported_media_type(content_type, accepted)
        if not body.strip():
            raise errors.bad_request("the request body is empty")
        try:
            patch = json.loads(body)
        except ValueError:
            if patch_type != APPLY:
                raise errors.bad_request("the body of the patch is not valid JSON") from None
            try:
                patch = yaml.safe_load(body)
            except yaml.YAMLError as exc:
                raise errors.bad_request(f"error decoding YAML: {exc}") from None
        if patch_type == JSON_PATCH:
            if not isinstance(patch, list):
                raise errors.bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
        elif not isinstance(patch, dict):
            raise errors.bad_request("the patch is not a JSON object")
        return patch_type, patch

    def _log(self, rt: ResourceType, namespace: str, name: str, params: dict) -> None:
        pod = self.api.store.read(rt, namespace, name).obj
        spec = pod.get("spec") or {}
        container = params.get("container")
        names = [c.get("name") for c in spec.get("containers") or []]
        valid = names + [c.get("name") for c in spec.get("initContainers") or []]
        if container and valid and container not in valid:
            raise errors.bad_request(f"container {container} is not valid for pod {name}")
        if not container and len(names) > 1:
            raise errors.bad_request(f"a container name must be specified for pod {name}, choose one of: "
                                     f"[{' '.join(names)}]")
        options = _LogOptions.of(params)
        key = (namespace, name)
        text, cursor, version = self.api.store.pod_logs.read(key, options.tail, options.since, options.timestamps)
        if not options.follow:
            data = text.encode()
            self._send(200, data if options.limit is None else data[:options.limit], "text/plain")
            return
        self._follow_log(rt, pod, options, text, cursor, version)

    def _follow_log(self, rt: ResourceType, pod: dict, options: _LogOptions, text: str, cursor: podlogs.Cursor,
                    version: int) -> None:
        """Stream the log (chunked) as the container writes it, until it stops, the client goes or a limit."""
        meta = pod["metadata"]
        key = (meta.get("namespace") or "", meta["name"])
        logs = self.api.store.pod_logs
        budget = [options.limit]

        def send(more: str) -> bool:
            """Send `more` within limitBytes; False once the limit is used up."""
            data = more.encode()
            if budget[0] is not None:
                data, budget[0] = data[:budget[0]], budget[0] - len(data[:budget[0]])
            if data:
                self._chunk(data)
            return budget[0] is None or budget[0] > 0

        logs.follow(key, 1)
        try:
            self._start_stream("text/plain")
            going = send(text)
            while going and not self.api.stopping:
                if self._pod_stopped(rt, key, meta.get("uid")):
                    send(logs.read_on(key, cursor, options.timestamps)[0])
                    break
                version = logs.wait(version, 1.0)
                more, cursor, replaced = logs.read_on(key, cursor, options.timestamps)
                going = send(more) and not replaced
                if going and self._client_gone(0):
                    self.close_connection = True
                    return
            self._chunk(b"")
        except (TimeoutError, BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True
        finally:
            logs.follow(key, -1)

    def _pod_stopped(self, rt: ResourceType, key: tuple[str, str], uid: str | None) -> bool:
        """Whether the followed pod's container is done: the pod is gone (or replaced) or it finished."""
        try:
            pod = self.api.store.read(rt, key[0], key[1]).obj
        except ApiError:
            return True
        phase = (pod.get("status") or {}).get("phase")
        return (pod.get("metadata") or {}).get("uid") != uid or phase in ("Succeeded", "Failed")

    def _exec(self, method: str, rt: ResourceType, namespace: str, name: str) -> None:
        from hops.lab.apiserver import exec as pod_exec

        if method not in ("GET", "POST"):
            raise errors.method_not_allowed()
        pod = self.api.store.read(rt, namespace, name).obj
        pod_exec.serve(self, pod, parse_qs(self.path.partition("?")[2]))

    def _scale(self, method: str, rt: ResourceType, namespace: str, name: str, params: dict, body: bytes) -> None:
        store = self.api.store
        spec_path = (rt.scale.get("specReplicasPath") or ".spec.replicas").lstrip(".").split(".")
        if method in ("GET", "HEAD"):
            self._send_json(200, _scale_of(rt, store.read(rt, namespace, name).obj))
            return
        if method == "PUT":
            scale = self._parse_body(body)
        elif method == "PATCH":
            patch_type, patch = self._parse_patch(rt, body)
            if patch_type == APPLY:
                patch_type = MERGE
            current = _scale_of(rt, store.read(rt, namespace, name).obj)
            patchers: dict[str, Callable[[Any, Any], Any]] = {MERGE: merge_patch, STRATEGIC: strategic_merge,
                                                               JSON_PATCH: json_patch}
            scale = patchers[patch_type](current, patch)
        else:
            raise errors.method_not_allowed()
        replicas = ((scale or {}).get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or replicas < 0:
            raise errors.invalid("autoscaling", "Scale", name, [("FieldValueInvalid", "spec.replicas",
                                                                 f"Invalid value: {replicas}: must be greater than "
                                                                 f"or equal to 0")])
        update: dict = {}
        cursor = update
        for part in spec_path[:-1]:
            cursor = cursor.setdefault(part, {})
        cursor[spec_path[-1]] = replicas
        wanted_rv = ((scale or {}).get("metadata") or {}).get("resourceVersion")
        if wanted_rv:
            update.setdefault("metadata", {})["resourceVersion"] = wanted_rv
        entry, _ = store.patch_in(rt, namespace, name, MERGE, update, None, self._dry_run(params))
        self._send_json(200, _scale_of(rt, entry.obj))

    # ------------------------------------------------------------------------------------------ watch

    def _watch(self, rt: ResourceType, namespace: str | None, params: dict) -> None:
        store = self.api.store
        labels, fields = self._selectors(rt, params)
        try:
            timeout = float(params.get("timeoutSeconds") or 0)
        except ValueError:
            timeout = 0
        if timeout <= 0:
            timeout = self.api.watch_timeout
        # a server may end a watch before the client's timeoutSeconds (a restart, a proxy's idle limit): clients
        # must list again and resume; ApiServer(watch_timeout=) makes it end that early
        timeout = min(timeout, self.api.watch_timeout)
        table_mode = self._wants_table()
        include = params.get("includeObject", "PartialObjectMetadata")
        try:
            watcher = store.watch(rt, namespace, labels, fields, params.get("resourceVersion"))
        except ApiError as exc:
            if exc.code != 410:
                raise
            self._start_stream()
            self._chunk(_dumps({"type": "ERROR", "object": exc.status()}).encode() + b"\n")
            self._chunk(b"")
            return
        first = [True]

        def line(kind: str, entry: Entry) -> bytes:
            if table_mode:
                doc = tables.table(rt, [entry.obj], _rv(entry.obj), include, with_columns=first[0])
                first[0] = False
                return _dumps({"type": kind, "object": doc}).encode() + b"\n"
            return b'{"type":"' + kind.encode() + b'","object":' + store.view(rt, entry).raw + b"}\n"

        try:
            self._start_stream()
            initial = watcher.take(0)
            if initial:
                self._chunk(b"".join(line(kind, entry) for kind, entry in initial))
            if params.get("sendInitialEvents") == "true" and params.get("allowWatchBookmarks") == "true":
                bookmark = {"type": "BOOKMARK", "object": {
                    "kind": rt.kind, "apiVersion": rt.api_version,
                    "metadata": {"resourceVersion": str(store.resource_version),
                                 "annotations": {"k8s.io/initial-events-end": "true"}}}}
                self._chunk(_dumps(bookmark).encode() + b"\n")
            deadline = time.monotonic() + timeout
            while not self.api.stopping:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                events = watcher.take(min(remaining, 1.0))
                if events:
                    self._chunk(b"".join(line(kind, entry) for kind, entry in events))
                elif watcher.closed:
                    break
                elif self._client_gone(0):
                    self.close_connection = True
                    return
            self._chunk(b"")
        except (TimeoutError, BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True
        finally:
            store.unwatch(watcher)

    def _start_stream(self, content_type: str = "application/json") -> None:
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: " + content_type.encode() +
                         b"\r\nCache-Control: no-cache, private\r\nTransfer-Encoding: chunked\r\n\r\n")

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))


@dataclass(frozen=True)
class _LogOptions:
    """The `pods/log` query parameters (PodLogOptions); malformed numbers count as not given."""

    follow: bool = False
    tail: int | None = None
    since: float | None = None          # unix time: lines written before it are left out
    timestamps: bool = False
    limit: int | None = None

    @classmethod
    def of(cls, params: dict) -> _LogOptions:
        tail, seconds, limit = (_count(params.get(name)) for name in ("tailLines", "sinceSeconds", "limitBytes"))
        since = time.time() - seconds if seconds else _unix_time(params.get("sinceTime"))
        return cls(follow=_flag(params.get("follow")) is True, tail=tail, since=since,
                   timestamps=_flag(params.get("timestamps")) is True, limit=limit or None)


def _count(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None


def _unix_time(value: str | None) -> float | None:
    """An RFC 3339 time (`2024-05-01T10:00:00Z`) as unix time; None when missing or malformed."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _swagger_encoding(accept: str) -> str | None:
    """The content type /openapi/v2 answers an Accept header with, as kube-openapi's handler picks it: the first
    acceptable of JSON and gnostic protobuf (both spellings of its media type); None: 406 Not Acceptable."""
    if not accept.strip():
        return "application/json"
    for item in accept.split(","):
        media = item.split(";", 1)[0].strip().lower()
        if media in ("application/json", "application/*", "*/*"):
            return "application/json"
        if media in SWAGGER_PROTOBUF_ACCEPTED:
            return SWAGGER_PROTOBUF
    return None


def _policy(params: dict, options: dict) -> str | None:
    """propagationPolicy from the DeleteOptions body or the query (kubectl --cascade sends it in the body)."""
    return check_policy(options.get("propagationPolicy") or params.get("propagationPolicy"),
                        options.get("orphanDependents", _flag(params.get("orphanDependents"))))


def _flag(value: str | None) -> bool | None:
    return None if value is None else value == "true"


def _rv(obj: dict) -> str:
    return (obj.get("metadata") or {}).get("resourceVersion", "")


def _scale_of(rt: ResourceType, obj: dict) -> dict:
    def at(path: str, default: Any) -> Any:
        value: Any = obj
        for part in path.lstrip(".").split("."):
            value = value.get(part) if isinstance(value, dict) else None
        return default if value is None else value
    meta = obj["metadata"]
    selector_path = rt.scale.get("labelSelectorPath")
    if selector_path:
        selector = at(selector_path, "")
    else:
        match = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        selector = ",".join(f"{k}={v}" for k, v in match.items())
    return {"kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                         if k in meta},
            "spec": {"replicas": at(rt.scale.get("specReplicasPath", ".spec.replicas"), 0)},
            "status": {"replicas": at(rt.scale.get("statusReplicasPath", ".status.replicas"), 0),
                       "selector": selector}}
