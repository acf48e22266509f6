"""The object store behind the emulated apiserver: objects, resourceVersions, events, watches, CRD establishment.

One re-entrant lock guards everything. Stored objects are never modified in place: each write stores a new
`Entry`, so readers (HTTP threads serialising a list, watchers) can use entries after the lock is released.
Python callers always get deep copies.
"""

from __future__ import annotations

import bisect
import builtins  # Store.list shadows the builtin in the class body's annotations
import json
import logging
import random
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any

from hops.lab.apiserver import defaults, errors, managed, schema, structural, validation
from hops.lab.apiserver.collector import Collector, terminating_error
from hops.lab.apiserver.errors import ApiError
from hops.lab.apiserver.patches import apply_merge, json_patch, merge_patch, strategic_merge
from hops.lab.apiserver.podlogs import PodLogs
from hops.lab.apiserver.resources import Registry, ResourceType, crd_resource_types
from hops.lab.apiserver.selectors import Matcher, labels_matcher
from hops.lab.apiserver.watch import Entry, Event, Watcher

log = logging.getLogger(__name__)

DEFAULT_NAMESPACES = ("default", "kube-node-lease", "kube-public", "kube-system")
PROTECTED_NAMESPACES = ("default", "kube-public", "kube-system")   # a real apiserver refuses to delete these
NS_KEY = ("", "namespaces")
POD_KEY = ("", "pods")
CRD_KEY = ("apiextensions.k8s.io", "customresourcedefinitions")

MERGE, STRATEGIC, JSON_PATCH, APPLY = "merge", "strategic", "json", "apply"
HISTORY_SECONDS = 300.0      # kube-apiserver has etcd compact every 5 minutes

_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS1035_RE = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start "
              "and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
              "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
_SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and "
                  "must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation "
                  "is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
_DNS1035_MSG = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
                "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for "
                "validation is '[a-z]([-a-z0-9]*[a-z0-9])?')")
_SUFFIX_CHARS = "bcdfghjklmnpqrstvwxz2456789"
_PATH_SEGMENT_KINDS = {"rbac.authorization.k8s.io"}
# Kinds whose strategy sets metadata.generation (spec/status split, bumped on spec changes); ConfigMaps, Secrets,
# Nodes, Namespaces, Services, Events, Leases... have none. Custom resources always do.
_GENERATION_GROUPS = {"apps", "batch", "policy", "admissionregistration.k8s.io", "autoscaling"}
_GENERATION_KEYS = {("networking.k8s.io", "ingresses"), ("networking.k8s.io", "networkpolicies"),
                    ("networking.k8s.io", "ingressclasses"), CRD_KEY}


def has_generation(rt: ResourceType) -> bool:
    return rt.custom or rt.group in _GENERATION_GROUPS or rt.key in _GENERATION_KEYS


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _fresh(obj: Any) -> Any:
    """A deep copy that also proves the value is JSON-serialisable."""
    try:
        return json.loads(json.dumps(obj))
    except (TypeError, ValueError) as exc:
        raise errors.bad_request(f"the object is not valid JSON: {exc}") from None


def _condition(obj: dict, kind: str) -> dict | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") == kind:
            return cond
    return None


def _rv_of(obj: dict) -> str:
    return (obj.get("metadata") or {}).get("resourceVersion") or ""


