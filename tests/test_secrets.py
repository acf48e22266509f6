"""hops.secrets: redaction by value. Documents are registered by their leaf values, never by keys or lines."""

from __future__ import annotations

import base64
import json
import secrets as pyrandom
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from hops import secrets
from hops.lab.tools import talhelper

STRUCTURE_WORDS = ("secrets:", "cluster:", "certs:", "trustdinfo:", "k8saggregator:", "k8sserviceaccount:",
                   "etcd:", "os:", "crt:", "key:", "token:", "id:", "secret:", "bootstraptoken:")
ORDINARY_LINES = (
    "Kustomization external-secrets Ready=False",
    "waiting for the infrastructure Kustomizations (6) to be Ready: Kustomization external-secrets: Ready=Unknown",
    "ClusterRoleBinding kube-system/cluster:admin; certs: 5 secrets: 2 cluster: home-ops",
    "  ClusterRoleBinding kube-system/cluster-admin applied",
    "HelmRelease external-secrets/external-secrets Ready=True",
    "secrets:\n  bootstraptoken:\ncluster:\ncerts:\n  etcd:\n    crt:\n    key:",
    "trustdinfo k8saggregator k8sserviceaccount secretboxencryptionsecret",
    '{"version": "2", "encCredentials": {"kid": "kid", "enc": "A256GCM", "cty": "b5+jwk+json"}}',
    "-----BEGIN CERTIFICATE----- -----END EC PRIVATE KEY-----",
)


@pytest.fixture(autouse=True)
def fresh_registry() -> Iterator[None]:
    secrets.clear()
    yield
    secrets.clear()


def pem(kind: str, der_size: int) -> str:
    """A PEM block shaped like a real one: 64-column base64 lines of (random) DER between the armor lines."""
    body = base64.b64encode(pyrandom.token_bytes(der_size)).decode()
    return f"-----BEGIN {kind}-----\n" + "\n".join(textwrap.wrap(body, 64)) + f"\n-----END {kind}-----\n"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def ca(key_kind: str = "EC PRIVATE KEY") -> dict[str, str]:
    return {"crt": b64(pem("CERTIFICATE", 420)), "key": b64(pem(key_kind, 121))}


def talos_bundle() -> dict[str, Any]:
    """Shaped like `talosctl gen secrets` / `talhelper gensecret` output (keys, nesting and value formats)."""
    token = pyrandom.token_hex
    return {"cluster": {"id": base64.b64encode(pyrandom.token_bytes(32)).decode(),
                        "secret": base64.b64encode(pyrandom.token_bytes(32)).decode()},
            "secrets": {"bootstraptoken": f"{token(3)}.{token(8)}",
                        "secretboxencryptionsecret": base64.b64encode(pyrandom.token_bytes(32)).decode()},
            "trustdinfo": {"token": f"{token(3)}.{token(8)}"},
            "certs": {"etcd": ca(), "k8s": ca(), "k8saggregator": ca(),
                      "k8sserviceaccount": {"key": b64(pem("RSA PRIVATE KEY", 1190))},
                      "os": ca("ED25519 PRIVATE KEY")}}


