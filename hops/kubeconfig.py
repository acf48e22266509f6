"""The HTTP transport of hops's Kubernetes API calls: the official client's REST layer, set up from the kubeconfig.

hops sends its own requests (paths, JSON bodies, watches: hops.kube) through the official client's
`kubernetes.client.rest.RESTClientObject` (urllib3, TLS, proxies as the client does them). For the kubeconfigs
hops itself works with (what `talosctl kubeconfig` writes: a server, its CA, a client certificate; or a bearer
token), the kubeconfig is read here into the client's `Configuration`: the official loader
(`kubernetes.config`) and the generated ApiClient import ~90 ms of modules (requests, oauthlib, google-auth
helpers, pydantic) that such a kubeconfig has no use for. Anything else (exec plugins, auth providers, basic
auth, proxy-url) goes through the official loader and ApiClient unchanged.

`kubernetes_module()` imports a part of the client without running kubernetes/__init__.py (see there).

Certificate and key data are written, as the official loader does, to files only this user can read (urllib3
needs paths), in a private folder removed when the process exits.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlencode

from hops.errors import StepError

SIMPLE_USER_KEYS = frozenset({"token", "tokenFile", "client-certificate", "client-certificate-data", "client-key",
                              "client-key-data"})
SIMPLE_CLUSTER_KEYS = frozenset({"server", "certificate-authority", "certificate-authority-data",
                                 "insecure-skip-tls-verify", "tls-server-name", "extensions"})
_private_dir: Path | None = None

# What kubernetes/__init__.py imports eagerly; hops needs only `client` and `config`.
KUBERNETES_SUBMODULES = ("client", "config", "dynamic", "watch", "stream", "utils", "leaderelection", "informer")


def kubernetes_module(name: str) -> ModuleType:
    """`kubernetes.<name>` without running kubernetes/__init__.py, which imports every submodule eagerly —
    `dynamic` alone pulls kubernetes_validate and jsonschema (≈0.2 s) when the test extra is installed.

    How: the package's module object is created from its spec but not executed, and registered in sys.modules
    with the package's __path__, so the import system finds `kubernetes.client` and `kubernetes.config` below it
    as usual. A later plain `import kubernetes` in the same process (tests, user hooks) gets that object; its
    module __getattr__ (PEP 562) imports any other submodule on first use, so `kubernetes.watch.Watch` and
    `from kubernetes import dynamic` still work."""
    if "kubernetes" not in sys.modules:
        spec = importlib.util.find_spec("kubernetes")
        if spec is None or spec.submodule_search_locations is None:
            raise StepError("the kubernetes Python client is not installed (pip install kubernetes)")
        package = importlib.util.module_from_spec(spec)  # a module object; its __init__ is never executed
        package.__path__ = list(spec.submodule_search_locations)
        package.__dict__.update(__project__="kubernetes", __getattr__=_lazy_submodule)
        sys.modules["kubernetes"] = package
    return importlib.import_module(f"kubernetes.{name}")


def _lazy_submodule(name: str) -> ModuleType:
    """Module __getattr__ of the un-executed kubernetes package: its submodules on first attribute access."""
    if name in KUBERNETES_SUBMODULES:
        return importlib.import_module(f"kubernetes.{name}")
    if name == "__version__":
        from importlib.metadata import version

        return version("kubernetes")  # type: ignore[return-value]
    raise AttributeError(f"module 'kubernetes' has no attribute {name!r}")


class Transport:
    """Sends one request; returns the unread urllib3 response (status not checked)."""

    def __init__(self, configuration: Any, token: str | None = None, api_client: Any = None) -> None:
        self.configuration = configuration
        self._token = token
        self._api_client = api_client  # the official ApiClient, for kubeconfigs read by the official loader
        if api_client is None:
            self._rest = kubernetes_module("client.rest").RESTClientObject(configuration)

    def send(self, method: str, url: str, query: dict | None, headers: dict, body: Any, timeout: Any) -> Any:
        if self._api_client is not None:
            serialized = self._api_client.param_serialize(method, url, query_params=list((query or {}).items()),
                                                          header_params=headers, body=body,
                                                          auth_settings=["BearerToken"])
            return self._api_client.call_api(*serialized, _request_timeout=timeout).response
        full = self.configuration.host + url + (f"?{urlencode(query)}" if query else "")
        if self._token:
            headers = {**headers, "Authorization": f"Bearer {self._token}"}
        return self._rest.request(method, full, headers=headers, body=body, _request_timeout=timeout).response


def transport(kubeconfig: Path) -> Transport:
    """The transport for the kubeconfig's current context."""
    import yaml

    try:
        data = yaml.load(kubeconfig.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        cluster, user = _current(data)
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError, AttributeError, StopIteration):
        return _official(kubeconfig)  # its error messages for a kubeconfig it cannot use either
    if not (set(cluster) <= SIMPLE_CLUSTER_KEYS and set(user) <= SIMPLE_USER_KEYS and "server" in cluster):
        return _official(kubeconfig)
    configuration = kubernetes_module("client.configuration").Configuration(host=str(cluster["server"]).rstrip("/"))
    configuration.verify_ssl = not cluster.get("insecure-skip-tls-verify", False)
    configuration.ssl_ca_cert = _file(kubeconfig, cluster, "certificate-authority")
    configuration.cert_file = _file(kubeconfig, user, "client-certificate")
    configuration.key_file = _file(kubeconfig, user, "client-key")
    configuration.tls_server_name = cluster.get("tls-server-name")
    token = user.get("token")
    if token is None and user.get("tokenFile"):
        token = _read(kubeconfig, "tokenFile", kubeconfig.parent / str(user["tokenFile"])).decode().strip()
    return Transport(configuration, token=str(token) if token is not None else None)


