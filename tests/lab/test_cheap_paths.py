"""The lab's cheap paths answer what the expensive ones did: Store.peek (the controllers' uncopied read of a whole
kind) gives the objects list() copies, filtered the same way, and a write replaces the stored object, so a peeked
or delivered object never changes under its reader; a namespace's slice of the sorted keys is exactly its
objects; release manifests written with libyaml are safe_dump's text."""

from __future__ import annotations

import pytest

from hops.lab.apiserver import Store

pytestmark = pytest.mark.lab


def _cm(name: str, namespace: str = "default", **labels: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace,
                                                                  "labels": labels}, "data": {"k": "v"}}


def test_peek_answers_what_list_answers_without_copying() -> None:
    store = Store()
    store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}})
    store.create(_cm("a", app="x"))
    store.create(_cm("b", app="y"))
    store.create(_cm("c", namespace="other", app="x"))
    assert store.peek("v1", "ConfigMap") == store.list("v1", "ConfigMap")
    assert store.peek("v1", "ConfigMap", "default") == store.list("v1", "ConfigMap", "default")
    assert [o["metadata"]["name"] for o in store.peek("v1", "ConfigMap", labels={"app": "x"})] == ["a", "c"]
    first, again = store.peek("v1", "ConfigMap")[0], store.peek("v1", "ConfigMap")[0]
    assert first is again                                    # shared: no copy per read
    assert store.list("v1", "ConfigMap")[0] is not store.list("v1", "ConfigMap")[0]   # list() copies
    assert store.peek("v1", "NoSuchKind") == []


def test_a_write_replaces_the_stored_object_so_a_peeked_one_stays_as_it_was() -> None:
    store = Store()
    store.create(_cm("a"))
    before = store.peek("v1", "ConfigMap")[0]
    store.patch("v1", "ConfigMap", "a", "default", {"data": {"k": "changed"}})
    assert before["data"] == {"k": "v"}
    assert store.peek("v1", "ConfigMap")[0]["data"] == {"k": "changed"}


def test_a_namespace_selects_exactly_its_objects_whatever_the_neighbouring_names() -> None:
    store = Store()
    for ns in ("a", "a-b", "a0", "ab", "b"):
        store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        store.create(_cm("x", namespace=ns))
        store.create(_cm("y", namespace=ns))
    for ns in ("a", "a-b", "a0", "ab", "b"):
        assert [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in store.list("v1", "ConfigMap", ns)] \
            == [(ns, "x"), (ns, "y")]
    assert store.list("v1", "ConfigMap", "nothere") == [] and len(store.list("v1", "ConfigMap")) == 10


def test_release_manifests_are_the_text_safe_dump_writes() -> None:
    """The lab writes a release's manifest with libyaml's emitter where PyYAML has it: the same text."""
    import yaml

    from hops.lab import charts, helm_releases

    for name, version in (("podinfo", "6.7.1"), ("cilium", "1.16.5"), ("external-secrets", "0.10.7")):
        objects = charts.render(charts.lookup(name, version), name, name, {})
        assert helm_releases._manifest(objects) == "\n".join("---\n" + yaml.safe_dump(o, sort_keys=False)
                                                             for o in objects)


def test_the_saved_store_is_its_snapshot(tmp_path) -> None:
    """sim-state.json is composed from the objects' kept serialised forms; it reads back as snapshot()."""
    import json

    from hops.lab.daemon import Persister
    from hops.lab.layout import LabLayout

    store = Store()
    store.create(_cm("a", app="x"))
    store.create(_cm("b"))
    snapshot = json.loads(store.snapshot_json())
    kept = [o for o in snapshot["objects"] if o["kind"] == "ConfigMap" and o["metadata"]["namespace"] == "default"]
    assert sorted(kept, key=lambda o: o["metadata"]["name"]) == store.list("v1", "ConfigMap", "default")
    layout = LabLayout(tmp_path / "lab")
    layout.root.mkdir(parents=True)
    Persister(layout, lambda: {"store": store.snapshot_json(), "api_port": 1234}).save()
    saved = json.loads(layout.sim_state_file.read_text())
    assert saved["store"] == store.snapshot() and saved["api_port"] == 1234
    assert Store.restore(saved["store"]).list("v1", "ConfigMap") == store.list("v1", "ConfigMap")


def test_an_emulated_talosctl_imports_neither_the_node_simulator_nor_dataclasses() -> None:
    """Every talosctl call is a process (50 nodes: hundreds per bootstrap); `validate` needs only the config
    checks, and `dataclasses` alone cost each process ~14 ms."""
    import subprocess
    import sys

    probe = ("import sys; from hops.lab.tools import talosctl; from hops.lab.machine_config import "
             "validate_machine_config; print(sorted(m for m in ('hops.lab.talos_nodes', 'dataclasses', "
             "'hops.lab.tools.talos_gen', 'secrets') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"