def leaves(data: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(dotted key, value) of every leaf."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield from leaves(value, f"{path}.{key}" if path else key)
    else:
        yield path, str(data)


def forms(key: str, value: str) -> list[str]:
    return [f"{key}: {value}", json.dumps({key: value}), f"{key}={value}", value, f"log line {value} end"]


def assert_hidden(value: str, text: str) -> None:
    out = secrets.redact(text)
    assert value not in out, (value, out)
    assert secrets.REDACTED in out


@pytest.mark.parametrize("bundle", [talos_bundle(), talhelper.new_secrets()], ids=["talosctl-shaped", "lab"])
def test_every_leaf_of_a_talos_bundle_is_redacted_in_every_form(bundle: dict) -> None:
    secrets.register(yaml.safe_dump(bundle, sort_keys=False))
    for path, value in leaves(bundle):
        key = path.rsplit(".", 1)[-1]
        for text in forms(key, value):
            assert_hidden(value, text)


def test_a_bundle_registers_no_key_or_structure_word() -> None:
    bundle = talos_bundle()
    secrets.register(yaml.safe_dump(bundle, sort_keys=False))
    for line in (*ORDINARY_LINES, *STRUCTURE_WORDS, *(path for path, _ in leaves(bundle))):
        assert secrets.redact(line) == line


def test_the_lines_of_a_decoded_pem_are_redacted_but_not_its_armor() -> None:
    bundle = talos_bundle()
    secrets.register(yaml.safe_dump(bundle))
    key_pem = base64.b64decode(bundle["certs"]["os"]["key"]).decode()
    body = key_pem.splitlines()[1:-1]
    for line in body:
        if len(line) >= secrets.MIN_LEAF:
            assert_hidden(line, f"journal: {line}")
    assert_hidden("".join(body), "key=" + "".join(body))  # unwrapped, as some tools print it
    out = secrets.redact(key_pem)
    assert all(line not in out for line in body if len(line) >= secrets.MIN_LEAF)
    assert secrets.redact("-----BEGIN ED25519 PRIVATE KEY-----") == "-----BEGIN ED25519 PRIVATE KEY-----"


def test_a_plain_token_is_registered_whole_and_in_its_base64_form() -> None:
    token = "ghp_" + pyrandom.token_hex(18)
    assert secrets.register(token) is token
    assert_hidden(token, f'{{"token": "{token}"}}')
    assert_hidden(token, f"GITHUB_TOKEN={token}")
    assert_hidden(b64(token), f"data:\n  token: {b64(token)}")  # a Kubernetes Secret's data


def test_short_values_are_not_registered() -> None:
    secrets.register("abc12")
    assert secrets.redact("abc12 abc123") == "abc12 abc123"
    secrets.register("abc123")
    assert secrets.redact("abc12 abc123") == f"abc12 {secrets.REDACTED}"


def connect_credentials() -> dict[str, Any]:
    """Shaped like 1password-credentials.json (version 2)."""
    token = lambda n: base64.urlsafe_b64encode(pyrandom.token_bytes(n)).decode().rstrip("=")  # noqa: E731
    return {"verifier": {"salt": token(16), "localHash": token(32)},
            "encCredentials": {"kid": "localauthv2keykid", "enc": "A256GCM", "cty": "b5+jwk+json",
                               "iv": token(12), "data": token(600)},
            "version": "2", "deviceUuid": token(20),
            "uniqueKey": {"alg": "A256GCM", "ext": True, "k": token(32), "key_ops": ["decrypt", "encrypt"],
                          "kty": "oct", "kid": token(20)}}


SECRET_CREDENTIAL_FIELDS = ("verifier.salt", "verifier.localHash", "encCredentials.iv", "encCredentials.data",
                            "deviceUuid", "uniqueKey.k", "uniqueKey.kid")


@pytest.mark.parametrize("encode", [json.dumps, lambda d: b64(json.dumps(d)),
                                    lambda d: json.dumps({"credentials": json.dumps(d)})],
                         ids=["json", "base64-json", "json-in-json"])
def test_credentials_json_is_redacted_by_leaf_but_its_format_words_stay(encode) -> None:
    creds = connect_credentials()
    secrets.register(encode(creds))
    values = dict(leaves(creds))
    for path in SECRET_CREDENTIAL_FIELDS:
        for text in forms(path.rsplit(".", 1)[-1], values[path]):
            assert_hidden(values[path], text)
    for public in ('"version": "2"', "A256GCM", "b5+jwk+json", '["decrypt", "encrypt"]', '"kty": "oct"'):
        assert secrets.redact(public) == public


def test_the_credentials_are_hidden_whole_in_the_base64_a_secret_stores() -> None:
    text = json.dumps(connect_credentials())
    secrets.register(text)
    assert_hidden(b64(text), f"op-credentials: {b64(text)}")


def test_a_long_all_digit_token_in_yaml_is_still_registered() -> None:
    secrets.register("api:\n  pin: 12345678901234567890\n  port: 6443\n")
    assert_hidden("12345678901234567890", "pin=12345678901234567890")
    assert secrets.redact("port 6443") == "port 6443"


def test_a_plain_value_that_merely_looks_like_yaml_is_still_registered_whole() -> None:
    value = "user: hunter2-but-longer"
    secrets.register(value)
    assert_hidden(value, f"value={value}")
    assert_hidden("hunter2-but-longer", "password hunter2-but-longer")  # its leaf too


def test_redact_hides_a_secret_containing_another_whole() -> None:
    inner = pyrandom.token_hex(10)
    outer = f"{inner}-{pyrandom.token_hex(10)}"
    secrets.register(inner)
    secrets.register(outer)
    assert secrets.redact(f"x {outer} y") == f"x {secrets.REDACTED} y"
