"""Store.peek: the lab controllers' uncopied read of a whole kind — the same objects list() copies, filtered the
same way, and each write replaces the stored object (so a peeked object never changes under its reader)."""

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
