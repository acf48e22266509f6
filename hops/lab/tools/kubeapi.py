"""A tiny Kubernetes API client for the emulated tools (helm, flux, cilium).

The tools start as separate processes for every call, so this stays on the standard library (plus PyYAML for the
kubeconfig): importing the `kubernetes` package would cost about half a second per call. The method names mirror
`hops.lab.apiserver.Store` (get/list/create/apply/patch/delete) so shared lab code (helm_releases) runs against
either the in-process store or the HTTP API.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hops.lab.tools import yaml_files


class KubeError(Exception):
    """An API answer other than success; `code` is the HTTP status, `reason` the Status reason."""

    def __init__(self, code: int, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason


def kubeconfig_path(explicit: str | None = None) -> Path:
    """--kubeconfig, else the first file of KUBECONFIG, else ~/.kube/config (kubectl's order)."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("KUBECONFIG")
    if env:
        return Path(env.split(os.pathsep)[0])
    return Path.home() / ".kube" / "config"


def _named(items: list[dict], name: str) -> dict:
    for item in items or []:
        if item.get("name") == name:
            return item
    return {}


class KubeClient:
    """JSON over HTTP(S) to the API server named by a kubeconfig's current context."""

    def __init__(self, kubeconfig: str | None = None, context: str | None = None, timeout: float = 30.0) -> None:
        path = kubeconfig_path(kubeconfig)
        try:
            config = yaml_files.load(path) or {}  # every call of flux/cilium reads it: parsed once per content
        except FileNotFoundError:
            raise KubeError(0, f"stat {path}: no such file or directory") from None
        except yaml_files.YamlFileError as exc:  # client-go's words for a kubeconfig it cannot parse
            raise KubeError(0, f'error loading config file "{path}": yaml: {str(exc).splitlines()[0]}') from None
        if not isinstance(config, dict):
            raise KubeError(0, f'error loading config file "{path}": couldn\'t get version/kind; json parse error')
        ctx_name = context or config.get("current-context", "")
        ctx = _named(config.get("contexts", []), ctx_name).get("context", {})
        cluster = _named(config.get("clusters", []), ctx.get("cluster", "")).get("cluster", {})
        user = _named(config.get("users", []), ctx.get("user", "")).get("user", {})
        if not cluster.get("server"):
            raise KubeError(0, f"invalid configuration: no server found for context {ctx_name!r} in {path}")
        self.server = cluster["server"].rstrip("/")
        self.namespace = ctx.get("namespace") or "default"
        self.timeout = timeout
        self._headers = {"Accept": "application/json"}
        if user.get("token"):
            self._headers["Authorization"] = f"Bearer {user['token']}"
        self._ssl = _ssl_context(cluster, user) if self.server.startswith("https") else None
        self._resources: dict[str, dict[str, dict]] = {}

    # -- raw HTTP -------------------------------------------------------------------------------------------
    def request(self, method: str, path: str, body: Any = None, content_type: str = "application/json",
                timeout: float | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.server + path, data=data, method=method, headers=dict(self._headers))
        if data is not None:
            req.add_header("Content-Type", content_type)
        for retry in range(CLIENT_GO_MAX_RETRIES + 1):
            try:
                with urllib.request.urlopen(req, timeout=timeout or self.timeout, context=self._ssl) as resp:
                    raw = resp.read()
                return json.loads(raw) if raw else {}
            except urllib.error.HTTPError as exc:
                wait = _retry_after(exc)
                if wait is None or retry == CLIENT_GO_MAX_RETRIES:
                    raise _error_from(exc) from None
                exc.close()
                time.sleep(wait / _lab_speed())  # as client-go: the server asked to come back after `wait` s
            except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
                raise KubeError(0, f"{method.title()} \"{self.server}{path}\": {_go_net_error(exc)}") from None
        raise AssertionError("unreachable")

    def version(self) -> dict:
        return self.request("GET", "/version")

    # -- resource paths -------------------------------------------------------------------------------------
    def _resource(self, api_version: str, kind: str) -> dict:
        """The discovery entry of `kind`; a miss is looked up again (a CRD may have been established since)."""
        found = self._resources.get(api_version, {}).get(kind)
        if found is None:
            self._resources[api_version] = self._discover(api_version)
            found = self._resources[api_version].get(kind)
        if found is None:
            raise KubeError(404, f'no matches for kind "{kind}" in version "{api_version}"', "NotFound")
        return found

    def _discover(self, api_version: str) -> dict[str, dict]:
        base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        try:
            listing = self.request("GET", base)
        except KubeError as exc:
            if exc.code != 404:
                raise
            listing = {"resources": []}
        return {r["kind"]: r for r in listing.get("resources", []) if "/" not in r["name"]}

    def path(self, api_version: str, kind: str, namespace: str | None = None, name: str | None = None) -> str:
        res = self._resource(api_version, kind)
        base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        if res.get("namespaced") and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{res['name']}"
        return base + (f"/{name}" if name else "")

    # -- Store-like interface -------------------------------------------------------------------------------
    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict | None:
        try:
            return self.request("GET", self.path(api_version, kind, namespace, name))
        except KubeError as exc:
            if exc.code == 404:
                return None
            raise

    def list(self, api_version: str, kind: str, namespace: str | None = None,
             labels: dict[str, str] | None = None) -> list[dict]:
        query = ""
        if labels:
            query = "?" + urllib.parse.urlencode({"labelSelector": ",".join(f"{k}={v}" for k, v in labels.items())})
        try:
            return self.request("GET", self.path(api_version, kind, namespace) + query).get("items", [])
        except KubeError as exc:
            if exc.code == 404:
                return []
            raise

    def create(self, obj: dict) -> dict:
        meta = obj["metadata"]
        return self.request("POST", self.path(obj["apiVersion"], obj["kind"], meta.get("namespace")), obj)

    def patch(self, api_version: str, kind: str, name: str, namespace: str | None, patch: dict) -> dict:
        return self.request("PATCH", self.path(api_version, kind, namespace, name), patch,
                            "application/merge-patch+json")

    def apply(self, obj: dict) -> dict:
        """Create, or merge into the existing object (what `kubectl apply` amounts to for the lab)."""
        meta = obj["metadata"]
        try:
            return self.create(obj)
        except KubeError as exc:
            if exc.code != 409:
                raise
        return self.patch(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace"), obj)

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> None:
        try:
            self.request("DELETE", self.path(api_version, kind, namespace, name))
        except KubeError as exc:
            if exc.code != 404:
                raise

    def pod_log(self, namespace: str, name: str) -> str:
        req = urllib.request.Request(f"{self.server}/api/v1/namespaces/{namespace}/pods/{name}/log",
                                     headers=dict(self._headers))
        try:
            with urllib.request.urlopen(req, timeout=self.timeout, context=self._ssl) as resp:
                return resp.read().decode()
        except urllib.error.HTTPError as exc:
            raise _error_from(exc) from None

    def watch(self, api_version: str, kind: str, namespace: str | None = None, name: str | None = None,
              timeout: float = 30.0) -> Iterator[tuple[str, dict]]:
        """ADDED events for what exists, then changes, until `timeout` seconds pass (the server closes)."""
        params = {"watch": "true", "timeoutSeconds": str(max(1, int(timeout + 0.999)))}
        if name:
            params["fieldSelector"] = f"metadata.name={name}"
        url = self.server + self.path(api_version, kind, namespace) + "?" + urllib.parse.urlencode(params)
        req = urllib.request.Request(url, headers=dict(self._headers))
        deadline = time.monotonic() + timeout
        try:
            with urllib.request.urlopen(req, timeout=timeout + 5, context=self._ssl) as resp:
                for line in resp:
                    if line.strip():
                        event = json.loads(line)
                        yield event.get("type", ""), event.get("object", {})
                    if time.monotonic() > deadline:
                        return
        except urllib.error.HTTPError as exc:
            raise _error_from(exc) from None
        except (TimeoutError, ConnectionError):
            return


CLIENT_GO_MAX_RETRIES = 10  # client-go's rest.Request default


def _retry_after(exc: urllib.error.HTTPError) -> float | None:
    """Seconds of a Retry-After header on a 429 or 5xx answer (client-go retries exactly those), else None."""
    if exc.code != 429 and exc.code < 500:
        return None
    try:
        return float(exc.headers.get("Retry-After", ""))
    except (TypeError, ValueError):
        return None


def _lab_speed() -> float:
    from hops.lab import clock

    return clock.speed()


def _go_net_error(exc: BaseException) -> str:
    """A transport failure in the words of Go's net/http, as real helm/flux/cilium print it."""
    reason = getattr(exc, "reason", exc)
    if isinstance(reason, TimeoutError) or "timed out" in str(reason):
        return "net/http: request canceled (Client.Timeout exceeded while awaiting headers)"
    if isinstance(reason, ConnectionRefusedError):
        return "dial tcp: connect: connection refused"
    if isinstance(reason, ConnectionResetError):
        return "read: connection reset by peer"
    return str(reason)


def _error_from(exc: urllib.error.HTTPError) -> KubeError:
    try:
        status = json.loads(exc.read() or b"{}")
    except json.JSONDecodeError:
        status = {}
    return KubeError(exc.code, status.get("message") or f"the server responded with {exc.code}",
                     status.get("reason", ""))


def _ssl_context(cluster: dict, user: dict) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    if cluster.get("insecure-skip-tls-verify"):
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif cluster.get("certificate-authority-data"):
        ctx.load_verify_locations(cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
    elif cluster.get("certificate-authority"):
        ctx.load_verify_locations(cafile=cluster["certificate-authority"])
    if user.get("client-certificate-data") and user.get("client-key-data"):
        with tempfile.TemporaryDirectory() as tmp:   # ssl wants files; they live only for the load call
            cert, key = Path(tmp, "c.pem"), Path(tmp, "k.pem")
            cert.write_bytes(base64.b64decode(user["client-certificate-data"]))
            key.write_bytes(base64.b64decode(user["client-key-data"]))
            ctx.load_cert_chain(cert, key)
    return ctx
