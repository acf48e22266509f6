"""op document create/get/list/delete and op inject on the lab's seeded vault."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from hops.config import load_settings
from hops.lab import lifecycle, vault

ERROR_PREFIX = re.compile(r"^\[ERROR\] \d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2} ")


@pytest.fixture(autouse=True)
def seeded(lab_layout, lab_project: Path) -> None:
    lifecycle.install_launchers(lab_layout)
    assert vault.seed(lab_layout, load_settings(lab_project))
    vault.set_signed_in(lab_layout, "my.1password.com", True)


def test_document_round_trip(run_tool, tmp_path: Path) -> None:
    source = tmp_path / "age.key"
    source.write_bytes(b"AGE-SECRET-KEY-1FAKE\n")
    created = run_tool("op", "document", "create", str(source), "--title", "sops-age", "--vault", "homelab",
                       "--format", "json")
    assert created.returncode == 0, created.stderr
    assert set(json.loads(created.stdout)) == {"uuid", "createdAt", "updatedAt", "vaultUuid"}
    got = run_tool("op", "document", "get", "sops-age", "--vault", "homelab")
    assert (got.returncode, got.stdout) == (0, "AGE-SECRET-KEY-1FAKE\n")
    out = tmp_path / "copy.key"
    assert run_tool("op", "document", "get", "sops-age", "--out-file", str(out)).returncode == 0
    assert out.read_bytes() == b"AGE-SECRET-KEY-1FAKE\n" and out.stat().st_mode & 0o777 == 0o600
    again = run_tool("op", "document", "get", "sops-age", "--out-file", str(out))
    assert again.returncode == 1 and "use --force" in again.stderr
    listed = run_tool("op", "document", "list", "--vault", "homelab")
    assert listed.stdout.split()[:4] == ["ID", "TITLE", "VAULT", "EDITED"] and "sops-age" in listed.stdout
    assert run_tool("op", "document", "delete", "sops-age").returncode == 0
    assert run_tool("op", "document", "get", "sops-age").returncode == 1


def test_document_get_of_a_plain_item_or_nothing_fails(run_tool) -> None:
    plain = run_tool("op", "document", "get", "github-token", "--vault", "homelab")
    assert plain.returncode == 1 and ERROR_PREFIX.match(plain.stderr) and "isn't a document item" in plain.stderr
    missing = run_tool("op", "document", "get", "nope", "--vault", "homelab")
    assert missing.returncode == 1 and "\"nope\" isn't an item" in missing.stderr
    assert run_tool("op", "document", "frob").returncode == 1


def test_inject_renders_references_into_a_private_file(run_tool, tmp_path: Path) -> None:
    template = tmp_path / "env.tpl"
    template.write_text("TOKEN={{ op://homelab/github-token/token }}\nKEEP=plain\n")
    out = tmp_path / "env"
    done = run_tool("op", "inject", "-i", str(template), "-o", str(out))
    assert done.returncode == 0, done.stderr
    token = run_tool("op", "read", "op://homelab/github-token/token").stdout.strip()
    assert done.stdout.strip() == str(out) and token not in done.stdout + done.stderr
    assert out.read_text() == f"TOKEN={token}\nKEEP=plain\n" and out.stat().st_mode & 0o777 == 0o600
    piped = run_tool("op", "inject", input="t: {{op://homelab/github-token/token}}")
    assert piped.stdout == f"t: {token}"


def test_inject_with_an_unknown_reference_writes_nothing(run_tool, tmp_path: Path) -> None:
    template = tmp_path / "env.tpl"
    template.write_text("A={{ op://homelab/github-token/token }}\nB={{ op://homelab/missing/field }}\n")
    out = tmp_path / "env"
    done = run_tool("op", "inject", "-i", str(template), "-o", str(out))
    assert done.returncode == 1 and ERROR_PREFIX.match(done.stderr)
    assert "could not resolve secret reference 'op://homelab/missing/field'" in done.stderr
    assert not out.exists()
    absent = run_tool("op", "inject", "-i", str(tmp_path / "none.tpl"))
    assert absent.returncode == 1 and "no such file or directory" in absent.stderr
