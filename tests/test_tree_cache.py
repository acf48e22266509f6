"""hops.tree_cache: an answer computed from folders is kept while no folder, file or the computing code changed;
any change (an edited, added or removed file, a mentioned folder appearing, the code) computes it again; an
answer whose files changed while it was computed is not kept. And the manifest check that uses it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from hops import gitops_tree, tree_cache


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv(tree_cache.CACHE_ENV, str(folder))
    return folder


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    top = tmp_path / "tree"
    (top / "sub").mkdir(parents=True)
    (top / "a.yaml").write_text("a: 1\n")
    (top / "sub" / "b.yaml").write_text("b: 2\n")
    (tmp_path / "code.py").write_text("# the computing code\n")
    return top


class Counted:
    def __init__(self, top: Path, mentioned: Path | None = None) -> None:
        self.top, self.mentioned, self.runs = top, mentioned, 0

    def __call__(self) -> tree_cache.Computed:
        self.runs += 1
        files = sorted(str(p.relative_to(self.top)) for p in self.top.rglob("*.yaml"))
        return tree_cache.Computed(files, [self.top], [self.mentioned] if self.mentioned else [])


def ask(compute: Counted, code: Path) -> list[str]:
    return tree_cache.answer("test", ["key"], [code], compute)


def test_nothing_changed_is_answered_from_the_copy(tree: Path) -> None:
    compute, code = Counted(tree), tree.parent / "code.py"
    assert ask(compute, code) == ask(compute, code) == ["a.yaml", "sub/b.yaml"]
    assert compute.runs == 1


@pytest.mark.parametrize("change", ["edit", "add in a subfolder", "remove", "code"])
def test_a_change_computes_again(tree: Path, change: str) -> None:
    compute, code = Counted(tree), tree.parent / "code.py"
    ask(compute, code)
    if change == "edit":
        (tree / "sub" / "b.yaml").write_text("b: 3\n")
    elif change == "add in a subfolder":
        (tree / "sub" / "c.yaml").write_text("c: 1\n")
    elif change == "remove":
        (tree / "a.yaml").unlink()
    else:
        code.write_text("# changed code\n")
    expected = {"edit": ["a.yaml", "sub/b.yaml"], "add in a subfolder": ["a.yaml", "sub/b.yaml", "sub/c.yaml"],
                "remove": ["sub/b.yaml"], "code": ["a.yaml", "sub/b.yaml"]}[change]
    assert ask(compute, code) == expected
    assert compute.runs == 2
    assert ask(compute, code) == expected and compute.runs == 2


def test_a_mentioned_folder_that_appears_computes_again(tree: Path) -> None:
    later = tree.parent / "later"
    compute, code = Counted(tree, mentioned=later), tree.parent / "code.py"
    ask(compute, code)
    later.mkdir()
    ask(compute, code)
    assert compute.runs == 2


def test_an_answer_read_while_its_files_changed_is_not_kept(tree: Path) -> None:
    code = tree.parent / "code.py"

    class Racing(Counted):
        def __call__(self) -> tree_cache.Computed:
            computed = super().__call__()
            (self.top / "a.yaml").write_text("a: changed while being read\n")
            return computed

    compute = Racing(tree)
    ask(compute, code)
    ask(compute, code)
    assert compute.runs == 2


def test_turned_off_it_always_computes(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(tree_cache.CACHE_ENV, "0")
    compute = Counted(tree)
    ask(compute, tree.parent / "code.py")
    ask(compute, tree.parent / "code.py")
    assert compute.runs == 2


def helmrelease(name: str, **spec: object) -> dict:
    return {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
            "metadata": {"name": name, "namespace": "apps"},
            "spec": {"interval": "30m", "chart": {"spec": {"chart": name, "version": "1.0.0", "sourceRef": {
                "kind": "HelmRepository", "name": "charts", "namespace": "flux-system"}}}, **spec}}


def test_the_manifest_check_sees_a_helmrelease_fixed_or_broken_after_it_was_kept(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    cluster, apps = root / "clusters" / "lab", root / "apps"
    cluster.mkdir(parents=True)
    (cluster / "apps.yaml").write_text(yaml.safe_dump(
        {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
         "metadata": {"name": "apps", "namespace": "flux-system"},
         "spec": {"interval": "10m", "path": "./apps", "prune": True,
                  "sourceRef": {"kind": "GitRepository", "name": "flux-system"}}}))
    assert gitops_tree.helmrelease_problems(root, "clusters/lab") == []  # ./apps does not exist yet
    (apps / "podinfo").mkdir(parents=True)
    (apps / "podinfo" / "release.yaml").write_text(yaml.safe_dump(helmrelease("podinfo", interval="soon")))
    broken = gitops_tree.helmrelease_problems(root, "clusters/lab")
    assert len(broken) == 1 and "apps/podinfo/release.yaml" in broken[0] and "interval" in broken[0]
    assert gitops_tree.helmrelease_problems(root, "clusters/lab") == broken
    (apps / "podinfo" / "release.yaml").write_text(yaml.safe_dump(helmrelease("podinfo")))
    assert gitops_tree.helmrelease_problems(root, "clusters/lab") == []
    os.utime(apps / "podinfo")  # nothing else changed: still the kept answer
    assert gitops_tree.helmrelease_problems(root, "clusters/lab") == []
