"""The emulated talhelper, run through its launcher like hops runs it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hops.lab import lifecycle, pki


@pytest.fixture(autouse=True)
def launchers(lab_layout) -> None:
    lifecycle.install_launchers(lab_layout)      # talhelper needs no running lab


def _context(out: Path) -> dict:
    config = yaml.safe_load((out / "talosconfig").read_text())
    return config["contexts"][config["context"]]


def test_genconfig_writes_one_config_per_node_and_a_talosconfig(run_tool, lab_project: Path) -> None:
    (lab_project / "talsecret.yaml").write_text(run_tool("talhelper", "gensecret").stdout)
    done = run_tool("talhelper", "genconfig")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "generated config for talos-cp-1 in ./clusterconfig/home-ops-talos-cp-1.yaml",
        "generated config for talos-cp-2 in ./clusterconfig/home-ops-talos-cp-2.yaml",
        "generated config for talos-cp-3 in ./clusterconfig/home-ops-talos-cp-3.yaml",
        "generated client config in ./clusterconfig/talosconfig",
        "generated .gitignore file in ./clusterconfig/.gitignore"]
    out = lab_project / "clusterconfig"
    doc = yaml.safe_load((out / "home-ops-talos-cp-2.yaml").read_text())
    assert doc["version"] == "v1alpha1" and doc["machine"]["type"] == "controlplane"
    assert doc["machine"]["network"]["hostname"] == "talos-cp-2"
    assert doc["machine"]["install"]["disk"] == "/dev/sda"
    assert doc["cluster"]["clusterName"] == "home-ops"
    assert doc["cluster"]["controlPlane"]["endpoint"] == "https://172.29.51.10:6443"
    assert doc["cluster"]["network"]["podSubnets"] == ["10.244.0.0/16"]
    assert doc["cluster"]["proxy"] == {"disabled": True}            # from talos/patches/cluster.yaml
    assert doc["cluster"]["network"]["cni"] == {"name": "none"}
    secret = yaml.safe_load((lab_project / "talsecret.yaml").read_text())
    assert doc["machine"]["ca"]["crt"] == secret["certs"]["os"]["crt"]
    assert doc["cluster"]["secretboxEncryptionSecret"] == secret["secrets"]["secretboxencryptionsecret"]
    assert (out / ".gitignore").read_text().splitlines() == [
        "home-ops-talos-cp-1.yaml", "home-ops-talos-cp-2.yaml", "home-ops-talos-cp-3.yaml", "talosconfig"]
    assert (out / "talosconfig").stat().st_mode & 0o777 == 0o600


def test_talosconfig_client_cert_is_issued_by_the_secrets_os_ca(run_tool, lab_project: Path) -> None:
    (lab_project / "talsecret.yaml").write_text(run_tool("talhelper", "gensecret").stdout)
    assert run_tool("talhelper", "genconfig", "-s", "talsecret.yaml", "-o", "out").returncode == 0
    ctx = _context(lab_project / "out")
    assert ctx["endpoints"] == ["172.29.51.11", "172.29.51.12", "172.29.51.13"]
    os_ca = pki.unb64(yaml.safe_load((lab_project / "talsecret.yaml").read_text())["certs"]["os"]["crt"])
    assert pki.issued_by(pki.unb64(ctx["crt"]), os_ca)
    assert pki.key_matches(pki.unb64(ctx["crt"]), pki.unb64(ctx["key"]))
    other = pki.new_ca("talos")["crt"]
    assert not pki.issued_by(pki.unb64(ctx["crt"]), other)


def test_genconfig_substitutes_variables_and_rejects_an_empty_cluster_name(run_tool, lab_project: Path) -> None:
    talconfig = lab_project / "talconfig.yaml"
    text = talconfig.read_text()
    assert "${CLUSTER_NAME:-home-ops}" in text
    talconfig.write_text(text.replace("${CLUSTER_NAME:-home-ops}", "${CLUSTER_NAME}"))
    missing = run_tool("talhelper", "genconfig", "--no-gitignore")
    assert missing.returncode == 1 and "clusterName is required" in missing.stderr
    done = run_tool("talhelper", "genconfig", "--no-gitignore", env={"CLUSTER_NAME": "lab-two"})
    assert done.returncode == 0, done.stderr
    assert (lab_project / "clusterconfig" / "lab-two-talos-cp-1.yaml").exists()
    assert not (lab_project / "clusterconfig" / ".gitignore").exists()
    talosconfig = yaml.safe_load((lab_project / "clusterconfig" / "talosconfig").read_text())
    assert talosconfig["context"] == "lab-two" and list(talosconfig["contexts"]) == ["lab-two"]
    ctx = _context(lab_project / "clusterconfig")
    assert ctx["endpoints"] == ["172.29.51.11", "172.29.51.12", "172.29.51.13"]
    assert ctx["nodes"] == ["172.29.51.11", "172.29.51.12", "172.29.51.13"]
    doc = yaml.safe_load((lab_project / "clusterconfig" / "lab-two-talos-cp-1.yaml").read_text())
    assert doc["cluster"]["clusterName"] == "lab-two"


def test_explicit_missing_secret_file_fails(run_tool) -> None:
    done = run_tool("talhelper", "genconfig", "-s", "nope.yaml")
    assert done.returncode == 1
    assert "open nope.yaml: no such file or directory" in done.stderr


def test_gensecret_is_a_fake_bundle(run_tool) -> None:
    bundle = yaml.safe_load(run_tool("talhelper", "gensecret").stdout)
    assert set(bundle) == {"cluster", "secrets", "trustdinfo", "certs"}
    assert set(bundle["certs"]) == {"etcd", "k8s", "k8saggregator", "k8sserviceaccount", "os"}
    assert "hops-lab-fake" in bundle["cluster"]["secret"]
    assert "hops-lab-fake" in pki.unb64(bundle["certs"]["os"]["crt"]) or \
        pki.read_cert(pki.unb64(bundle["certs"]["os"]["crt"]))["note"] == "hops-lab-fake"
    assert bundle["secrets"]["bootstraptoken"] != yaml.safe_load(
        run_tool("talhelper", "gensecret").stdout)["secrets"]["bootstraptoken"]


def test_validate_talconfig(run_tool, lab_project: Path) -> None:
    ok = run_tool("talhelper", "validate", "talconfig")
    assert ok.returncode == 0, ok.stderr
    (lab_project / "bad.yaml").write_text("clusterName: x\nnodes: []\n")
    bad = run_tool("talhelper", "validate", "talconfig", "bad.yaml")
    assert bad.returncode == 1
    assert "There are issues with your talhelper config file" in bad.stderr and "endpoint" in bad.stderr


def test_version_and_unknown_command(run_tool) -> None:
    assert run_tool("talhelper", "--version").stdout.strip() == "talhelper version 3.0.12"
    unknown = run_tool("talhelper", "genconfg")
    assert unknown.returncode == 1
    assert 'unknown command "genconfg" for "talhelper"' in unknown.stderr
