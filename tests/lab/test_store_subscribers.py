"""Store subscribers (hops.lab.apiserver.store): each gets its own copy by default, `shared` gets the stored
object itself, `only` decides which changes reach a subscriber at all."""

from __future__ import annotations

from hops.lab.apiserver.store import Store


def _cm(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"},
            "data": {"k": "v"}}


def test_a_copying_subscriber_may_change_what_it_gets_and_a_shared_one_sees_the_stored_object() -> None:
    store = Store()
    copied: list[dict] = []
    shared: list[dict] = []
    store.subscribe(lambda _type, obj: copied.append(obj))
    store.subscribe(lambda _type, obj: shared.append(obj), shared=True)
    store.create(_cm("one"))
    assert copied[-1]["data"] == {"k": "v"} and shared[-1]["data"] == {"k": "v"}
    copied[-1]["data"]["k"] = "changed by the subscriber"
    assert shared[-1]["data"] == {"k": "v"}  # a copy was changed, not the stored object
    assert store.get("v1", "ConfigMap", "one", "default")["data"] == {"k": "v"}
    assert shared[-1] is not copied[-1]
    store.close()


def test_only_filters_changes_before_they_are_delivered() -> None:
    store = Store()
    seen: list[tuple[str, str]] = []
    store.subscribe(lambda kind, obj: seen.append((kind, obj["metadata"]["name"])),
                    only=lambda _type, obj: obj["metadata"]["name"].startswith("keep"))
    store.create(_cm("keep-1"))
    store.create(_cm("drop-1"))
    store.delete("v1", "ConfigMap", "keep-1", "default")
    assert seen == [("ADDED", "keep-1"), ("DELETED", "keep-1")]
    store.close()


def test_unsubscribe_stops_delivery() -> None:
    store = Store()
    seen: list[str] = []
    stop = store.subscribe(lambda _type, obj: seen.append(obj["metadata"]["name"]), shared=True)
    store.create(_cm("a"))
    stop()
    store.create(_cm("b"))
    assert seen == ["a"]
    store.close()
