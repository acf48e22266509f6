"""The Kubernetes API through the official client's REST layer (hops.kubeconfig; imported lazily: `doit list`
never pays for it).

Objects are plain dicts addressed by (apiVersion, kind); waits list once and then WATCH from the list's
resourceVersion until a predicate holds or the deadline passes — no sleep loops. Lists are cached per process so
that a no-op re-run checks many steps with a bounded number of requests ("list once, check many")."""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hops import deadlines, failures
from hops.errors import StepError, WaitTimeout
from hops.kubeconfig import kubernetes_module

if TYPE_CHECKING:
    from kubernetes.client.exceptions import ApiException

    from hops.context import Context
    from hops.kubeconfig import Transport

# kind -> (apiVersion, plural, namespaced)
KINDS: dict[str, tuple[str, str, bool]] = {
    "Namespace": ("v1", "namespaces", False),
    "Node": ("v1", "nodes", False),
    "Pod": ("v1", "pods", True),
    "Service": ("v1", "services", True),
    "Endpoints": ("v1", "endpoints", True),
    "Secret": ("v1", "secrets", True),
    "ConfigMap": ("v1", "configmaps", True),
    "Event": ("v1", "events", True),
    "Deployment": ("apps/v1", "deployments", True),
    "DaemonSet": ("apps/v1", "daemonsets", True),
    "StatefulSet": ("apps/v1", "statefulsets", True),
    "Job": ("batch/v1", "jobs", True),
    "StorageClass": ("storage.k8s.io/v1", "storageclasses", False),
    "CustomResourceDefinition": ("apiextensions.k8s.io/v1", "customresourcedefinitions", False),
    "ValidatingWebhookConfiguration": ("admissionregistration.k8s.io/v1", "validatingwebhookconfigurations", False),
    "GitRepository": ("source.toolkit.fluxcd.io/v1", "gitrepositories", True),
    "HelmRepository": ("source.toolkit.fluxcd.io/v1", "helmrepositories", True),
    "Kustomization": ("kustomize.toolkit.fluxcd.io/v1", "kustomizations", True),
    "HelmRelease": ("helm.toolkit.fluxcd.io/v2", "helmreleases", True),
    "ClusterSecretStore": ("external-secrets.io/v1beta1", "clustersecretstores", False),
    "ExternalSecret": ("external-secrets.io/v1beta1", "externalsecrets", True),
}

FIRST_PAUSE_S = 0.05
def _api_exception() -> type[ApiException]:
    """The client's ApiException class, imported on first use (the task list never loads the client)."""
    return kubernetes_module("client.exceptions").ApiException


class ApiUnavailable(StepError):  # noqa: N818 -- a name steps and tests across the project use
    """The API server could not be reached or kept failing (after retries)."""


def _may_retry(attempt: int, attempts: int, pause: float, deadline: float | None) -> bool:
    """Inside a step: while the back-off ends before the step's deadline; outside one: `attempts` tries."""
    if deadline is not None:
        return time.monotonic() + pause < deadline
    return attempt < attempts


def _status_reason(exc: Any) -> str:
    """The `reason` of the Status body a real apiserver sends with an error (e.g. Conflict, AlreadyExists)."""
    try:
        return str(json.loads(exc.body or "{}").get("reason") or exc.reason or "")
    except (TypeError, ValueError):
        return str(exc.reason or "")


def _status_message(exc: Any) -> str:
    try:
        return str(json.loads(exc.body or "{}").get("message") or exc.reason or "")
    except (TypeError, ValueError):
        return str(exc.body or exc.reason or "")