def _current(data: dict) -> tuple[dict, dict]:
    """The cluster and user entries of the current context."""
    context_name = data["current-context"]
    context = next(c["context"] for c in data["contexts"] if c["name"] == context_name)
    cluster = next(c["cluster"] for c in data["clusters"] if c["name"] == context["cluster"])
    users = [u["user"] for u in data.get("users") or [] if u["name"] == context.get("user")]
    return dict(cluster), dict(users[0] if users else {})


def _file(kubeconfig: Path, entry: dict, key: str) -> str | None:
    """The path of `key` (relative to the kubeconfig's folder), or of `key`-data written to a private file; a
    file that cannot be read or data that is not base64 is a StepError naming the kubeconfig and the field."""
    if entry.get(f"{key}-data"):
        import base64
        import binascii

        try:
            content = base64.b64decode(str(entry[f"{key}-data"]), validate=True)
        except (binascii.Error, ValueError):
            raise StepError(f"{kubeconfig}: {key}-data is not base64 (fetch the kubeconfig again: "
                            "`doit talos_recover_kubeconfig`)") from None
        return str(_private_file(key, content))
    if entry.get(key):
        path = kubeconfig.parent / str(entry[key])
        _read(kubeconfig, key, path)
        return str(path)
    return None


def _read(kubeconfig: Path, key: str, path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise StepError(f"{kubeconfig}: {key} {path} cannot be read ({exc.strerror or exc})") from None


def _private_file(name: str, content: bytes) -> Path:
    """`content` in this process's private folder, named by what it holds: a second kubeconfig in the same
    process gets files of its own, never the first one's overwritten under a client still using them."""
    import atexit
    import hashlib
    import shutil
    import tempfile

    global _private_dir
    if _private_dir is None:
        _private_dir = Path(tempfile.mkdtemp(prefix="hops-kube-"))  # 0700
        atexit.register(shutil.rmtree, _private_dir, True)
    path = _private_dir / f"{name}-{hashlib.sha256(content).hexdigest()[:16]}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(content)
    return path


def _official(kubeconfig: Path) -> Transport:
    api_client = kubernetes_module("config").new_client_from_config(config_file=str(kubeconfig))
    return Transport(api_client.configuration, api_client=api_client)
