"""The lab's chart repository (hops.lab.chart_repo): URLs mapped both ways, an index with three versions per chart
(the one infrastructure/ pins among them), archives a real helm pulls and renders into the objects the catalog
says each chart creates, with the infrastructure values and with flags flipped; lab mode maps HelmRepository URLs
to it and real mode leaves them alone."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from real_helm_helpers import real_helm_or_skip

from hops import helmrelease
from hops.endpoints import Endpoints
from hops.lab import charts, real_helm
from hops.lab.chart_repo import ChartRepoServer, archive, local_url, slug, upstream_url, versions
from tests.projects import REPO

RELEASE_FOLDERS = ["infrastructure/networking/cilium", "infrastructure/services/external-secrets",
                   "infrastructure/services/onepassword-connect", "infrastructure/storage/longhorn",
                   "infrastructure/apps/podinfo"]


@pytest.fixture(scope="module")
def server():
    srv = ChartRepoServer()
    srv.start()
    yield srv
    srv.stop()


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as reply:
        return reply.read()


def test_urls_map_to_the_lab_and_back() -> None:
    base = "http://127.0.0.1:4321"
    assert slug("https://1password.github.io/connect-helm-charts/") == "1password.github.io/connect-helm-charts"
    assert local_url(base, "https://helm.cilium.io") == "http://127.0.0.1:4321/repos/helm.cilium.io"
    for chart in charts.CATALOG.values():
        assert upstream_url(local_url(base, chart.repo_url)) == chart.repo_url.rstrip("/")
    assert upstream_url("https://helm.cilium.io") == "https://helm.cilium.io"       # not the lab's: unchanged
    assert upstream_url("http://10.0.0.1:4321/repos/helm.cilium.io") == "http://10.0.0.1:4321/repos/helm.cilium.io"


def test_each_pinned_chart_is_served_in_three_versions(server: ChartRepoServer) -> None:
    for folder in RELEASE_FOLDERS:
        release = helmrelease.load(REPO, folder)
        index = yaml.safe_load(get(local_url(server.url, release.repo_url) + "/index.yaml"))
        entries = index["entries"][release.chart]
        served = [e["version"] for e in entries]
        assert len(served) == 3 and release.version in served, (folder, served)
        assert served[0] == release.version      # newest first, as helm repo index writes it
        for entry in entries:
            data = get(local_url(server.url, release.repo_url) + "/" + entry["urls"][0])
            with tarfile.open(fileobj=io.BytesIO(data)) as archive_file:
                names = archive_file.getnames()
            assert f"{release.chart}/Chart.yaml" in names and f"{release.chart}/values.yaml" in names
            assert any(n.startswith(f"{release.chart}/templates/") for n in names)


def test_unknown_paths_and_charts_are_404(server: ChartRepoServer) -> None:
    for path in ("/", "/repos/example.com/index.yaml", "/repos/helm.cilium.io/charts/cilium-0.0.1.tgz",
                 "/index.yaml"):
        with pytest.raises(urllib.error.HTTPError) as caught:
            get(server.url + path)
        assert caught.value.code == 404


def test_versions_end_at_the_catalog_version() -> None:
    assert [c.version for c in versions(charts.CATALOG["cilium"])] == ["1.16.3", "1.16.4", "1.16.5"]
    assert [c.app_version for c in versions(charts.CATALOG["cilium"])] == ["1.16.3", "1.16.4", "1.16.5"]
    assert [c.version for c in versions(charts.CATALOG["connect"])] == ["1.14.0", "1.15.0", "1.16.0"]
    assert {c.app_version for c in versions(charts.CATALOG["connect"])} == {"1.7.3"}


def test_archives_are_the_same_bytes_every_time() -> None:
    assert archive(charts.CATALOG["longhorn"]) == archive(charts.CATALOG["longhorn"])


def test_endpoints_map_chart_repositories_only_in_lab_mode(tmp_path: Path) -> None:
    real = Endpoints(tmp_path, SimpleNamespace(), {})
    assert real.chart_repository("https://helm.cilium.io") == "https://helm.cilium.io"
    lab = Endpoints(tmp_path, SimpleNamespace(), {"HOPS_LAB": "1", "HOPS_LAB_DIR": str(tmp_path / "lab")})
    lab.__dict__["lab_info"] = {"chart_repo_url": "http://127.0.0.1:4321"}    # a running lab's lab.json
    assert lab.chart_repository("https://helm.cilium.io") == "http://127.0.0.1:4321/repos/helm.cilium.io"


# --- with the real helm ---------------------------------------------------------------------------------------
def helm(binary: Path, tmp: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**real_helm._helm_homes(tmp / "helm"), "PATH": "/usr/bin:/bin", "HTTPS_PROXY": real_helm.DEAD_PROXY,
           "HTTP_PROXY": real_helm.DEAD_PROXY}
    return subprocess.run([str(binary), *args], capture_output=True, text=True, env=env, timeout=120, cwd=tmp)


def test_real_helm_pulls_every_version_of_every_chart(server: ChartRepoServer, tmp_path: Path) -> None:
    binary = real_helm_or_skip()
    (tmp_path / "pulled").mkdir()
    for chart in charts.CATALOG.values():
        for variant in versions(chart):
            done = helm(binary, tmp_path, "pull", chart.name, "--repo", local_url(server.url, chart.repo_url),
                        "--version", variant.version, "-d", str(tmp_path / "pulled"))
            assert done.returncode == 0, done.stderr
            assert (tmp_path / "pulled" / f"{chart.name}-{variant.version}.tgz").exists()


def _key(obj: dict) -> tuple:
    return obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"]


def real_render(binary: Path, tmp: Path, server: ChartRepoServer, chart: charts.Chart, release: str, namespace: str,
                values: dict) -> dict:
    (tmp / "values.yaml").write_text(yaml.safe_dump(values))
    done = helm(binary, tmp, "template", release, chart.name, "--repo", local_url(server.url, chart.repo_url),
                "--version", chart.version, "-n", namespace, "-f", str(tmp / "values.yaml"))
    assert done.returncode == 0, done.stderr
    return {_key(o): o for o in yaml.safe_load_all(done.stdout) if o}


CASES = [  # (chart, release, namespace, values): the infrastructure values, and each flag the other way
    *[(helmrelease.load(REPO, f).chart, helmrelease.load(REPO, f).name, helmrelease.load(REPO, f).namespace,
       yaml.safe_load((REPO / f / "values.yaml").read_text()) if (REPO / f / "values.yaml").exists() else {})
      for f in RELEASE_FOLDERS],
    ("cilium", "cilium", "kube-system", {"hubble": {"relay": {"enabled": True, "replicas": 2}},
                                         "kubeProxyReplacement": "true", "operator": {"replicas": 1}}),
    ("cilium", "cilium", "kube-system", {"hubble": {"enabled": False}, "cluster": {"name": "lab"}}),
    ("external-secrets", "eso", "eso", {"webhook": {"create": False}, "installCRDs": False, "replicaCount": 2}),
    ("external-secrets", "eso", "eso", {"certController": {"create": False}}),
    ("connect", "op", "op", {"operator": {"create": True}, "connect": {"applicationName": "connect"}}),
    ("longhorn", "longhorn", "longhorn-system", {"persistence": {"defaultClass": False,
                                                                 "defaultClassReplicaCount": 2}}),
    ("podinfo", "web", "apps", {"replicaCount": 2, "ui": {"message": "hi"}}),
]


@pytest.mark.parametrize("name, release, namespace, values", CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_real_helm_renders_what_the_catalog_creates(server: ChartRepoServer, tmp_path: Path, name: str,
                                                    release: str, namespace: str, values: dict) -> None:
    """The same objects, field for field, as the emulated helm creates from the catalog."""
    binary = real_helm_or_skip()
    chart = charts.CATALOG[name]
    real = real_render(binary, tmp_path, server, chart, release, namespace, values)
    emulated = {_key(o): json.loads(json.dumps(o)) for o in charts.render(chart, release, namespace, values)}
    assert sorted(real) == sorted(emulated)
    for key, obj in emulated.items():
        assert real[key] == obj, key


def test_a_flag_changes_what_real_helm_renders(server: ChartRepoServer, tmp_path: Path) -> None:
    """The conditions are live: the relay appears only when enabled (false and true)."""
    binary = real_helm_or_skip()
    chart = charts.CATALOG["cilium"]
    off = real_render(binary, tmp_path, server, chart, "cilium", "kube-system", {})
    on = real_render(binary, tmp_path, server, chart, "cilium", "kube-system", {"hubble": {"relay": {"enabled": True}}})
    assert ("Deployment", "kube-system", "hubble-relay") not in off
    assert ("Deployment", "kube-system", "hubble-relay") in on
    assert off[("ConfigMap", "kube-system", "cilium-config")]["data"]["kube-proxy-replacement"] == "false"
    kpr = real_render(binary, tmp_path, server, chart, "cilium", "kube-system", {"kubeProxyReplacement": True})
    assert kpr[("ConfigMap", "kube-system", "cilium-config")]["data"]["kube-proxy-replacement"] == "true"
