"""1Password through the `op` CLI. Every value read is registered as a secret (redacted everywhere) and never
written to a log, a marker, a command line or stdout; values go to 1Password through stdin, never as arguments."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from hops import secrets
from hops.errors import StepError

if TYPE_CHECKING:
    from hops.context import Context


def _account(ctx: Context) -> list[str]:
    return ["--account", ctx.config.onepassword.account]


def item_title(ctx: Context, key: str) -> str:
    """The configured title of an item, by its key in onepassword.items (talos_secrets, connect_token, …)."""
    return getattr(ctx.config.onepassword.items, key)


def item_exists(ctx: Context, key: str) -> bool:
    """The configured item `key` exists in the vault (listing titles only: no value is read)."""
    vault = ctx.config.onepassword.vault
    argv = ["item", "list", "--vault", vault, *_account(ctx), "--format", "json"]
    result = ctx.runner.run("op", argv, retry=True)
    try:
        items = json.loads(result.stdout or "[]")
    except json.JSONDecodeError:
        items = None
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        # an old op (1.x prints other JSON), a wrapper printing a banner, or a proxy's error page
        raise StepError(f"`op {' '.join(argv)}` did not print a JSON list of items: "
                        f"{result.stdout.strip()[:200]!r}; check that `op` is the 1Password CLI 2.x "
                        "(`op --version`) and that nothing else writes to its output")
    return item_title(ctx, key) in {item.get("title") for item in items}


def read(ctx: Context, key: str, field: str) -> str:
    """The value of `field` in the configured item `key`; registered for redaction before anything can log it.
    Read once per process (ctx.vault_reads): phase 4 needs the Connect values in two steps."""
    op = ctx.config.onepassword
    reference = f"op://{op.vault}/{item_title(ctx, key)}/{field}"
    if reference in ctx.vault_reads:
        return ctx.vault_reads[reference]
    result = ctx.runner.run("op", ["read", "--no-newline", reference, *_account(ctx)], check=False,
                            secret_output=True, retry=True)
    if result.code != 0:
        raise StepError(f"could not read {reference} (onepassword.items.{key}) from 1Password: "
                        f"{result.stderr.strip()[:300]}")
    if not result.stdout.strip():  # no value hops reads may be empty (a token, a credentials file, a bundle)
        raise StepError(f"{reference} (onepassword.items.{key}) is empty in 1Password: store the value in that "
                        "field of the item, then run hops again")
    value = ctx.vault_reads[reference] = secrets.register(result.stdout)
    return value


def store(ctx: Context, key: str, fields: dict[str, str], category: str = "Secure Note") -> None:
    """Create the configured item `key` with concealed fields, piping the item JSON through stdin."""
    for value in fields.values():
        secrets.register(value)
    op = ctx.config.onepassword
    prefix = f"op://{op.vault}/{item_title(ctx, key)}/"
    for reference in [r for r in ctx.vault_reads if r.startswith(prefix)]:
        del ctx.vault_reads[reference]   # the item changes: read it anew
    template = {"title": item_title(ctx, key), "category": category.upper().replace(" ", "_"),
                "fields": [{"label": label, "type": "CONCEALED", "value": value} for label, value in fields.items()]}
    result = ctx.runner.run("op", ["item", "create", "--vault", op.vault, *_account(ctx), "--format", "json", "-"],
                            input=json.dumps(template), check=False, secret_output=True,
                            retry=False)  # creates an item: a lost answer must not make two
    if result.code != 0:
        raise StepError(f"could not store {item_title(ctx, key)!r} in 1Password vault {op.vault!r}: "
                        f"{result.stderr.strip()[:300]}")
