"""What kube-controller-manager's namespace controller and garbage collector do, folded into the store.

- Namespace lifecycle: deleting a namespace marks it `Terminating` (deletionTimestamp, `status.phase`); its
  content is deleted (objects with finalizers stay until those are removed, and hold the namespace); once it is
  empty the `kubernetes` finalizer is removed and the namespace goes. New content is refused meanwhile.
- Cascading deletion by ownerReferences: `Background` deletes dependents after their owner, `Foreground` keeps
  the owner (deletionTimestamp + `foregroundDeletion` finalizer) until its blocking dependents are gone,
  `Orphan` removes the owner's ownerReferences from its dependents and leaves them.

Everything runs under the store's lock right after the change that triggers it; the events (MODIFIED, DELETED)
are the ones a real cluster sends, only sooner.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hops.lab.apiserver.errors import ApiError
from hops.lab.apiserver.resources import Registry, ResourceType
from hops.lab.apiserver.watch import Entry

NS_KEY = ("", "namespaces")
FOREGROUND, BACKGROUND, ORPHAN = "Foreground", "Background", "Orphan"
POLICIES = (FOREGROUND, BACKGROUND, ORPHAN)
FOREGROUND_FINALIZER = "foregroundDeletion"
NAMESPACE_FINALIZER = "kubernetes"
# batch/v1 Jobs orphan their pods unless told otherwise (kept for old clients; kubectl sends Background)
_ORPHAN_BY_DEFAULT = {("batch", "jobs")}


def default_policy(rt: ResourceType) -> str:
    return ORPHAN if rt.key in _ORPHAN_BY_DEFAULT else BACKGROUND


def check_policy(policy: str | None, orphan_dependents: Any = None) -> str | None:
    """The propagationPolicy of a DeleteOptions (None: the resource's default); 422 for an unknown one."""
    if policy in (None, ""):
        if orphan_dependents is True:
            return ORPHAN
        return BACKGROUND if orphan_dependents is False else None
    if policy not in POLICIES:
        raise ApiError(422, "Invalid", f'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported '
                                       f'value: "{policy}": supported values: "Foreground", "Background", "Orphan"',
                       {"kind": "DeleteOptions", "group": "meta.k8s.io",
                        "causes": [{"reason": "FieldValueNotSupported", "field": "propagationPolicy",
                                    "message": f'Unsupported value: "{policy}": supported values: "Foreground", '
                                               f'"Background", "Orphan"'}]})
    return policy


def terminating_error(rt: ResourceType, name: str, namespace: str) -> ApiError:
    """The NamespaceLifecycle admission plugin's refusal, with its cause."""
    message = f"unable to create new content in namespace {namespace} because it is being terminated"
    subject = f'{rt.qualified} "{name}"' if name else rt.qualified
    details: dict[str, Any] = {"name": name} if name else {}
    if rt.group:
        details["group"] = rt.group
    details["kind"] = rt.plural
    details["causes"] = [{"reason": "NamespaceTerminating", "message": f"namespace {namespace} is being terminated",
                          "field": "metadata.namespace"}]
    return ApiError(403, "Forbidden", f"{subject} is forbidden: {message}", details)


def _refs(entry: Entry) -> list[dict]:
    refs = (entry.obj.get("metadata") or {}).get("ownerReferences")
    return [ref for ref in refs if isinstance(ref, dict)] if isinstance(refs, list) else []


class Collector:
    """Mixed into Store: the namespace controller and the garbage collector."""

    if TYPE_CHECKING:
        registry: Registry
        _buckets: dict[tuple[str, str], dict[tuple[str, str], Entry]]
        _uids: dict[str, tuple[tuple[str, str], tuple[str, str]]]
        _sweeping: set[str]

        def _commit(self, rt: ResourceType, obj: dict, type_: str, old: Entry | None) -> Entry: ...

        def _update(self, rt: ResourceType, old: Entry, new: dict, subresource: str | None,
                    dry_run: bool = False) -> Entry: ...

        def _delete(self, rt: ResourceType, entry: Entry, dry_run: bool = False, force: bool = False,
                    policy: str | None = None) -> Entry: ...

    # -- lookups ----------------------------------------------------------------------------------------------
    def _by_uid(self, uid: str) -> tuple[ResourceType, Entry] | None:
        where = self._uids.get(uid)
        if where is None:
            return None
        key, slot = where
        entry = self._buckets.get(key, {}).get(slot)
        rt = self.registry.storage_type(key)
        return (rt, entry) if entry is not None and rt is not None else None

    def _dependents(self, uid: str) -> list[tuple[ResourceType, Entry]]:
        out = []
        for key, bucket in self._buckets.items():
            rt = None
            for entry in bucket.values():
                if any(ref.get("uid") == uid for ref in _refs(entry)):
                    rt = rt or self.registry.storage_type(key)
                    if rt is not None:
                        out.append((rt, entry))
        return out

    def _namespace_terminating(self, namespace: str) -> bool:
        entry = self._buckets.get(NS_KEY, {}).get(("", namespace))
        return entry is not None and bool(entry.obj["metadata"].get("deletionTimestamp"))

    # -- the namespace controller -------------------------------------------------------------------------------
    def _terminate_namespace(self, rt: ResourceType, entry: Entry, stamp: str, dry_run: bool) -> Entry:
        """DELETE of a namespace: Terminating now, its content deleted, gone once empty."""
        if entry.obj["metadata"].get("deletionTimestamp"):
            return entry
        obj = dict(entry.obj)
        obj["metadata"] = {**entry.obj["metadata"], "deletionTimestamp": stamp, "deletionGracePeriodSeconds": 0}
        obj["status"] = {**(entry.obj.get("status") or {}), "phase": "Terminating"}
        if dry_run:
            return Entry(obj)
        terminating = self._commit(rt, obj, "MODIFIED", entry)
        self._sweep_namespace(obj["metadata"]["name"])
        return terminating

    def _sweep_namespace(self, namespace: str) -> None:
        """Delete what is left in a terminating namespace; finalize the namespace once nothing is."""
        if namespace in self._sweeping or not self._namespace_terminating(namespace):
            return
        self._sweeping.add(namespace)
        try:
            for key in list(self._buckets):
                rt = self.registry.storage_type(key)
                if rt is None or not rt.namespaced:
                    continue
                for slot in [slot for slot in self._buckets.get(key, {}) if slot[0] == namespace]:
                    current = self._buckets.get(key, {}).get(slot)
                    if current is not None and not current.obj["metadata"].get("deletionTimestamp"):
                        self._delete(rt, current)
        finally:
            self._sweeping.discard(namespace)
        self._finalize_namespace(namespace)

    def _remaining(self, namespace: str) -> tuple[dict[str, int], dict[str, int]]:
        """(instances left per resource, instances per finalizer) in a namespace."""
        left: dict[str, int] = {}
        finalizers: dict[str, int] = {}
        for key, bucket in self._buckets.items():
            if key == NS_KEY:
                continue
            for (ns, _), entry in bucket.items():
                if ns != namespace:
                    continue
                resource = f"{key[1]}.{key[0]}"       # the namespace controller prints "pods." for the core group
                left[resource] = left.get(resource, 0) + 1
                for finalizer in entry.obj["metadata"].get("finalizers") or []:
                    finalizers[finalizer] = finalizers.get(finalizer, 0) + 1
        return left, finalizers

    def _finalize_namespace(self, namespace: str) -> None:
        entry = self._buckets.get(NS_KEY, {}).get(("", namespace))
        rt = self.registry.storage_type(NS_KEY)
        if entry is None or rt is None or not entry.obj["metadata"].get("deletionTimestamp"):
            return
        left, finalizers = self._remaining(namespace)
        if left:
            self._namespace_conditions(rt, entry, left, finalizers)
            return
        spec = entry.obj.get("spec") or {}
        obj = dict(entry.obj)
        obj["spec"] = {**spec, "finalizers": [f for f in spec.get("finalizers") or [] if f != NAMESPACE_FINALIZER]}
        if not obj["spec"]["finalizers"]:
            obj["spec"] = {k: v for k, v in obj["spec"].items() if k != "finalizers"}
        if obj["metadata"].get("finalizers") or obj["spec"].get("finalizers"):
            if obj != entry.obj:
                self._commit(rt, obj, "MODIFIED", entry)
            return
        self._commit(rt, obj, "DELETED", entry)

    def _namespace_conditions(self, rt: ResourceType, entry: Entry, left: dict[str, int],
                              finalizers: dict[str, int]) -> None:
        """The conditions `kubectl describe namespace` shows while content remains."""
        resources = ", ".join(f"{name} has {count} resource instances" for name, count in sorted(left.items()))
        wanted = [{"type": "NamespaceContentRemaining", "status": "True", "reason": "SomeResourcesRemain",
                   "message": f"Some resources are remaining: {resources}"}]
        if finalizers:
            held = ", ".join(f"{name} in {count} resource instances" for name, count in sorted(finalizers.items()))
            wanted.append({"type": "NamespaceFinalizersRemaining", "status": "True", "reason": "SomeFinalizersRemain",
                           "message": f"Some content in the namespace has finalizers remaining: {held}"})
        status = entry.obj.get("status") or {}
        old = [{k: v for k, v in c.items() if k != "lastTransitionTime"} for c in status.get("conditions") or []]
        if old == wanted:
            return
        stamp = entry.obj["metadata"]["deletionTimestamp"]
        obj = dict(entry.obj)
        obj["status"] = {**status, "conditions": [{**c, "lastTransitionTime": stamp} for c in wanted]}
        self._commit(rt, obj, "MODIFIED", entry)

    # -- the garbage collector ----------------------------------------------------------------------------------
    def _orphan(self, uid: str) -> None:
        """Remove references to `uid` from its dependents (propagationPolicy Orphan)."""
        for rt, dependent in self._dependents(uid):
            self._strip_refs(rt, dependent, {uid})

    def _strip_refs(self, rt: ResourceType, entry: Entry, uids: set[str]) -> None:
        obj = entry.copy()
        kept = [ref for ref in _refs(entry) if ref.get("uid") not in uids]
        if kept:
            obj["metadata"]["ownerReferences"] = kept
        else:
            obj["metadata"].pop("ownerReferences", None)
        self._update(rt, entry, obj, "*")

    def _collect(self, uid: str) -> None:
        """The owner `uid` is gone: delete dependents it was the last existing owner of, unlink the others."""
        for rt, dependent in self._dependents(uid):
            current = self._buckets.get(rt.key, {}).get((dependent.namespace, dependent.obj["metadata"]["name"]))
            if current is None:
                continue
            alive = [ref for ref in _refs(current) if ref.get("uid") != uid and self._by_uid(ref.get("uid", ""))]
            if alive:
                self._strip_refs(rt, current, {uid})
            elif not current.obj["metadata"].get("deletionTimestamp"):
                self._delete(rt, current, policy=BACKGROUND)

    def _start_foreground(self, rt: ResourceType, entry: Entry, stamp: str) -> Entry:
        """Foreground deletion: the owner stays (deletionTimestamp + finalizer) while its dependents go."""
        meta = entry.obj["metadata"]
        finalizers = list(meta.get("finalizers") or [])
        if FOREGROUND_FINALIZER not in finalizers:
            finalizers.append(FOREGROUND_FINALIZER)
        obj = dict(entry.obj)
        obj["metadata"] = {**meta, "finalizers": finalizers, "deletionGracePeriodSeconds": 0,
                           "deletionTimestamp": meta.get("deletionTimestamp") or stamp}
        owner = self._commit(rt, obj, "MODIFIED", entry)
        for dep_rt, dependent in self._dependents(meta["uid"]):
            current = self._buckets.get(dep_rt.key, {}).get((dependent.namespace, dependent.obj["metadata"]["name"]))
            if current is not None and not current.obj["metadata"].get("deletionTimestamp"):
                self._delete(dep_rt, current, policy=BACKGROUND)
        return self._release_foreground(rt, owner)

    def _release_foreground(self, rt: ResourceType, owner: Entry) -> Entry:
        """Drop the foregroundDeletion finalizer once no dependent with blockOwnerDeletion is left."""
        meta = owner.obj["metadata"]
        if FOREGROUND_FINALIZER not in (meta.get("finalizers") or []):
            return owner
        blocking = [dep for _, dep in self._dependents(meta["uid"])
                    if any(ref.get("uid") == meta["uid"] and ref.get("blockOwnerDeletion") for ref in _refs(dep))]
        if blocking:
            return owner
        obj = owner.copy()
        obj["metadata"]["finalizers"] = [f for f in meta["finalizers"] if f != FOREGROUND_FINALIZER]
        return self._update(rt, owner, obj, "*")

    def _after_delete(self, rt: ResourceType, entry: Entry, policy: str | None) -> None:
        """Run once an object is really gone: its dependents, its foreground owners, its namespace."""
        meta = entry.obj["metadata"]
        uid = meta.get("uid", "")
        if uid:
            if (policy or default_policy(rt)) == ORPHAN:
                self._orphan(uid)
            else:
                self._collect(uid)
        for ref in _refs(entry):
            found = self._by_uid(ref.get("uid", ""))
            if found is not None:
                self._release_foreground(*found)
        namespace = meta.get("namespace")
        if namespace and rt.key != NS_KEY and namespace not in self._sweeping and \
                self._namespace_terminating(namespace):
            self._finalize_namespace(namespace)
