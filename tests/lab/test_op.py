"""The emulated 1Password CLI on the lab's seeded vault, through its launcher."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from hops.config import load_settings
from hops.lab import lifecycle, vault
from hops.lab.tools.common import read_calls

ERROR_PREFIX = re.compile(r"^\[ERROR\] \d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2} ")


@pytest.fixture(autouse=True)
def seeded(lab_layout, lab_project: Path) -> None:
    """What the daemon does at the first lab start: seed the vault and sign the configured account in."""
    lifecycle.install_launchers(lab_layout)
    assert vault.seed(lab_layout, load_settings(lab_project))
    vault.set_signed_in(lab_layout, "my.1password.com", True)


def test_seeded_items_and_field_names(run_tool) -> None:
    listed = run_tool("op", "item", "list", "--vault", "homelab", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    titles = {i["title"] for i in json.loads(listed.stdout)}
    assert titles == {"1password-connect-credentials", "1password-connect-token", "github-token"}  # no talos-secrets
    creds = run_tool("op", "read", "op://homelab/1password-connect-credentials/credentials")
    assert json.loads(creds.stdout)["version"] == "2"
    token = run_tool("op", "read", "op://homelab/github-token/token").stdout.strip()
    assert token.startswith("hops-lab-fake-")


def test_missing_item_and_vault_errors(run_tool) -> None:
    item = run_tool("op", "item", "get", "talos-secrets", "--vault", "homelab")
    assert item.returncode == 1
    assert ERROR_PREFIX.match(item.stderr)
    assert item.stderr.rstrip().endswith('"talos-secrets" isn\'t an item in the "homelab" vault. '
                                          "Specify the item with its UUID, name, or domain.")
    missing_vault = run_tool("op", "vault", "get", "nope")
    assert missing_vault.returncode == 1
    assert '"nope" isn\'t a vault in this account' in missing_vault.stderr
    read = run_tool("op", "read", "op://homelab/talos-secrets/secrets")
    assert read.returncode == 1
    assert "could not read secret 'op://homelab/talos-secrets/secrets': \"talos-secrets\" isn't an item" in read.stderr


def test_not_signed_in_fails_like_op_and_a_service_account_token_works(run_tool, lab_layout) -> None:
    assert run_tool("op", "signout").returncode == 0
    denied = run_tool("op", "whoami")
    assert denied.returncode == 1
    assert ERROR_PREFIX.match(denied.stderr)
    assert "You are not currently signed in. Please run `op signin --help` for instructions" in denied.stderr
    with_token = run_tool("op", "vault", "list", env={"OP_SERVICE_ACCOUNT_TOKEN": "ops_fake"})
    assert with_token.returncode == 0 and "homelab" in with_token.stdout
    assert run_tool("op", "signin", "--account", "my.1password.com").returncode == 0
    assert "lab@hops.invalid" in run_tool("op", "whoami").stdout
    assert run_tool("op", "account", "list").stdout.splitlines()[0].split() == ["URL", "EMAIL", "USER", "ID"]


def test_create_from_stdin_template_keeps_the_secret_off_the_command_line(run_tool, lab_layout) -> None:
    secret = "cluster:\n  id: hops-lab-fake-abc\n"
    template = {"title": "talos-secrets", "category": "SECURE_NOTE",
                "fields": [{"id": "secrets", "label": "secrets", "type": "CONCEALED", "value": secret}]}
    created = run_tool("op", "item", "create", "--vault", "homelab", "--format", "json", "-",
                       input=json.dumps(template))
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["title"] == "talos-secrets"
    fields = run_tool("op", "item", "get", "talos-secrets", "--vault", "homelab", "--fields", "label=secrets",
                      "--reveal")
    assert fields.stdout == secret + "\n"
    hidden = run_tool("op", "item", "get", "talos-secrets", "--vault", "homelab", "--fields", "label=secrets")
    assert "--reveal' to reveal" in hidden.stdout
    assert all(secret not in " ".join(c["argv"]) for c in read_calls(lab_layout, "op"))


def test_edit_from_stdin_and_assignments(run_tool) -> None:
    edited = run_tool("op", "item", "edit", "github-token", "--vault", "homelab", "-", "--format", "json",
                      input=json.dumps({"fields": [{"label": "token", "type": "CONCEALED", "value": "new-value"}]}))
    assert edited.returncode == 0, edited.stderr
    assert json.loads(edited.stdout)["version"] == 2
    assert run_tool("op", "read", "op://homelab/github-token/token").stdout == "new-value\n"
    assert run_tool("op", "item", "edit", "github-token", "--vault", "homelab", "note[text]=hello").returncode == 0
    assert run_tool("op", "read", "op://homelab/github-token/note").stdout == "hello\n"


def test_create_with_assignments_and_read_to_file(run_tool, tmp_path: Path) -> None:
    created = run_tool("op", "item", "create", "--vault", "homelab", "--category", "API Credential",
                       "--title", "extra", "credential[password]=s3cret")
    assert created.returncode == 0, created.stderr
    out = tmp_path / "secret.txt"
    done = run_tool("op", "read", "op://homelab/extra/credential", "--out-file", str(out))
    assert done.returncode == 0, done.stderr
    assert out.read_text() == "s3cret"
    assert out.stat().st_mode & 0o777 == 0o600
    bad = run_tool("op", "item", "create", "--vault", "homelab", "--category", "Spaceship", "--title", "x")
    assert bad.returncode == 1 and "isn't a valid category" in bad.stderr


def test_version_and_unknown_command(run_tool) -> None:
    assert run_tool("op", "--version").stdout.strip() == "2.30.3"
    unknown = run_tool("op", "itme", "list")
    assert unknown.returncode == 1 and 'unknown command "itme" for "op"' in unknown.stderr
