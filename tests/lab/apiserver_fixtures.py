"""Fixtures and helpers for the apiserver contract tests (import them explicitly into a test module)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from hops.lab.apiserver import ApiServer, Store

TOKEN = "lab-test-token"


def make_client(url: str, ca_file: str | None = None):
    """A kubernetes.client.ApiClient for the emulation (token auth, like the lab's kubeconfig)."""
    from kubernetes import client

    config = client.Configuration()
    config.host = url
    config.api_key = {"authorization": TOKEN}
    config.api_key_prefix = {"authorization": "Bearer"}
    if ca_file:
        config.ssl_ca_cert = ca_file
    return client.ApiClient(config)


@pytest.fixture
def store():
    store = Store()
    yield store
    store.close()


@pytest.fixture
def server(store):
    server = ApiServer(store).start()
    yield server
    server.stop()


@pytest.fixture
def api_client(server):
    api_client = make_client(server.url)
    yield api_client
    api_client.close()


def raw_request(url: str, method: str = "GET", body: bytes | None = None, headers: dict | None = None,
                timeout: float = 10.0) -> tuple[int, dict, bytes]:
    """(status, headers, body) of one plain HTTP request; error statuses are returned, not raised."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def status_body(exc) -> dict:
    """The Status document of a kubernetes.client ApiException."""
    return json.loads(exc.body)


def node(name: str, ready: bool | None = None, roles: tuple[str, ...] = ()) -> dict:
    obj = {"apiVersion": "v1", "kind": "Node",
           "metadata": {"name": name, "labels": {f"node-role.kubernetes.io/{r}": "" for r in roles}},
           "status": {"nodeInfo": {"kubeletVersion": "v1.31.4"}}}
    if ready is not None:
        obj["status"]["conditions"] = [{"type": "Ready", "status": "True" if ready else "False",
                                        "reason": "KubeletReady" if ready else "KubeletNotReady"}]
    return obj


def crd(group: str = "example.com", kind: str = "Widget", plural: str = "widgets", scope: str = "Namespaced",
        versions: tuple[str, ...] = ("v1",), columns: list | None = None) -> dict:
    return {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {"group": group, "scope": scope,
                 "names": {"kind": kind, "plural": plural, "singular": kind.lower(), "listKind": f"{kind}List",
                           "shortNames": [kind.lower()[:2]]},
                 "versions": [{"name": v, "served": True, "storage": i == 0,
                               "schema": {"openAPIV3Schema": {"type": "object",
                                                              "x-kubernetes-preserve-unknown-fields": True}},
                               "subresources": {"status": {}},
                               **({"additionalPrinterColumns": columns} if columns else {})}
                              for i, v in enumerate(versions)]},
    }


# ------------------------------------------------------------------------------------------------------ kubectl

def self_signed_cert(folder: Path) -> tuple[Path, Path]:
    """(cert, key) for 127.0.0.1 made with the openssl CLI; skips the test where openssl is missing."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command-line tool is not installed")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    return cert, key


def kubectl_binary() -> str | None:
    found = shutil.which("kubectl")
    if found:
        return found
    return "/usr/bin/kubectl" if os.access("/usr/bin/kubectl", os.X_OK) else None


class Kubectl:
    """Runs the real kubectl against a server with a kubeconfig and discovery cache of its own."""

    def __init__(self, binary: str, url: str, folder: Path, ca_data: str | None = None) -> None:
        self.binary = binary
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        cluster = {"server": url}
        if ca_data:
            cluster["certificate-authority-data"] = ca_data
        self.kubeconfig = folder / "kubeconfig"
        self.kubeconfig.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "lab",
            "clusters": [{"name": "lab", "cluster": cluster}],
            "users": [{"name": "lab", "user": {"token": TOKEN}}],
            "contexts": [{"name": "lab", "context": {"cluster": "lab", "user": "lab", "namespace": "default"}}],
        }))
        self.env = {**os.environ, "KUBECONFIG": str(self.kubeconfig), "KUBECACHEDIR": str(folder / "cache")}

    def popen(self, *args: str, **kw) -> subprocess.Popen:
        return subprocess.Popen([self.binary, *args], env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, **kw)

    def __call__(self, *args: str, input: str | None = None, check: bool = True,
                 timeout: float = 60) -> subprocess.CompletedProcess:
        result = subprocess.run([self.binary, *args], env=self.env, input=input, capture_output=True, text=True,
                                timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} exited {result.returncode}:\n"
                                 f"{result.stdout}\n{result.stderr}")
        return result


@pytest.fixture
def kubectl(server, tmp_path):
    binary = kubectl_binary()
    if binary is None:
        pytest.skip("kubectl is not installed (looked on PATH and at /usr/bin/kubectl)")
    return Kubectl(binary, server.url, tmp_path)
