"""hops.kubeconfig: the kubeconfigs hops works with (server, CA, client certificate or token) are read into the
official client's REST layer without its loader; everything else goes through the official loader. Requests go
over real HTTP(S) to a local server that answers with what it received."""

from __future__ import annotations

import base64
import json
import ssl
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from hops import kubeconfig
from tests.lab.apiserver_fixtures import self_signed_cert

REPO = Path(__file__).resolve().parent.parent


class Echo(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = json.dumps({"path": self.path, "authorization": self.headers.get("Authorization")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def serve(tls: tuple[Path, Path] | None = None) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    if tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*tls)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    return self_signed_cert(tmp_path)


@pytest.fixture
def https_url(certificate: tuple[Path, Path]) -> Iterator[str]:
    yield from serve(certificate)


@pytest.fixture
def http_url() -> Iterator[str]:
    yield from serve()


def write(folder: Path, server: str, cluster: dict | None = None, user: dict | None = None) -> Path:
    path = folder / "kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "admin@lab",
        "clusters": [{"name": "lab", "cluster": {"server": server, **(cluster or {})}}],
        "contexts": [{"name": "admin@lab", "context": {"cluster": "lab", "user": "admin"}}],
        "users": [{"name": "admin", "user": user or {}}]}))
    return path


def get(transport: kubeconfig.Transport, path: str = "/api/v1/namespaces", **query: str) -> dict:
    response = transport.send("GET", path, query or None, {"Accept": "application/json"}, None, 10)
    assert response.status == 200
    return json.loads(response.data)


def b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def test_a_talosctl_style_kubeconfig_speaks_tls_with_its_ca_and_client_certificate(
        tmp_path: Path, certificate: tuple[Path, Path], https_url: str) -> None:
    cert, key = certificate
    path = write(tmp_path, https_url, {"certificate-authority-data": b64(cert)},
                 {"client-certificate-data": b64(cert), "client-key-data": b64(key)})
    transport = kubeconfig.transport(path)
    assert get(transport, watch="true", resourceVersion="7") == {
        "path": "/api/v1/namespaces?watch=true&resourceVersion=7", "authorization": None}
    client_cert = Path(transport.configuration.cert_file)
    assert client_cert.read_bytes() == cert.read_bytes()
    assert stat.S_IMODE(client_cert.stat().st_mode) == 0o600
    assert stat.S_IMODE(client_cert.parent.stat().st_mode) == 0o700
    assert Path(transport.configuration.key_file).read_bytes() == key.read_bytes()


@pytest.mark.filterwarnings("ignore:Unverified HTTPS request")  # urllib3's warning for the skipped verification
def test_the_server_certificate_is_verified(tmp_path: Path, https_url: str) -> None:
    (tmp_path / "other").mkdir()
    other, _ = self_signed_cert(tmp_path / "other")  # a certificate the server's is not
    untrusted = kubeconfig.transport(write(tmp_path, https_url, {"certificate-authority-data": b64(other)}))
    with pytest.raises(Exception, match="CERTIFICATE_VERIFY_FAILED"):
        get(untrusted)
    skipped = kubeconfig.transport(write(tmp_path, https_url, {"insecure-skip-tls-verify": True}))
    assert get(skipped)["path"] == "/api/v1/namespaces"


def test_a_token_or_token_file_is_sent_as_bearer(tmp_path: Path, http_url: str) -> None:
    assert get(kubeconfig.transport(write(tmp_path, http_url, user={"token": "abc"})))["authorization"] == "Bearer abc"
    (tmp_path / "token").write_text("from-file\n")
    by_file = kubeconfig.transport(write(tmp_path, http_url, user={"tokenFile": "token"}))
    assert get(by_file)["authorization"] == "Bearer from-file"


def test_other_kubeconfigs_go_through_the_official_loader(tmp_path: Path, http_url: str) -> None:
    basic = kubeconfig.transport(write(tmp_path, http_url, user={"username": "u", "password": "p"}))
    assert basic._api_client is not None
    assert get(basic)["authorization"] == "Basic " + base64.b64encode(b"u:p").decode()
    exec_user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": sys.executable,
                          "args": ["-c", 'import json; print(json.dumps({"apiVersion": '
                                   '"client.authentication.k8s.io/v1", "kind": "ExecCredential", '
                                   '"status": {"token": "from-exec"}}))']}}
    assert get(kubeconfig.transport(write(tmp_path, http_url, user=exec_user)))["authorization"] == \
        "Bearer from-exec"


SCRIPT = """
import json, sys
from pathlib import Path
from hops import kubeconfig
transport = kubeconfig.transport(Path(sys.argv[1]))
response = transport.send("GET", "/version", None, {}, None, 10)
print(json.dumps({"status": response.status, "heavy": sorted(m for m in sys.modules if m.split(".")[0] in
      ("pydantic", "requests", "oauthlib", "google") or m.startswith("kubernetes.config"))}))
"""


def test_the_simple_path_imports_neither_the_loader_nor_pydantic(tmp_path: Path, http_url: str) -> None:
    path = write(tmp_path, http_url, user={"token": "abc"})
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(path)], cwd=REPO, capture_output=True, text=True,
                            timeout=60, check=True)
    assert json.loads(result.stdout) == {"status": 200, "heavy": []}


def test_a_broken_certificate_field_is_one_clear_error_naming_the_kubeconfig_and_field(tmp_path: Path,
                                                                                      http_url: str) -> None:
    from hops.errors import StepError

    not_base64 = write(tmp_path, http_url, user={"client-certificate-data": "%%% not base64 %%%",
                                                 "client-key-data": "a2V5"})
    with pytest.raises(StepError, match=r"kubeconfig: client-certificate-data is not base64"):
        kubeconfig.transport(not_base64)
    missing = write(tmp_path, http_url, {"certificate-authority": "ca.pem"})
    with pytest.raises(StepError, match=r"kubeconfig: certificate-authority .*ca\.pem cannot be read"):
        kubeconfig.transport(missing)
    with pytest.raises(StepError, match=r"kubeconfig: tokenFile .*token cannot be read"):
        kubeconfig.transport(write(tmp_path, http_url, user={"tokenFile": "token"}))


def test_two_kubeconfigs_in_one_process_keep_their_own_certificate_files(tmp_path: Path, http_url: str,
                                                                        certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    (tmp_path / "other").mkdir()
    other_cert, other_key = self_signed_cert(tmp_path / "other")
    first = kubeconfig.transport(write(tmp_path, http_url, user={
        "client-certificate-data": b64(cert), "client-key-data": b64(key)}))
    second = kubeconfig.transport(write(tmp_path / "other", http_url, user={
        "client-certificate-data": b64(other_cert), "client-key-data": b64(other_key)}))
    assert Path(first.configuration.cert_file).read_bytes() == cert.read_bytes()
    assert Path(second.configuration.cert_file).read_bytes() == other_cert.read_bytes()
