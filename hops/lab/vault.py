"""The emulated 1Password account: one JSON file (`<lab>/op/vault.json`) plus the sign-in session file.

Seeded at the first lab start with the vault and items named in bootstrap-config.yaml. Every value is generated
and contains "hops-lab-fake". The Talos secrets item is deliberately absent: hops generates and stores it.

Field labels of the seeded items (what hops reads):
    <connect_credentials>  field "credentials": 1password-credentials.json text, {"version": "2", ...}
    <connect_token>        field "token"
    <github_token>         field "token"
    <talos_secrets>        (absent until hops creates it; hops stores the bundle in field "secrets")
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import string
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from hops.lab.layout import LabLayout

FAKE = "hops-lab-fake"
LAB_EMAIL = "lab@hops.invalid"


def new_id() -> str:
    """A 26-character lowercase id like 1Password's item and vault ids."""
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(26))


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def fake(label: str) -> str:
    return f"{FAKE}-{label}-{secrets.token_hex(12)}"


def field(label: str, value: str, kind: str = "CONCEALED") -> dict:
    return {"id": label, "type": kind, "label": label, "value": value}


def new_item(title: str, category: str, fields: list[dict]) -> dict:
    stamp = now()
    return {"id": new_id(), "title": title, "version": 1, "category": category, "fields": fields,
            "created_at": stamp, "updated_at": stamp, "last_edited_by": "LABUSER0000000000000000000"}


def _connect_credentials() -> str:
    """A 1password-credentials.json look-alike in the version 2 format Connect accepts."""
    return json.dumps({"verifier": {"salt": fake("salt"), "localHash": fake("hash")},
                       "encCredentials": {"kid": "localauthv2keykid", "enc": "A256GCM", "cty": "b5+jwk+json",
                                          "iv": fake("iv"), "data": fake("data")},
                       "version": "2", "deviceUuid": fake("device"), "uniqueKey": {"kid": fake("kid")}})


def seeded(settings: Any) -> dict:
    """The initial account for `settings` (hops.config settings)."""
    op = settings.config.onepassword
    items = op.items
    vault_items = [
        new_item(items.connect_credentials, "API_CREDENTIAL",
                 [field("credentials", _connect_credentials())]),
        new_item(items.connect_token, "API_CREDENTIAL", [field("token", fake("connect-token"))]),
        new_item(items.github_token, "API_CREDENTIAL", [field("token", fake("github-token"))]),
    ]
    return {"account": {"url": op.account, "email": LAB_EMAIL, "user_uuid": new_id().upper(),
                        "account_uuid": new_id().upper(), "shorthand": op.account.split(".")[0]},
            "vaults": [{"id": new_id(), "name": op.vault, "created_at": now(), "items": vault_items}]}


def seed(layout: LabLayout, settings: Any) -> bool:
    """Write the initial vault unless one exists; returns True when it seeded."""
    if layout.vault_file.exists():
        return False
    layout.vault_file.parent.mkdir(parents=True, exist_ok=True)
    _write(layout, seeded(settings))
    return True


def load(layout: LabLayout) -> dict:
    try:
        return json.loads(layout.vault_file.read_text())
    except FileNotFoundError:
        return {"account": None, "vaults": []}


def _write(layout: LabLayout, data: dict) -> None:
    tmp = layout.vault_file.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(data, out, indent=1)
    os.replace(tmp, layout.vault_file)


@contextmanager
def editing(layout: LabLayout) -> Iterator[dict]:
    """Read-modify-write the vault under an exclusive lock (op calls run as concurrent processes)."""
    layout.vault_file.parent.mkdir(parents=True, exist_ok=True)
    with open(layout.vault_file.parent / "vault.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = load(layout)
        yield data
        _write(layout, data)


def find_vault(data: dict, ref: str) -> dict | None:
    return next((v for v in data["vaults"] if ref in (v["id"], v["name"])), None)


def find_items(vault: dict, ref: str) -> list[dict]:
    return [i for i in vault["items"] if ref in (i["id"], i["title"])]


def find_field(item: dict, ref: str) -> dict | None:
    wanted = ref.lower()
    return next((f for f in item["fields"] if wanted in (f["id"].lower(), f["label"].lower())), None)


# --- sign-in session -----------------------------------------------------------------------------------------

def signed_in_accounts(layout: LabLayout) -> list[str]:
    try:
        return json.loads(layout.op_session_file.read_text()).get("signed_in", [])
    except (FileNotFoundError, json.JSONDecodeError):
        return []


def set_signed_in(layout: LabLayout, account: str, signed_in: bool) -> None:
    accounts = [a for a in signed_in_accounts(layout) if a != account]
    if signed_in:
        accounts.append(account)
    layout.op_session_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = layout.op_session_file.with_suffix(".tmp")
    tmp.write_text(json.dumps({"signed_in": accounts, "updated_at": now()}))
    os.replace(tmp, layout.op_session_file)