class Store(Collector):
    """In-memory Kubernetes objects. See hops.lab.apiserver for the interface other lab parts use."""

    def __init__(self, crd_establish_delay: float = 0.0, *, namespaces: tuple[str, ...] = DEFAULT_NAMESPACES,
                 history_size: int = 5000, history_seconds: float = HISTORY_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """history_size / history_seconds: the watch history window (events beyond either are compacted, and a
        watch from before them answers 410 Gone, as after etcd's compaction); clock: for that window."""
        self.crd_establish_delay = crd_establish_delay
        self.history_seconds = history_seconds
        self._clock = clock
        self.registry = Registry()
        self._lock = threading.RLock()
        self._watch_changed = threading.Condition(self._lock)
        self._rv = 0
        self._buckets: dict[tuple[str, str], dict[tuple[str, str], Entry]] = {}
        self._sorted: dict[tuple[str, str], list[tuple[str, str]]] = {}
        self._history: deque[Event] = deque(maxlen=history_size)
        self._floor = 0                      # events with rv <= floor may be gone from the history
        self._uids: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {}   # uid -> (storage key, slot)
        self._sweeping: set[str] = set()     # namespaces whose content is being deleted right now
        self._watchers: dict[tuple[str, str], set[Watcher]] = {}
        self._subscribers: list[tuple[Callable[[str, dict], None], bool, Any]] = []  # (fn, shared, only)
        self._pending: deque[Event] = deque()
        self._dispatch_lock = threading.Lock()
        self._tls = threading.local()
        self.pod_logs = PodLogs()            # followed by `pods/log?follow=true` (hops.lab.apiserver.podlogs)
        self._timers: dict[str, threading.Timer] = {}
        self._requests = 0
        self._requests_by_method: dict[str, int] = {}  # what a read-only client (doit plan) must not send
        self._count_lock = threading.Lock()
        self._closed = False
        for name in namespaces:
            self.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})

    # ------------------------------------------------------------------------------------------ Python interface

    def create(self, obj: dict) -> dict:
        """Create an object; ApiError 409 AlreadyExists / 404 (namespace) NotFound / 422 Invalid."""
        rt = self._type_for(obj.get("apiVersion", ""), obj.get("kind", ""))
        fresh = _fresh(obj)
        with self._lock:
            namespace = (fresh.get("metadata") or {}).get("namespace")
            entry = self._create(rt, namespace, fresh)
            result = self._latest(rt, entry).copy()
        self._dispatch()
        return result

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict | None:
        entry = self._stored(api_version, kind, name, namespace)
        return entry.copy() if entry is not None else None

    def peek_one(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict | None:
        """Like get(), but the stored object itself, shared and not copied: read it, never change it (the lab's
        controllers ask for hundreds of objects a pass only to look at them)."""
        entry = self._stored(api_version, kind, name, namespace)
        return entry.obj if entry is not None else None

    def _stored(self, api_version: str, kind: str, name: str, namespace: str | None) -> Entry | None:
        rt = self.registry.by_kind(api_version, kind)
        if rt is None:
            return None
        entry = self._bucket(rt).get((self._ns(rt, namespace), name))
        return self.view(rt, entry) if entry is not None else None

    def list(self, api_version: str, kind: str, namespace: str | None = None,
             labels: dict[str, str] | None = None) -> list[dict]:
        rt = self.registry.by_kind(api_version, kind)
        if rt is None:
            return []
        entries, _ = self.select(rt, namespace if rt.namespaced else None, labels_matcher(labels))
        return [self.view(rt, entry).copy() for entry in entries]

    def peek(self, api_version: str, kind: str, namespace: str | None = None,
             labels: dict[str, str] | None = None) -> builtins.list[dict]:
        """Like list(), but the stored objects themselves, shared and not copied: read them, never change them.
        For the lab's controllers, which re-read whole kinds (every Pod, every Deployment) on each wake: a copy
        of each object each time was the daemon's largest cost at 50 nodes and 200 apps."""
        rt = self.registry.by_kind(api_version, kind)
        if rt is None:
            return []
        entries, _ = self.select(rt, namespace if rt.namespaced else None, labels_matcher(labels))
        return [self.view(rt, entry).obj for entry in entries]

    def apply(self, obj: dict) -> dict:
        """Create, or merge the given fields into the existing object (server-side apply by one manager; status
        fields are merged too, since this is the lab's own back door)."""
        rt = self._type_for(obj.get("apiVersion", ""), obj.get("kind", ""))
        fresh = _fresh(obj)
        meta = fresh.get("metadata") or {}
        with self._lock:
            entry = self._bucket(rt).get((self._ns(rt, meta.get("namespace")), meta.get("name") or ""))
            if entry is None:
                entry = self._create(rt, meta.get("namespace"), fresh)
            else:
                entry = self._update(rt, entry, apply_merge(entry.copy(), fresh), "*")
            result = self._latest(rt, entry).copy()
        self._dispatch()
        return result

    def server_side_apply(self, obj: dict, manager: str, force: bool = True) -> dict:
        """A real server-side apply by `manager` (what a controller such as kustomize-controller sends): fields
        must be declared, ownership is recorded, conflicts raise 409 unless force, and fields this manager stopped
        applying are removed."""
        rt = self._type_for(obj.get("apiVersion", ""), obj.get("kind", ""))
        fresh = _fresh(obj)
        meta = fresh.get("metadata") or {}
        with validation.request(validation.STRICT, http=False, manager=manager, force=force):
            entry, _ = self.patch_in(rt, self._ns(rt, meta.get("namespace")), meta.get("name") or "", APPLY, fresh,
                                     None)
        with self._lock:
            return self._latest(rt, entry).copy()

    def patch(self, api_version: str, kind: str, name: str, namespace: str | None, patch: dict) -> dict:
        """Strategic merge patch (conditions by type, containers/env/volumes by name), status included."""
        rt = self._type_for(api_version, kind)
        with self._lock:
            entry = self._existing(rt, self._ns(rt, namespace), name)
            entry = self._update(rt, entry, strategic_merge(entry.copy(), _fresh(patch)), "*")
            result = self._latest(rt, entry).copy()
        self._dispatch()
        return result

    def set_status(self, api_version: str, kind: str, name: str, namespace: str | None, status: dict) -> dict:
        """Merge into .status (conditions by type; a condition whose status changes gets a new
        lastTransitionTime unless one is given). A change bumps the resourceVersion and sends MODIFIED; a
        write that changes nothing is a no-op, as on a real apiserver."""
        rt = self._type_for(api_version, kind)
        patch = _fresh(status)
        with self._lock:
            entry = self._existing(rt, self._ns(rt, namespace), name)
            old_status = entry.obj.get("status") or {}
            new_status = strategic_merge(old_status, patch, ("status",)) or {}
            _stamp_transitions(old_status, new_status, patch)
            entry = self._update(rt, entry, {"status": new_status}, "status")
            result = self._latest(rt, entry).copy()
        self._dispatch()
        return result

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict | None:
        """Delete; returns the deleted object (or, with finalizers, the object now being deleted) or None."""
        rt = self.registry.by_kind(api_version, kind)
        if rt is None:
            return None
        with self._lock:
            entry = self._bucket(rt).get((self._ns(rt, namespace), name))
            if entry is None:
                return None
            result = self._delete(rt, entry).copy()
        self._dispatch()
        return result

    def subscribe(self, fn: Callable[[str, dict], None], shared: bool = False,
                  only: Callable[[str, dict], bool] | None = None) -> Callable[[], None]:
        """fn(event_type, obj) after every change, in order, outside the store lock. Returns unsubscribe.
        `obj` is each subscriber's own copy (subscribers, tests' fake controllers among them, change what they get);
        `shared`: the stored object itself, to read and never change — for subscribers that only look at its kind
        (the controllers' wake-ups: a copy for each of a dozen subscribers was most of an event's cost); `only`:
        asked first with the stored object, the change is delivered only when it says so."""
        subscriber = (fn, shared, only)
        with self._lock:
            self._subscribers.append(subscriber)

        def unsubscribe() -> None:
            with self._lock:
                if subscriber in self._subscribers:
                    self._subscribers.remove(subscriber)
        return unsubscribe

    def set_pod_log(self, namespace: str, name: str, text: str) -> None:
        """Make a pod's log `text` (a text that extends the current log appends to it, as a container writes)."""
        self.pod_logs.set((namespace, name), text)

    def append_pod_log(self, namespace: str, name: str, text: str) -> None:
        """Add what a pod's container wrote just now to its log (followers get it at once)."""
        self.pod_logs.append((namespace, name), text)

    def get_pod_log(self, namespace: str, name: str) -> str | None:
        return self.pod_logs.text((namespace, name))

    @property
    def request_count(self) -> int:
        return self._requests

    def count_request(self, method: str = "GET") -> None:
        with self._count_lock:
            self._requests += 1
            self._requests_by_method[method] = self._requests_by_method.get(method, 0) + 1

    @property
    def requests_by_method(self) -> dict[str, int]:
        with self._count_lock:
            return dict(self._requests_by_method)

    @property
    def resource_version(self) -> int:
        return self._rv

    def counts_by_kind(self) -> dict[str, int]:
        """How many objects of each kind are stored (the lab's status), without copying any."""
        counts: dict[str, int] = {}
        with self._lock:
            for bucket in self._buckets.values():
                for entry in bucket.values():
                    kind = entry.obj.get("kind", "?")
                    counts[kind] = counts.get(kind, 0) + 1
        return counts

    def snapshot(self) -> dict:
        """Everything, JSON-serialisable (Store.restore takes it back)."""
        return json.loads(self.snapshot_json())

    def snapshot_json(self) -> bytes:
        """snapshot() as JSON text, composed from the objects' serialised forms the store keeps anyway: no parse
        and dump of every object (at 50 nodes and 200 apps that held the interpreter for a good part of a second
        at each save, stalling every controller and API thread)."""
        with self._lock:
            raws = [entry.raw for bucket in self._buckets.values() for entry in bucket.values()]
            logs = [{"namespace": ns, "name": name, "text": text, "times": times}
                    for (ns, name), text, times in self.pod_logs.items()]
            rv = self._rv
        return (b'{"version": 1, "resourceVersion": ' + str(rv).encode() + b', "objects": [' + b",".join(raws) +
                b'], "logs": ' + json.dumps(logs).encode() + b"}")

    @classmethod
    def restore(cls, data: dict, **kw: Any) -> Store:
        """A store holding a snapshot's objects (their uids, resourceVersions and timestamps unchanged). Watches
        from before the snapshot cannot resume (410 Gone), exactly like after an apiserver's watch cache reset."""
        kw.setdefault("namespaces", ())
        store = cls(**kw)
        store._load(data)
        return store

    def watcher_count(self, api_version: str, kind: str) -> int:
        """How many HTTP watches are open on that kind (tests use it to act once a client is watching)."""
        rt = self.registry.by_kind(api_version, kind)
        return len(self._watchers.get(rt.key, ())) if rt else 0

    def wait_for_watch(self, api_version: str, kind: str, count: int = 1, timeout: float = 10.0) -> bool:
        """Block until at least `count` watches are open on that kind; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._watch_changed:
            while self.watcher_count(api_version, kind) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._watch_changed.wait(remaining)
            return True

    def close(self) -> None:
        """Cancel pending CRD establishment timers and end every open watch."""
        with self._lock:
            self._closed = True
            for timer in self._timers.values():
                timer.cancel()
            self._timers.clear()
            for watchers in self._watchers.values():
                for watcher in watchers:
                    watcher.close()

    # ------------------------------------------------------------------------------- interface of the HTTP layer

    def view(self, rt: ResourceType, entry: Entry) -> Entry:
        """The entry as seen through rt's version (a custom resource read through another served version)."""
        if entry.obj.get("apiVersion") == rt.api_version or not rt.custom:
            return entry
        obj = dict(entry.obj)
        obj["apiVersion"] = rt.api_version
        return Entry(obj)

    def read(self, rt: ResourceType, namespace: str, name: str) -> Entry:
        entry = self._bucket(rt).get((namespace if rt.namespaced else "", name))
        if entry is None:
            raise errors.not_found(rt.group, rt.plural, name)
        return self.view(rt, entry)

    def select(self, rt: ResourceType, namespace: str | None, labels: Matcher | None = None,
               fields: Matcher | None = None) -> tuple[builtins.list[Entry], int]:
        """Matching entries sorted by namespace/name, and the resourceVersion of that state."""
        with self._lock:
            bucket = self._buckets.get(rt.key)
            if not bucket:
                return [], self._rv
            keys = self._sorted.get(rt.key)
            if keys is None:
                keys = self._sorted[rt.key] = sorted(bucket)
            if namespace:  # keys are sorted by (namespace, name): the namespace's keys are one slice
                keys = keys[bisect.bisect_left(keys, (namespace, "")):bisect.bisect_left(keys, (namespace + "\0", ""))]
            entries = [bucket[key] for key in keys]
            rv = self._rv
        if labels is not None:
            entries = [entry for entry in entries if labels(entry.labels)]
        if fields is not None:
            entries = [entry for entry in entries if fields(entry.obj)]
        return entries, rv

    def create_in(self, rt: ResourceType, namespace: str | None, obj: dict, dry_run: bool = False) -> Entry:
        with self._lock:
            entry = self._create(rt, namespace, obj, dry_run)
        self._dispatch()
        return entry

    def replace_in(self, rt: ResourceType, namespace: str, name: str, obj: dict, subresource: str | None,
                   dry_run: bool = False) -> Entry:
        meta = obj.get("metadata")
        if not isinstance(meta, dict):
            meta = {}
        if meta.get("name") and meta["name"] != name:
            raise errors.bad_request(f"the name of the object ({meta['name']}) does not match the name on the URL "
                                     f"({name})")
        if rt.namespaced and meta.get("namespace") and meta["namespace"] != namespace:
            raise errors.bad_request("the namespace of the provided object does not match the namespace sent on the "
                                     "request")
        with self._lock:
            entry = self._existing(rt, namespace, name)
            if meta.get("resourceVersion") and meta["resourceVersion"] != _rv_of(entry.obj):
                raise errors.conflict(rt.group, rt.plural, name)
            entry = self._update(rt, entry, obj, subresource, dry_run)
        self._dispatch()
        return entry

    def patch_in(self, rt: ResourceType, namespace: str, name: str, patch_type: str, patch: Any,
                 subresource: str | None, dry_run: bool = False) -> tuple[Entry, bool]:
        """Apply a patch; returns (entry, created) — server-side apply creates a missing object."""
        with self._lock:
            if patch_type == APPLY and isinstance(patch, dict):
                validation.check_apply(rt, patch, self._crd_for(rt))
            entry = self._bucket(rt).get((namespace if rt.namespaced else "", name))
            if entry is None:
                if patch_type != APPLY or subresource:
                    raise errors.not_found(rt.group, rt.plural, name)
                if not isinstance(patch, dict):
                    raise errors.bad_request("the server-side apply configuration must be an object")
                meta = patch.setdefault("metadata", {})
                if not isinstance(meta, dict) or (meta.get("name") and meta["name"] != name):
                    raise errors.bad_request(f"the name of the object ({meta.get('name')}) does not match the name "
                                             f"on the URL ({name})")
                meta["name"] = name
                options = validation.current()
                if options.manager:
                    options.managed = managed.apply([], self._shape(rt), {}, patch, {}, options.manager,
                                                    rt.api_version, "", options.force, now_iso(), rt.has_status)
                result = (self._create(rt, namespace, patch, dry_run), True)
            else:
                current = entry.copy()
                if patch_type == MERGE:
                    new = merge_patch(current, patch)
                elif patch_type == STRATEGIC:
                    new = strategic_merge(current, patch)
                elif patch_type == JSON_PATCH:
                    new = json_patch(current, patch)
                else:
                    new = apply_merge(current, patch)
                    self._server_side_apply(rt, entry, patch, new, subresource)
                if not isinstance(new, dict):
                    raise errors.bad_request("the patch did not produce an object")
                wanted_rv = (new.get("metadata") or {}).get("resourceVersion")
                if wanted_rv and wanted_rv != _rv_of(entry.obj):
                    raise errors.conflict(rt.group, rt.plural, name)
                result = (self._update(rt, entry, new, subresource, dry_run), False)
        self._dispatch()
        return result

    def _server_side_apply(self, rt: ResourceType, entry: Entry, config: dict, merged: dict,
                           subresource: str | None) -> None:
        """Ownership for an apply over an existing object: conflicts (409), and removal from `merged` of what
        this manager stopped applying; the entries are left for _own to store."""
        options = validation.current()
        if not options.manager:
            return
        options.managed = managed.apply(managed.load(entry.obj), self._shape(rt), entry.obj, config, merged,
                                        options.manager, rt.api_version, subresource or "", options.force,
                                        now_iso(), rt.has_status)

    def delete_in(self, rt: ResourceType, namespace: str, name: str, dry_run: bool = False,
                  preconditions: dict | None = None, policy: str | None = None) -> Entry:
        """DELETE one object; policy: propagationPolicy (None: the resource's default)."""
        if rt.key == NS_KEY and name in PROTECTED_NAMESPACES:
            raise ApiError(403, "Forbidden", f'namespaces "{name}" is forbidden: this namespace may not be deleted',
                           {"name": name, "kind": "namespaces"})
        with self._lock:
            entry = self._existing(rt, namespace, name)
            meta = entry.obj["metadata"]
            for field in ("uid", "resourceVersion"):
                wanted = (preconditions or {}).get(field)
                if wanted and wanted != meta.get(field):
                    raise ApiError(409, "Conflict",
                                   f"Operation cannot be fulfilled on {rt.qualified} \"{name}\": Precondition failed: "
                                   f"{field.replace('resourceVersion', 'ResourceVersion').replace('uid', 'UID')} in "
                                   f"precondition: {wanted}, {field.replace('uid', 'UID')} in object meta: "
                                   f"{meta.get(field)}",
                                   {"name": name, "group": rt.group, "kind": rt.plural} if rt.group else
                                   {"name": name, "kind": rt.plural})
            result = self._delete(rt, entry, dry_run, policy=policy)
        self._dispatch()
        return result

    def delete_collection(self, rt: ResourceType, namespace: str | None, labels: Matcher | None,
                          fields: Matcher | None, dry_run: bool = False,
                          policy: str | None = None) -> builtins.list[Entry]:
        with self._lock:
            entries, _ = self.select(rt, namespace, labels, fields)
            deleted = []
            for entry in entries:
                current = self._bucket(rt).get((entry.namespace, entry.obj["metadata"]["name"]))
                if current is not None:            # the garbage collector may have taken it already
                    deleted.append(self._delete(rt, current, dry_run, policy=policy))
        self._dispatch()
        return deleted

    def watch(self, rt: ResourceType, namespace: str | None, labels: Matcher | None, fields: Matcher | None,
              resource_version: str | None) -> Watcher:
        """Open a watch: ADDED for everything matching when no resourceVersion (or "0") is given, otherwise the
        events after it (ApiError 410 when those fell out of the bounded history)."""
        watcher = Watcher(rt, namespace, labels, fields)
        try:
            since = int(resource_version) if resource_version else 0
        except ValueError:
            raise errors.bad_request(f'invalid resource version "{resource_version}"') from None
        with self._lock:
            if since <= 0:
                entries, _ = self.select(rt, namespace, labels, fields)
                initial = [("ADDED", entry) for entry in entries]
            else:
                self._compact(self._clock())
                if since < self._floor:
                    raise errors.gone(since, self._floor + 1)
                initial = []
                for event in reversed(self._history):
                    if event.rv <= since:
                        break
                    if event.key == rt.key:
                        seen = watcher.translate(event)
                        if seen:
                            initial.append((seen, event.entry))
                initial.reverse()
            watcher.preload(initial)
            self._watchers.setdefault(rt.key, set()).add(watcher)
            if self._closed:
                watcher.close()
            self._watch_changed.notify_all()
        return watcher

    def unwatch(self, watcher: Watcher) -> None:
        watcher.close()
        with self._lock:
            watchers = self._watchers.get(watcher.rt.key)
            if watchers is not None:
                watchers.discard(watcher)
                if not watchers:
                    del self._watchers[watcher.rt.key]
            self._watch_changed.notify_all()

    # ---------------------------------------------------------------------------------------------- internals

    def _type_for(self, api_version: str, kind: str) -> ResourceType:
        rt = self.registry.by_kind(api_version, kind)
        if rt is None:
            raise ApiError(404, "NotFound", f'no matches for kind "{kind}" in version "{api_version}"')
        return rt

    @staticmethod
    def _ns(rt: ResourceType, namespace: str | None) -> str:
        return (namespace or "default") if rt.namespaced else ""

    def _shape(self, rt: ResourceType) -> managed.Shape:
        crd = self._crd_for(rt)
        return managed.shape_for(rt.key, structural.version_schema(crd, rt.version) if crd else None)

    def _own(self, rt: ResourceType, old: dict | None, result: dict, subresource: str | None) -> None:
        """Record in result's managedFields who owns what after this write (when the request names a manager)."""
        options = validation.current()
        entries, options.managed = options.managed, None
        if entries is None:
            if not options.manager or subresource == "*":
                return
            sub = subresource or ""
            entries = managed.update(managed.load(old) if old else [], self._shape(rt), old, result,
                                     options.manager, rt.api_version, sub, now_iso(), rt.has_status)
        dumped = managed.dump(entries)
        if dumped:
            result["metadata"]["managedFields"] = dumped
        else:
            result["metadata"].pop("managedFields", None)

    def served_crd(self, rt: ResourceType) -> dict | None:
        """The stored CustomResourceDefinition serving a custom type, not a copy: read it, never change it."""
        return self._crd_for(rt)

    def _crd_for(self, rt: ResourceType) -> dict | None:
        """The CustomResourceDefinition serving a custom resource type."""
        if not rt.custom:
            return None
        entry = self._buckets.get(CRD_KEY, {}).get(("", f"{rt.plural}.{rt.group}"))
        return entry.obj if entry is not None else None

    def _bucket(self, rt: ResourceType) -> dict[tuple[str, str], Entry]:
        return self._buckets.get(rt.key) or {}

    def _existing(self, rt: ResourceType, namespace: str, name: str) -> Entry:
        entry = self._bucket(rt).get((namespace if rt.namespaced else "", name))
        if entry is None:
            raise errors.not_found(rt.group, rt.plural, name)
        return entry

    def _latest(self, rt: ResourceType, entry: Entry) -> Entry:
        """The current version of entry's object (a CRD may have been established since), seen through rt."""
        meta = entry.obj.get("metadata") or {}
        current = self._bucket(rt).get((meta.get("namespace") or "", meta.get("name") or ""))
        return self.view(rt, current if current is not None else entry)

    def _commit(self, rt: ResourceType, obj: dict, type_: str, old: Entry | None) -> Entry:
        """Give obj (owned by the store from now on) the next resourceVersion, store or drop it, send the event."""
        self._rv += 1
        meta = obj["metadata"]
        meta["resourceVersion"] = str(self._rv)
        entry = Entry(obj)
        bucket = self._buckets.setdefault(rt.key, {})
        key = (meta.get("namespace") or "", meta["name"])
        if type_ == "DELETED":
            bucket.pop(key, None)
            self._sorted.pop(rt.key, None)
            self._uids.pop(meta.get("uid", ""), None)
        else:
            if key not in bucket:
                self._sorted.pop(rt.key, None)
                self._uids[meta.get("uid", "")] = (rt.key, key)
            bucket[key] = entry
        now = self._clock()
        event = Event(self._rv, type_, rt.key, entry, old, now)
        if len(self._history) == self._history.maxlen:
            self._floor = self._history[0].rv
        self._history.append(event)
        self._compact(now)
        for watcher in self._watchers.get(rt.key, ()):
            watcher.offer(event)
        if rt.key == POD_KEY:
            self.pod_logs.changed()          # a log follower ends when its pod stops
        if self._subscribers:
            self._pending.append(event)
        return entry

    def _compact(self, now: float) -> None:
        """Forget events older than the history window (what etcd's periodic compaction does)."""
        horizon = now - self.history_seconds
        while self._history and self._history[0].at < horizon:
            self._floor = self._history.popleft().rv

    def _create(self, rt: ResourceType, namespace: str | None, obj: dict, dry_run: bool = False) -> Entry:
        if not isinstance(obj, dict):
            raise errors.bad_request("the object provided is not a JSON object")
        if obj.get("kind") and obj["kind"] != rt.kind:
            raise errors.bad_request(f"the kind in the data ({obj['kind']}) does not match the expected kind "
                                     f"({rt.kind})")
        meta = obj.get("metadata")
        if not isinstance(meta, dict):
            meta = {}
        rest = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
        if rt.namespaced:
            body_ns = meta.get("namespace")
            if namespace and body_ns and body_ns != namespace:
                raise errors.bad_request("the namespace of the provided object does not match the namespace sent "
                                         "on the request")
            ns = namespace or body_ns or "default"
            if ("", ns) not in self._buckets.get(NS_KEY, {}):
                raise errors.not_found("", "namespaces", ns)
            if self._namespace_terminating(ns):
                raise terminating_error(rt, meta.get("name") or "", ns)
            meta["namespace"] = ns
        else:
            ns = ""
            meta.pop("namespace", None)
        bucket = self._buckets.get(rt.key) or {}
        name = meta.get("name")
        if not name:
            prefix = meta.get("generateName")
            if not prefix:
                raise errors.invalid(rt.group, rt.kind, "", [("FieldValueRequired", "metadata.name",
                                                              "Required value: name or generateName is required")])
            while True:
                name = prefix + "".join(random.choice(_SUFFIX_CHARS) for _ in range(5))
                if (ns, name) not in bucket:
                    break
        self._validate_name(rt, name)
        if (ns, name) in bucket:
            raise errors.already_exists(rt.group, rt.plural, name)
        for field in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "managedFields"):
            meta.pop(field, None)
        meta.update(name=name, uid=str(uuid.uuid4()), creationTimestamp=now_iso())
        if has_generation(rt):
            meta["generation"] = 1
        else:
            meta.pop("generation", None)
        result = {"apiVersion": rt.api_version, "kind": rt.kind, "metadata": meta, **rest}
        self._defaults(rt, result)
        defaults.apply(rt.key, result)
        result = validation.decode(rt, result, self._crd_for(rt))
        if rt.key == CRD_KEY:
            self._validate_crd(result)
        schema.validate(rt, result)
        result = schema.normalize(rt, result)
        self._own(rt, None, result, None)
        if dry_run:
            return Entry(result)
        entry = self._commit(rt, result, "ADDED", None)
        if rt.key == CRD_KEY:
            self._crd_changed(entry)
        return entry

    def _validate_name(self, rt: ResourceType, name: str) -> None:
        if rt.group in _PATH_SEGMENT_KINDS:
            bad = name in (".", "..") or "/" in name or "%" in name
            message = "may not contain '/' or '%'" if bad else ""
        elif rt.key == NS_KEY:
            bad, message = not (_LABEL_RE.match(name) and len(name) <= 63), _LABEL_MSG
        elif rt.key == ("", "services"):
            bad, message = not (_DNS1035_RE.match(name) and len(name) <= 63), _DNS1035_MSG
        else:
            bad, message = not (_SUBDOMAIN_RE.match(name) and len(name) <= 253), _SUBDOMAIN_MSG
        if bad:
            raise errors.invalid(rt.group, rt.kind, name, [("FieldValueInvalid", "metadata.name",
                                                            f'Invalid value: "{name}": {message}')])

    def _validate_crd(self, crd: dict) -> None:
        spec = crd.get("spec") or {}
        names = spec.get("names") or {}
        name = crd["metadata"]["name"]
        causes = []
        if not spec.get("group"):
            causes.append(("FieldValueRequired", "spec.group", "Required value"))
        if not names.get("plural"):
            causes.append(("FieldValueRequired", "spec.names.plural", "Required value"))
        if not names.get("kind"):
            causes.append(("FieldValueRequired", "spec.names.kind", "Required value"))
        if spec.get("scope") not in ("Namespaced", "Cluster"):
            causes.append(("FieldValueNotSupported", "spec.scope",
                           f'Unsupported value: "{spec.get("scope", "")}": supported values: "Cluster", "Namespaced"'))
        if not spec.get("versions"):
            causes.append(("FieldValueRequired", "spec.versions", "Required value: must have exactly one version "
                                                                  "marked as storage version"))
        if names.get("plural") and spec.get("group") and name != f"{names['plural']}.{spec['group']}":
            causes.append(("FieldValueInvalid", "metadata.name",
                           f'Invalid value: "{name}": must be spec.names.plural+"."+spec.group'))
        if causes:
            raise errors.invalid("apiextensions.k8s.io", "CustomResourceDefinition", name, causes)

    def _defaults(self, rt: ResourceType, obj: dict) -> None:
        """The few defaults a real apiserver fills in that clients look at."""
        meta = obj["metadata"]
        if rt.key == NS_KEY:
            meta["labels"] = {**(meta.get("labels") or {}), "kubernetes.io/metadata.name": meta["name"]}
            obj.setdefault("spec", {"finalizers": ["kubernetes"]})
            obj["status"] = {"phase": "Active", **(obj.get("status") or {})}
        elif rt.key == POD_KEY:
            obj.setdefault("spec", {})
            obj["status"] = {"phase": "Pending", **(obj.get("status") or {})}
        elif rt.key == ("", "services"):
            spec = obj.setdefault("spec", {})
            spec.setdefault("type", "ClusterIP")
            if spec["type"] != "ExternalName" and not spec.get("clusterIP"):
                spec["clusterIP"] = self._allocate_ip()
            if spec.get("clusterIP") and "clusterIPs" not in spec:
                spec["clusterIPs"] = [spec["clusterIP"]]
            spec.setdefault("sessionAffinity", "None")
        elif rt.key == ("", "secrets"):
            obj.setdefault("type", "Opaque")
        elif rt.key in (("apps", "deployments"), ("apps", "statefulsets"), ("apps", "replicasets")):
            spec = obj.setdefault("spec", {})
            if isinstance(spec, dict):
                spec.setdefault("replicas", 1)
        elif rt.key == CRD_KEY:
            status = obj.get("status") or {}
            status.setdefault("acceptedNames", {"kind": "", "plural": ""})
            status.setdefault("conditions", [])
            storage = [v.get("name") for v in (obj.get("spec") or {}).get("versions") or [] if v.get("storage")]
            status.setdefault("storedVersions", storage[:1])
            obj["status"] = status

    def _allocate_ip(self) -> str:
        used = {(e.obj.get("spec") or {}).get("clusterIP") for e in self._buckets.get(("", "services"), {}).values()}
        number = 10
        while True:
            number += 1
            address = f"10.96.{number // 256}.{number % 256}"
            if address not in used:
                return address

    def _update(self, rt: ResourceType, old: Entry, new: dict, subresource: str | None,
                dry_run: bool = False) -> Entry:
        """Store `new` (owned by the store) as the next version of `old`. subresource: None = the main resource
        (status changes ignored when rt has a status subresource), "status" = only status, "*" = everything."""
        if not isinstance(new, dict):
            raise errors.bad_request("the object provided is not a JSON object")
        old_obj = old.obj
        old_meta = old_obj["metadata"]
        if subresource == "status":
            result = {k: v for k, v in old_obj.items() if k != "status"}
            if new.get("status") is not None:
                result["status"] = new["status"]
            meta = result["metadata"] = dict(old_meta)
        else:
            given = new.get("metadata")
            meta = given if isinstance(given, dict) else {}
            rest = {k: v for k, v in new.items() if k not in ("apiVersion", "kind", "metadata", "status")}
            result = {"apiVersion": rt.api_version, "kind": rt.kind, "metadata": meta, **rest}
            status = old_obj.get("status") if subresource is None and rt.has_status else new.get("status")
            if status is not None:
                result["status"] = status
            for field in ("name", "namespace", "uid", "creationTimestamp", "deletionTimestamp",
                          "deletionGracePeriodSeconds"):
                if field in old_meta:
                    meta[field] = old_meta[field]
                else:
                    meta.pop(field, None)
            meta.pop("managedFields", None)
            if rt.key == NS_KEY:
                meta["labels"] = {**(meta.get("labels") or {}), "kubernetes.io/metadata.name": meta["name"]}
        result["apiVersion"] = rt.api_version
        if subresource != "status":
            defaults.apply(rt.key, result)
        if subresource != "status" or rt.custom:
            result = validation.decode(rt, result, self._crd_for(rt))
            meta = result["metadata"]
        if subresource != "status":
            schema.validate(rt, result)
        result = schema.normalize(rt, result)
        if has_generation(rt):
            # a custom resource without a status subresource bumps on status changes too
            ignored = ("apiVersion", "kind", "metadata") + (("status",) if rt.has_status or not rt.custom else ())
            spec_changed = any(result.get(k) != old_obj.get(k) for k in set(result) | set(old_obj)
                               if k not in ignored)
            meta["generation"] = (old_meta.get("generation") or 1) + (1 if spec_changed else 0)
        else:
            meta.pop("generation", None)
        meta["resourceVersion"] = old_meta.get("resourceVersion")
        if "managedFields" in old_meta:
            meta["managedFields"] = old_meta["managedFields"]
        else:
            meta.pop("managedFields", None)
        self._own(rt, old_obj, result, subresource)
        if result == old_obj:
            return old                     # no-op: no new resourceVersion, no event
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            return self._delete(rt, old, dry_run, force=True)
        if dry_run:
            return Entry(result)
        entry = self._commit(rt, result, "MODIFIED", old)
        if rt.key == CRD_KEY:
            self._crd_changed(entry)
        return entry

    def _delete(self, rt: ResourceType, entry: Entry, dry_run: bool = False, force: bool = False,
                policy: str | None = None) -> Entry:
        """Delete now, or start deleting (finalizers, a namespace's content, foreground dependents).
        force: the last finalizer is gone, remove the object whatever it says."""
        meta = entry.obj["metadata"]
        if not force:
            if rt.key == NS_KEY:
                return self._terminate_namespace(rt, entry, now_iso(), dry_run)
            if meta.get("deletionTimestamp"):
                return entry
            if dry_run:
                if not meta.get("finalizers") and policy != "Foreground":
                    return entry
                obj = dict(entry.obj)
                obj["metadata"] = {**meta, "deletionTimestamp": now_iso(), "deletionGracePeriodSeconds": 0}
                return Entry(obj)
            if policy == "Foreground":
                return self._start_foreground(rt, entry, now_iso())
            if meta.get("finalizers"):
                if (policy or "") == "Orphan":
                    self._orphan(meta.get("uid", ""))
                obj = dict(entry.obj)
                obj["metadata"] = {**meta, "deletionTimestamp": now_iso(), "deletionGracePeriodSeconds": 0}
                return self._commit(rt, obj, "MODIFIED", entry)
        if dry_run:
            return entry
        if rt.key == CRD_KEY:
            spec = entry.obj.get("spec") or {}
            key = (spec.get("group", ""), (spec.get("names") or {}).get("plural", ""))
            other = self.registry.storage_type(key)
            if other is not None and other.custom:
                for item in list(self._buckets.get(key, {}).values()):
                    self._delete(other, item, force=True)
            self._buckets.pop(key, None)
            self._cancel_timer(meta["name"])
            self.registry.remove_custom(meta["name"])
        obj = dict(entry.obj)
        obj["metadata"] = dict(meta)
        deleted = self._commit(rt, obj, "DELETED", entry)
        if rt.key == POD_KEY:
            self.pod_logs.drop((meta.get("namespace", ""), meta["name"]))
        self._after_delete(rt, deleted, policy)
        return deleted

    # ------------------------------------------------------------------------------------------------- CRDs

    def _crd_changed(self, entry: Entry) -> None:
        crd = entry.obj
        name = crd["metadata"]["name"]
        established = _condition(crd, "Established")
        if established and established.get("status") == "True":
            self.registry.set_custom(name, crd_resource_types(crd))
        elif established is None and name not in self._timers:
            if self.crd_establish_delay <= 0:
                self._establish(name, crd["metadata"]["uid"])
            elif not self._closed:
                timer = threading.Timer(self.crd_establish_delay, self._establish_later,
                                        (name, crd["metadata"]["uid"]))
                timer.daemon = True
                self._timers[name] = timer
                timer.start()

    def _cancel_timer(self, name: str) -> None:
        timer = self._timers.pop(name, None)
        if timer is not None:
            timer.cancel()

    def _establish_later(self, name: str, uid: str) -> None:
        with self._lock:
            self._timers.pop(name, None)
            if self._closed:
                return
            self._establish(name, uid)
        self._dispatch()

    def _establish(self, name: str, uid: str) -> None:
        entry = self._buckets.get(CRD_KEY, {}).get(("", name))
        if entry is None or entry.obj["metadata"].get("uid") != uid:
            return
        crd = entry.obj
        spec = crd.get("spec") or {}
        names = dict(spec.get("names") or {})
        names.setdefault("singular", names.get("kind", "").lower())
        names.setdefault("listKind", names.get("kind", "") + "List")
        types = crd_resource_types(crd)
        stamp = now_iso()
        status = dict(crd.get("status") or {})
        if not types or self.registry.clashes(types):
            conditions = [{"type": "NamesAccepted", "status": "False", "lastTransitionTime": stamp,
                           "reason": "NameConflict", "message": f'"{names.get("plural")}" is already in use'},
                          {"type": "Established", "status": "False", "lastTransitionTime": stamp,
                           "reason": "NotAccepted", "message": "not all names are accepted"}]
        else:
            self.registry.set_custom(name, types)
            status["acceptedNames"] = names
            conditions = [{"type": "NamesAccepted", "status": "True", "lastTransitionTime": stamp,
                           "reason": "NoConflicts", "message": "no conflicts found"},
                          {"type": "Established", "status": "True", "lastTransitionTime": stamp,
                           "reason": "InitialNamesAccepted", "message": "the initial names have been accepted"}]
        status["conditions"] = conditions
        rt = self._type_for("apiextensions.k8s.io/v1", "CustomResourceDefinition")  # built in: always served
        self._update(rt, entry, {"status": status}, "status")

    # --------------------------------------------------------------------------------------------- restore

    def _load(self, data: dict) -> None:
        objects = list(data.get("objects") or [])
        rank = {"Namespace": 0, "CustomResourceDefinition": 1}
        objects.sort(key=lambda obj: rank.get(obj.get("kind"), 2))
        pending_crds = []
        with self._lock:
            highest = int(data.get("resourceVersion") or 0)
            for obj in objects:
                rt = self.registry.by_kind(obj.get("apiVersion", ""), obj.get("kind", ""))
                meta = obj.get("metadata") or {}
                if rt is None or not meta.get("name"):
                    log.warning("restore: skipping %s %s (kind not served)", obj.get("kind"), meta.get("name"))
                    continue
                entry = Entry(obj)
                self._buckets.setdefault(rt.key, {})[(meta.get("namespace") or "", meta["name"])] = entry
                self._uids[meta.get("uid", "")] = (rt.key, (meta.get("namespace") or "", meta["name"]))
                highest = max(highest, int(meta.get("resourceVersion") or 0))
                if rt.key == CRD_KEY:
                    established = _condition(obj, "Established")
                    if established and established.get("status") == "True":
                        self.registry.set_custom(meta["name"], crd_resource_types(obj))
                    else:
                        pending_crds.append(entry)
            self._sorted.clear()
            self._rv = self._floor = highest
            self._history.clear()
            for item in data.get("logs") or []:
                self.pod_logs.load((item["namespace"], item["name"]), item["text"], item.get("times"))
            for entry in pending_crds:
                self._crd_changed(entry)
        self._dispatch()

    # ------------------------------------------------------------------------------------------- subscribers

    def _dispatch(self) -> None:
        """Deliver pending events to subscribers, in order, outside the store lock. One thread delivers at a
        time; a thread that finds another one delivering leaves its events to it instead of waiting (so a
        subscriber that calls the API over HTTP cannot deadlock), and a subscriber writing to the store from its
        callback gets that event after the current one has reached everyone."""
        while self._pending and not getattr(self._tls, "dispatching", False):
            if not self._dispatch_lock.acquire(blocking=False):
                return
            self._tls.dispatching = True
            try:
                while True:
                    with self._lock:
                        if not self._pending:
                            break
                        event = self._pending.popleft()
                        subscribers = list(self._subscribers)
                    for fn, shared, only in subscribers:
                        try:
                            if only is not None and not only(event.type, event.entry.obj):
                                continue
                            fn(event.type, event.entry.obj if shared else event.entry.copy())
                        except Exception:  # noqa: BLE001 - one faulty subscriber must not break the store
                            log.exception("store subscriber %r failed on %s", fn, event.type)
            finally:
                self._tls.dispatching = False
                self._dispatch_lock.release()


def _stamp_transitions(old_status: dict, new_status: dict, patch: dict) -> None:
    """Give conditions whose status changed (or that are new) a lastTransitionTime, unless the patch set one."""
    given = {c.get("type"): c for c in patch.get("conditions") or [] if isinstance(c, dict)}
    before = {c.get("type"): c for c in old_status.get("conditions") or [] if isinstance(c, dict)}
    conditions = new_status.get("conditions")
    if not isinstance(conditions, list):
        return
    stamp = now_iso()
    for index, cond in enumerate(conditions):
        if not isinstance(cond, dict) or cond.get("type") not in given:
            continue
        if "lastTransitionTime" in given[cond["type"]]:
            continue
        previous = before.get(cond["type"])
        if previous is None or previous.get("status") != cond.get("status") or "lastTransitionTime" not in cond:
            conditions[index] = {**cond, "lastTransitionTime": stamp}
