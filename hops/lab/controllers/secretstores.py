"""External Secrets against 1Password Connect: ClusterSecretStore/SecretStore validation and ExternalSecret sync.

Acts only while the `external-secrets` controller Deployment is available (as the real operator would). A store
with the onepassword provider is valid when its Connect Service has ready endpoints and its token Secret exists
(and, when the lab vault holds the Connect token, matches it). ExternalSecrets read items from the lab vault
(`hops.lab.vault`): remoteRef.key = item title, property = field label.
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import urlparse

from hops.lab import vault
from hops.lab.controllers.loop import LoopController
from hops.lab.controllers.pods import stamp
from hops.lab.readiness import check, is_true

ESO = "external-secrets.io/v1beta1"


class SecretStoreController(LoopController):
    kinds = frozenset({"ClusterSecretStore", "SecretStore", "ExternalSecret", "Secret", "Endpoints", "Deployment"})

    def __init__(self, lab: Any) -> None:
        super().__init__(lab)
        self._vault_mtime = -1.0
        self._vault: dict = {}

    def reconcile(self) -> float | None:
        if not self._operator_running():
            return None
        self._load_vault()
        for kind in ("ClusterSecretStore", "SecretStore"):
            for store in self.store.list(ESO, kind):
                ok, reason, message = self._validate(store)
                self._condition(store, ok, "Valid" if ok else reason, message)
        for es in self.store.list(ESO, "ExternalSecret"):
            self._sync(es)
        return None

    def _operator_running(self) -> bool:
        return any(d["metadata"]["name"] == "external-secrets" and check(d)[0]
                   for d in self.store.peek("apps/v1", "Deployment"))

    def _load_vault(self) -> None:
        try:
            mtime = self.lab.layout.vault_file.stat().st_mtime
        except FileNotFoundError:
            self._vault = {}
            return
        if mtime != self._vault_mtime:
            self._vault_mtime = mtime
            self._vault = vault.load(self.lab.layout)

    # -- stores ---------------------------------------------------------------------------------------------
    def _validate(self, store: dict) -> tuple[bool, str, str]:
        provider = (store.get("spec") or {}).get("provider") or {}
        op = provider.get("onepassword")
        if op is None:
            return False, "InvalidProviderConfig", "the hops lab only emulates the onepassword provider"
        ref = ((op.get("auth") or {}).get("secretRef") or {}).get("connectTokenSecretRef") or {}
        ns = ref.get("namespace") or store["metadata"].get("namespace") or "default"
        secret = self.store.get("v1", "Secret", ref.get("name", ""), ns)
        if secret is None:
            return False, "InvalidProviderConfig", (f"could not get provider client: cannot get Kubernetes secret "
                                                    f"\"{ref.get('name')}\" from namespace \"{ns}\": secrets "
                                                    f"\"{ref.get('name')}\" not found")
        token = _decoded(secret, ref.get("key", ""))
        if token is None:
            return False, "InvalidProviderConfig", (f"could not get provider client: cannot find secret data for "
                                                    f"key: \"{ref.get('key')}\"")
        host = op.get("connectHost", "")
        if not self._connect_up(host):
            where = urlparse(host)
            return False, "ValidationFailed", (f"unable to validate store: Get \"{host.rstrip('/')}/v1/vaults\": "
                                               f"dial tcp: lookup {where.hostname}: connection refused")
        expected = self._vault_value(self._connect_token_item(), "token")
        if expected is not None and token != expected:
            return False, "ValidationFailed", "unable to validate store: status 401: Invalid token signature"
        return True, "Valid", "store validated"

    def _connect_up(self, host: str) -> bool:
        """The Service named by connectHost (svc.ns[.svc.cluster.local]) has ready endpoints."""
        parts = (urlparse(host).hostname or "").split(".")
        if len(parts) < 2:
            return False
        endpoints = self.store.get("v1", "Endpoints", parts[0], parts[1])
        return any(s.get("addresses") for s in (endpoints or {}).get("subsets", []) or [])

    def _connect_token_item(self) -> str:
        items = getattr(getattr(getattr(self.lab.settings, "config", None), "onepassword", None), "items", None)
        return getattr(items, "connect_token", "1password-connect-token")

    def _condition(self, obj: dict, ok: bool, reason: str, message: str) -> None:
        current: dict = next((c for c in (obj.get("status") or {}).get("conditions", []) or [] if c["type"] == "Ready"), {})
        want = ("True" if ok else "False", reason, message)
        if (current.get("status"), current.get("reason"), current.get("message")) == want:
            return
        status: dict[str, Any] = {"conditions": [{"type": "Ready", "status": want[0], "reason": reason,
                                                  "message": message, "lastTransitionTime": stamp()}]}
        if obj["kind"] in ("ClusterSecretStore", "SecretStore"):
            status["capabilities"] = "ReadOnly"
        meta = obj["metadata"]
        self.store.set_status(ESO, obj["kind"], meta["name"], meta.get("namespace"), status)

    # -- external secrets -----------------------------------------------------------------------------------
    def _sync(self, es: dict) -> None:
        spec, meta = es.get("spec") or {}, es["metadata"]
        ref = spec.get("secretStoreRef") or {}
        kind = ref.get("kind", "SecretStore")
        store = self.store.get(ESO, kind, ref.get("name", ""), None if kind == "ClusterSecretStore" else meta["namespace"])
        if store is None or not is_true(store, "Ready"):
            self._condition(es, False, "SecretSyncedError",
                            f"error retrieving secret at .data[0], key: , err: {kind} \"{ref.get('name')}\" "
                            f"is not ready")
            return
        data, error = self._collect(spec)
        if error:
            self._condition(es, False, "SecretSyncedError", error)
            return
        target = (spec.get("target") or {}).get("name") or meta["name"]
        secret: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                                  "metadata": {"name": target, "namespace": meta["namespace"],
                                               "labels": {"reconcile.external-secrets.io/managed": "true"}},
                                  "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}
        if (spec.get("target") or {}).get("creationPolicy", "Owner") == "Owner":
            secret["metadata"]["ownerReferences"] = [{"apiVersion": ESO, "kind": "ExternalSecret",
                                                      "name": meta["name"], "uid": meta.get("uid", ""),
                                                      "controller": True}]
        current = self.store.get("v1", "Secret", target, meta["namespace"])
        if current is None or current.get("data") != secret["data"]:
            self.store.apply(secret)
        self._condition(es, True, "SecretSynced", "secret synced")

    def _collect(self, spec: dict) -> tuple[dict[str, str], str]:
        data: dict[str, str] = {}
        for i, entry in enumerate(spec.get("data", []) or []):
            remote = entry.get("remoteRef") or {}
            value = self._vault_value(remote.get("key", ""), remote.get("property") or "password")
            if value is None:
                return {}, (f"error retrieving secret at .data[{i}], key: {remote.get('key')}, err: key not found "
                            f"in 1Password Vaults: {remote.get('key')} in: map[{self._vault_names()}]")
            data[entry["secretKey"]] = value
        for i, entry in enumerate(spec.get("dataFrom", []) or []):
            key = (entry.get("extract") or {}).get("key", "")
            item = self._item(key)
            if item is None:
                return {}, (f"error retrieving secret at .dataFrom[{i}], key: {key}, err: key not found in "
                            f"1Password Vaults: {key} in: map[{self._vault_names()}]")
            data.update({f["label"]: f.get("value", "") for f in item.get("fields", [])})
        return data, ""

    def _vault_names(self) -> str:
        return " ".join(f"{v['name']}:1" for v in self._vault.get("vaults", []))

    def _item(self, title: str) -> dict | None:
        for v in self._vault.get("vaults", []):
            found = vault.find_items(v, title)
            if found:
                return found[0]
        return None

    def _vault_value(self, title: str, label: str) -> str | None:
        item = self._item(title)
        found = vault.find_field(item, label) if item else None
        return found.get("value") if found else None


def _decoded(secret: dict, key: str) -> str | None:
    raw = (secret.get("data") or {}).get(key)
    if raw is None:
        raw_string = (secret.get("stringData") or {}).get(key)
        return raw_string
    return base64.b64decode(raw).decode()
