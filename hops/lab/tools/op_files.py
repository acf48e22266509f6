"""The emulated op's file commands: `op document create|get|list|delete` and `op inject`.

A document is a DOCUMENT item whose file (name and base64 content) is stored beside its fields in the lab vault.
`op inject` replaces every `{{ op://vault/item/[section/]field }}` in a template; an unresolvable reference fails
the whole injection and writes nothing, as op does.
"""

from __future__ import annotations

import base64
import os
import re
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from hops.lab import vault as store
from hops.lab.tools.common import ToolExit
from hops.lab.tools.flags import Flag, parse, table

if TYPE_CHECKING:
    from hops.lab.tools.op import Op

REFERENCE = re.compile(r"\{\{\s*(op://[^}\s]+)\s*\}\}")


def fail(message: str) -> ToolExit:
    """op's error shape: `[ERROR] <date> <time> <message>`, exit 1."""
    return ToolExit(f"[ERROR] {time.strftime('%Y/%m/%d %H:%M:%S')} {message}", 1)


_fail = fail


def field(item: dict, ref: str) -> dict:
    """The field `ref` (ID or label) of an item; op's error when there is none."""
    found = store.find_field(item, ref)
    if found is None:
        raise fail(f'"{ref}" isn\'t a field in the "{item["title"]}" item. '
                   "Specify the field with its ID or label.")
    return found


def _write_private(path: str, content: bytes, mode: str) -> None:
    perms = int(mode, 8)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, perms)
    with os.fdopen(fd, "wb") as out:
        out.write(content)
    os.chmod(path, perms)


# --- documents -----------------------------------------------------------------------------------------------

def cmd_document(op: Op, args: list[str]) -> int:
    sub, rest = (args[0], args[1:]) if args else ("", [])
    handlers = {"create": document_create, "get": document_get, "list": document_list, "ls": document_list,
                "delete": document_delete, "rm": document_delete}
    if sub not in handlers:
        raise _fail(f'unknown command "{sub}" for "op document"')
    return handlers[sub](op, rest)


def document_create(op: Op, args: list[str]) -> int:
    opts = parse(args, [Flag("title"), Flag("file-name"), Flag("tags")], "op")
    if not opts.positionals:
        raise _fail("a file is required: op document create <file> [flags]")
    source = opts.positionals[0]
    try:
        content = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    except OSError as exc:
        raise _fail(f"open {source}: {(exc.strerror or str(exc)).lower()}") from None
    name = opts.text("file-name") or Path(source).name
    item = store.new_item(opts.text("title") or name, "DOCUMENT", [])
    item["document"] = {"name": name, "content": base64.b64encode(content).decode()}
    op.require_signin()
    with store.editing(op.layout) as live:
        vault = op.vault(live, op.flags.text("vault"))
        vault["items"].append(item)
    op.out({"uuid": item["id"], "createdAt": item["created_at"], "updatedAt": item["updated_at"],
            "vaultUuid": vault["id"]}, f"ID:          {item['id']}\n")
    return 0


def _document(op: Op, ref: str) -> tuple[dict, dict]:
    data = op.require_signin()
    vault, item = op.item(data, ref, op.flags.text("vault"))
    if "document" not in item:
        raise _fail(f'"{ref}" isn\'t a document item. Use "op item get" for items that aren\'t documents.')
    return vault, item


def document_get(op: Op, args: list[str]) -> int:
    opts = parse(args, [Flag("out-file", "o"), Flag("output"), Flag("force", "f", "bool"),
                        Flag("file-mode", default="0600"), Flag("include-archive", kind="bool")], "op")
    if not opts.positionals:
        raise _fail("a document is required: op document get <item> [flags]")
    _, item = _document(op, opts.positionals[0])
    content = base64.b64decode(item["document"]["content"])
    out_file = opts.text("out-file") or opts.text("output")
    if out_file is None:
        sys.stdout.buffer.write(content)
        return 0
    if Path(out_file).exists() and not opts.get("force"):
        raise _fail(f"{out_file} already exists; use --force to overwrite it")
    _write_private(out_file, content, str(opts.get("file-mode")))
    return 0


def document_list(op: Op, args: list[str]) -> int:
    parse(args, [Flag("include-archive", kind="bool")], "op")
    data = op.require_signin()
    vaults = [op.vault(data, op.flags.text("vault"))] if op.flags.text("vault") else data["vaults"]
    docs = [(v, i) for v in vaults for i in v["items"] if "document" in i]
    rows = [["ID", "TITLE", "VAULT", "EDITED"]] + [[i["id"], i["title"], v["name"], i["updated_at"]] for v, i in docs]
    op.out([{"id": i["id"], "title": i["title"], "vault": {"id": v["id"], "name": v["name"]},
             "overview": {"ainfo": i["document"]["name"]}} for v, i in docs], table(rows))
    return 0


def document_delete(op: Op, args: list[str]) -> int:
    opts = parse(args, [Flag("archive", kind="bool")], "op")
    if not opts.positionals:
        raise _fail("a document is required: op document delete <item>")
    _, found = _document(op, opts.positionals[0])
    with store.editing(op.layout) as live:
        for vault in live["vaults"]:
            vault["items"] = [i for i in vault["items"] if i["id"] != found["id"]]
    return 0


# --- inject --------------------------------------------------------------------------------------------------

def resolve(op: Op, data: dict, reference: str) -> str:
    """The value behind `op://vault/item/[section/]field`; ToolExit with op's wording when it does not resolve."""
    parts = reference.removeprefix("op://").split("/")
    if len(parts) not in (3, 4) or not all(parts):
        raise _fail(f"invalid secret reference '{reference}': expected op://<vault>/<item>/[<section>/]<field>")
    try:
        _, item = op.item(data, parts[1], parts[0])
        return str(field(item, parts[-1])["value"])
    except ToolExit as exc:
        raise _fail(f"could not resolve secret reference '{reference}': {exc.message.split(' ', 3)[-1]}") from None


def cmd_inject(op: Op, args: list[str]) -> int:
    opts = parse(args, [Flag("in-file", "i"), Flag("out-file", "o"), Flag("force", "f", "bool"),
                        Flag("file-mode", default="0600")], "op")
    source = opts.text("in-file")
    try:
        template = Path(source).read_text() if source else sys.stdin.read()
    except OSError as exc:
        raise _fail(f"open {source}: {(exc.strerror or str(exc)).lower()}") from None
    if not source and not template:
        raise _fail("expected data on stdin or a template file given with --in-file")
    data = op.require_signin()
    rendered = REFERENCE.sub(lambda m: resolve(op, data, m.group(1)), template)   # all resolve, or nothing is written
    out_file = opts.text("out-file")
    if out_file is None:
        sys.stdout.write(rendered)
        return 0
    if Path(out_file).exists() and not opts.get("force"):
        raise _fail(f"{out_file} already exists; use --force to overwrite it")
    _write_private(out_file, rendered.encode(), str(opts.get("file-mode")))
    print(Path(out_file).resolve())
    return 0