def _certificate_problem(exc: BaseException) -> bool:
    """A TLS verification failure somewhere in the exception's chain (urllib3 wraps it): permanent."""
    import ssl

    seen: BaseException | None = exc
    for _ in range(6):
        if seen is None:
            return False
        if isinstance(seen, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(seen):
            return True
        seen = getattr(seen, "reason", None) or seen.__cause__ or seen.__context__
    return False


def path(kind: str, namespace: str | None = None, name: str | None = None, subresource: str | None = None) -> str:
    """The API URL path of a kind (one of KINDS), optionally of one object and its subresource."""
    api_version, plural, namespaced = KINDS[kind]
    base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    if namespaced and namespace:
        base += f"/namespaces/{namespace}"
    base += f"/{plural}"
    if name:
        base += f"/{name}"
    if subresource:
        base += f"/{subresource}"
    return base


def condition(obj: dict, kind: str = "Ready") -> dict | None:
    """The status condition of type `kind`; None when the object has none (yet)."""
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return cond
    return None


def is_true(obj: dict, kind: str = "Ready") -> bool:
    """The condition `kind` is present and "True" (a missing condition counts as not true)."""
    cond = condition(obj, kind)
    return bool(cond and cond.get("status") == "True")


def observed(obj: dict) -> bool:
    """The object's controller has seen its current spec (until then its status describes an older one)."""
    return (obj.get("status") or {}).get("observedGeneration", 0) >= obj["metadata"].get("generation", 1)


def describe_condition(obj: dict, kind: str = "Ready") -> str:
    """The condition in one line (status, reason, message) for progress and error messages."""
    cond = condition(obj, kind)
    if cond is None:
        return f"no {kind} condition yet"
    return f"{kind}={cond.get('status')} {cond.get('reason', '')}: {cond.get('message', '')}".strip()


@dataclass
class Kube:
    ctx: Context
    sleep: Callable[[float], None] = time.sleep  # the retry back-off's (tests record it instead)

    def __post_init__(self) -> None:
        self._lists: dict[tuple[str, str | None, str | None], list[dict]] = {}
        self._client: Transport | None = None
        self._pid = os.getpid()
        self._unreachable = False
        self._state_token: frozenset[tuple[str, int]] | None = None
        self._checks = threading.local()  # per thread: an action another thread runs meanwhile reads afresh
        self.requests = 0

    @property
    def client(self) -> Transport:
        """This process's API client. `doit -n` forks its workers from the main process after that process's
        up-to-date checks opened keep-alive connections: a worker that kept using the inherited client would
        share a socket with its parent, each reading the other's answers (a hang until the read timeout). So
        a forked process builds its own client, and drops the lists it inherited."""
        self._leave_parent()
        if self._client is None:
            self._client = self._new_client()
        return self._client

    def _leave_parent(self) -> None:
        if self._pid != os.getpid():
            self._client, self._pid = None, os.getpid()
            self._lists.clear()

    def _new_client(self) -> Transport:
        kubeconfig = self.ctx.endpoints.kubeconfig
        if not kubeconfig.exists():  # checked first: a check that cannot succeed does not pay for the client
            raise StepError(f"no kubeconfig at {kubeconfig}: the cluster is not bootstrapped yet "
                            "(run `doit talos` first, or `doit talos_recover_kubeconfig`)")
        from hops import collector

        with collector.importing("kubernetes.client.rest"):  # its modules live as long as the process
            from hops.kubeconfig import transport

            return transport(kubeconfig)

    # --- raw requests --------------------------------------------------------------------------------------
    def request(self, method: str, url: str, body: Any = None, query: dict | None = None,
                content_type: str = "application/json", timeout: float = 30.0, retry: bool = True) -> dict:
        """One API call; returns the JSON body. A transient failure (hops.failures.classify_http: 429/5xx, 409
        Conflict on a write; connection errors and read timeouts) is retried with back-off until the running
        step's deadline (hops.deadlines), outside a step for bootstrap.retry.attempts tries; retry=False: one
        attempt. A permanent answer raises the client's ApiException at once (callers handle 404 and such)."""
        self.client  # noqa: B018 - without a kubeconfig this fails before the client package is imported
        api_exception = _api_exception()

        deadline = deadlines.current()
        # Outside a step, once the API could not be reached even with retries, later calls of this process try
        # once each until one gets through (bootstrap_status --live would otherwise back off for every check).
        once = not retry or (self._unreachable and deadline is None)
        attempts = 1 if once else self.ctx.config.bootstrap.retry.attempts
        pause = FIRST_PAUSE_S
        attempt = 1
        while True:
            try:
                self.requests += 1
                response = self._call(method, url, query, {"Accept": "application/json",
                                                           "Content-Type": content_type}, body, timeout)
                self._unreachable = False
                return json.loads(response.data or b"{}")
            except api_exception as exc:
                verdict = failures.classify_http(exc.status, _status_reason(exc), method)
                if not verdict.transient:
                    raise
                failure, unreachable = f"Kubernetes API answered {verdict.reason}: {_status_message(exc)}", False
            except StepError:  # e.g. no kubeconfig yet: retrying cannot help
                raise
            except Exception as exc:  # urllib3 connection errors and timeouts  # noqa: BLE001
                if _certificate_problem(exc):
                    raise StepError(f"the Kubernetes API's TLS certificate is not trusted ({exc}): the kubeconfig "
                                    "belongs to another cluster; run `doit talos_recover_kubeconfig`") from exc
                failure, unreachable = f"Kubernetes API unreachable ({type(exc).__name__}: {exc})", True
            if once or not _may_retry(attempt, attempts, pause, deadline):
                self._unreachable = self._unreachable or unreachable
                raise ApiUnavailable(f"{failure} after {attempt} attempt(s)")
            attempt += 1
            self.ctx.log.write(f"  retrying API {method} {url} (attempt {attempt}, transient: {failure}) "
                               f"in {pause:.3g}s")
            self.sleep(pause)  # retry back-off: the API offers no notice of its recovery
            pause = min(pause * 2, float(self.ctx.config.bootstrap.check_interval))

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict | None:
        """One object, None when it does not exist. In live checks (sharing()) it is read from the kind's shared
        list, so checking many objects costs one request per kind; elsewhere (actions, which may have just
        changed the cluster through a tool, and operations) from the API."""
        if self._sharing() and (namespace or not KINDS[kind][2]):
            found = next((o for o in self.list(kind, namespace) if o["metadata"].get("name") == name), None)
            return _copied(found)  # callers may edit what they get; the shared list stays as listed
        api_exception = _api_exception()
        try:
            return self.request("GET", path(kind, namespace, name))
        except api_exception as exc:
            if exc.status == 404:
                return None
            raise

    def list(self, kind: str, namespace: str | None = None, fresh: bool = False,
             labels: str | None = None) -> list[dict]:
        """Objects of a kind, cached per process. `fresh=True` re-reads, except in live checks (sharing()):
        every check of a run reads the same lists there (one request per kind however many nodes, apps or
        releases there are), and the lists are dropped whenever they may be out of date instead: after any
        write or wait through this object, after each step's action (hops.actions), and when the state folder
        changed (a step of another process — a `doit -n` worker — wrote its marker)."""
        key = (kind, namespace, labels)
        self._leave_parent()
        self._drop_if_state_changed()
        if (fresh and not self._sharing()) or key not in self._lists:
            query = {"labelSelector": labels} if labels else None
            self._lists[key] = items(kind, self.request("GET", path(kind, namespace), query=query))
        return self._lists[key]

    def invalidate(self) -> None:
        """Forget every shared list: the next read of each kind asks the API again."""
        self._lists.clear()

    @contextmanager
    def sharing(self) -> Iterator[None]:
        """While live checks run (hops.actions.evaluate): reads come from the per-kind lists they share."""
        self._checks.depth = self._sharing() + 1
        try:
            yield
        finally:
            self._checks.depth -= 1

    def _sharing(self) -> int:
        return int(getattr(self._checks, "depth", 0))

    def _drop_if_state_changed(self) -> None:
        """A step that finished wrote its marker into the state folder by rename: a new name or a new inode there.
        (Names and inodes, not the folder's mtime alone: two changes within one coarse clock tick share it.)"""
        folder = getattr(self.ctx, "state_dir", None)  # a bare context (tests, tools) has no state folder
        try:
            with os.scandir(folder) as entries:
                token = frozenset((e.name, e.inode()) for e in entries) if folder is not None else None
        except (OSError, TypeError):
            token = None
        if token != self._state_token:
            self._lists.clear()
            self._state_token = token

    def apply(self, obj: dict, field_manager: str = "hops") -> dict:
        """Server-side apply (creates or updates)."""
        kind, meta = obj["kind"], obj["metadata"]
        url = path(kind, meta.get("namespace"), meta["name"])
        self.invalidate()
        return self.request("PATCH", url, body=obj, content_type="application/apply-patch+yaml",
                            query={"fieldManager": field_manager, "force": "true"})

    def delete(self, kind: str, name: str, namespace: str | None = None) -> bool:
        api_exception = _api_exception()

        self.invalidate()
        try:
            self.request("DELETE", path(kind, namespace, name))
            return True
        except api_exception as exc:
            if exc.status == 404:
                return False
            raise

    def log(self, pod: str, namespace: str, container: str | None = None, tail: int = 50) -> str:
        """The last `tail` lines of a pod's log (plain text, so not through request())."""
        query = {"tailLines": str(tail), **({"container": container} if container else {})}
        self.requests += 1
        response = self._call("GET", path("Pod", namespace, pod, "log"), query, {"Accept": "text/plain"}, None, 30)
        return response.data.decode(errors="replace")

    def _call(self, method: str, url: str, query: dict | None, headers: dict, body: Any,
              timeout: Any) -> Any:
        """One HTTP call through the client's REST layer (hops.kubeconfig); returns the unread urllib3 response,
        raises ApiException for a non-2xx answer."""
        api_exception = _api_exception()

        response = self.client.send(method, url, query, headers, body, timeout)
        if not 200 <= response.status < 300:
            raise api_exception(status=response.status, reason=response.reason,
                               body=response.data.decode(errors="replace"))
        return response

    def annotate(self, kind: str, name: str, namespace: str | None, annotations: dict[str, str]) -> dict:
        self.invalidate()
        return self.request("PATCH", path(kind, namespace, name), body={"metadata": {"annotations": annotations}},
                            content_type="application/merge-patch+json")

    # --- waiting -------------------------------------------------------------------------------------------
    def wait(self, kind: str, what: str, predicate: Callable[[dict[str, dict]], tuple[bool, str]],
             deadline: float, namespace: str | None = None, name: str | None = None) -> dict[str, dict]:
        """Watch objects of `kind` until predicate(objects by name) -> (done, detail) holds.

        Prints what it waits for whenever the detail changes; raises WaitTimeout at the deadline naming the
        detail (which object is not ready and its condition message)."""
        from hops.waiting import Wait

        with Wait(self.ctx, what, deadline) as progress:  # status lines, the live progress line, the timeline
            return self._wait(kind, what, predicate, deadline, namespace, name, progress)

    def _wait(self, kind: str, what: str, predicate: Callable[[dict[str, dict]], tuple[bool, str]],
              deadline: float, namespace: str | None, name: str | None, progress: Any) -> dict[str, dict]:
        objects: dict[str, dict] = {}
        detail = "nothing observed yet"
        pause = FIRST_PAUSE_S
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WaitTimeout(f"timed out waiting for {what}: {detail}")
            try:
                version = self._relist(kind, namespace, name, objects)
                pause = FIRST_PAUSE_S
                done, detail = predicate(objects)
                if done:
                    return objects
                for event_type, obj in self._watch(kind, namespace, name, version, remaining):
                    if event_type == "DELETED":
                        objects.pop(_key(kind, namespace, obj), None)
                    else:
                        objects[_key(kind, namespace, obj)] = obj
                    done, detail = predicate(objects)
                    progress.status(detail)  # printed once per change
                    if done:
                        self.invalidate()
                        return objects
            except ApiUnavailable as exc:
                # No watch can run while the API is down (e.g. just after the etcd bootstrap): try again soon,
                # backing off to the configured check interval, until the deadline.
                detail = f"API not answering yet ({exc})"
                progress.status(detail)
                time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
                pause = min(pause * 2, float(self.ctx.config.bootstrap.check_interval))
            except WatchExpired:
                continue

    def _relist(self, kind: str, namespace: str | None, name: str | None, objects: dict[str, dict]) -> str:
        query = {"fieldSelector": f"metadata.name={name}"} if name else None
        listing = self.request("GET", path(kind, namespace), query=query, retry=False)
        objects.clear()
        for obj in items(kind, listing):
            objects[_key(kind, namespace, obj)] = obj
        return listing.get("metadata", {}).get("resourceVersion", "")

    def _watch(self, kind: str, namespace: str | None, name: str | None, version: str,
               remaining: float) -> Iterator[tuple[str, dict]]:
        api_exception = _api_exception()

        # The server ends a watch after whole seconds (timeoutSeconds); the wait's deadline is rarely one. The
        # client's read timeout is the time left, so a quiet watch ends at the deadline, not up to a second later.
        ends = time.monotonic() + remaining
        query = {"watch": "true", "resourceVersion": version, "timeoutSeconds": str(max(1, math.ceil(remaining)))}
        if name:
            query["fieldSelector"] = f"metadata.name={name}"
        self.requests += 1
        try:
            response = self._call("GET", path(kind, namespace), query, {"Accept": "application/json"}, None,
                                  (10, remaining))
        except api_exception as exc:
            if exc.status == 410:
                raise WatchExpired() from exc
            if failures.classify_http(exc.status).transient:
                raise ApiUnavailable(f"watch answered HTTP {exc.status}") from exc
            raise
        except Exception as exc:
            if _deadline_reached(exc, ends):
                return
            raise ApiUnavailable(f"watch failed: {type(exc).__name__}") from exc
        try:
            for line in _lines(response):
                event = json.loads(line)
                if event.get("type") == "ERROR":
                    raise WatchExpired()
                yield event["type"], event["object"]
                if time.monotonic() >= ends:
                    return
        except (WatchExpired, StepError):
            raise
        except Exception as exc:
            if _deadline_reached(exc, ends):
                return
            raise ApiUnavailable(f"watch stream broke: {type(exc).__name__}") from exc
        finally:
            response.release_conn()


def _copied(value: Any) -> Any:
    """A copy of a JSON value (dicts, lists, scalars), as copy.deepcopy makes it, without deepcopy's memo and
    dispatch (several times faster: a no-op copies every object its checks get)."""
    if isinstance(value, dict):
        return {key: _copied(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copied(item) for item in value]
    return value


def items(kind: str, listing: dict) -> list[dict]:
    """A list's items, each with its kind and apiVersion: a real API server leaves them out of the items of
    built-in kinds (only custom resources carry them), and readiness code tells kinds apart by them."""
    api_version = KINDS[kind][0]
    out = listing.get("items") or []
    for obj in out:
        obj.setdefault("kind", kind)
        obj.setdefault("apiVersion", api_version)
    return out


def _key(kind: str, namespace: str | None, obj: dict) -> str:
    """Objects are keyed by name within one namespace (or cluster-scoped kinds), else by namespace/name."""
    meta = obj["metadata"]
    return meta["name"] if namespace or not KINDS[kind][2] else f"{meta.get('namespace')}/{meta['name']}"


class WatchExpired(Exception):  # noqa: N818 -- a name steps and tests across the project use
    """The watch's resourceVersion is too old (410) or the stream ended: list again and resume."""


def _deadline_reached(exc: BaseException, ends: float) -> bool:
    """Whether `exc` is the watch's read timeout firing at its end (the wait's deadline), not a failure."""
    if time.monotonic() < ends - 0.01:
        return False
    seen: BaseException | None = exc
    for _ in range(5):  # urllib3 wraps: MaxRetryError(reason=ReadTimeoutError(...)), or a chained socket timeout
        if seen is None:
            return False
        if isinstance(seen, TimeoutError) or "Timeout" in type(seen).__name__:
            return True
        seen = getattr(seen, "reason", None) or seen.__cause__ or seen.__context__
    return False


def _lines(response: Any) -> Iterator[bytes]:
    buffer = b""
    for chunk in response.stream(amt=65536, decode_content=False):
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            if line.strip():
                yield line
    if buffer.strip():
        yield buffer
