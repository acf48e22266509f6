"""Emulated 1Password CLI (op v2) on the lab's vault file (hops.lab.vault).

Signed in when OP_SERVICE_ACCOUNT_TOKEN is set or the session file lists the account (the lab signs the
configured account in at its first start). Errors print `[ERROR] YYYY/MM/DD HH:MM:SS <text>` and exit 1.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from hops.lab import vault as store
from hops.lab.tools import op_files
from hops.lab.tools.common import ToolExit, lab_info, layout, run_tool
from hops.lab.tools.flags import Flag, Parsed, parse, table
from hops.lab.tools.op_files import fail
from hops.lab.tools.op_files import field as _field

DEFAULT_VERSION = "2.30.3"
GLOBAL = [Flag("account"), Flag("format"), Flag("vault"), Flag("session"), Flag("cache", kind="bool"),
          Flag("no-color", kind="bool"), Flag("debug", kind="bool"), Flag("iso-timestamps", kind="bool"),
          Flag("config"), Flag("encoding")]
CATEGORIES = {"login": "LOGIN", "password": "PASSWORD", "api credential": "API_CREDENTIAL",
              "api_credential": "API_CREDENTIAL", "secure note": "SECURE_NOTE", "secure_note": "SECURE_NOTE",
              "server": "SERVER", "database": "DATABASE", "document": "DOCUMENT", "ssh key": "SSH_KEY"}
NOT_SIGNED_IN = "You are not currently signed in. Please run `op signin --help` for instructions"


def _version() -> str:
    return ((lab_info(required=False) or {}).get("tool_versions") or {}).get("op") or DEFAULT_VERSION


class Op:
    def __init__(self, flags: Parsed) -> None:
        self.flags = flags
        self.layout = layout()
        self.json = flags.get("format") == "json"

    # -- auth --
    def data(self) -> dict:
        data = store.load(self.layout)
        if data.get("account") is None:
            raise fail("No accounts configured for use with 1Password CLI.")
        return data

    def require_signin(self) -> dict:
        data = self.data()
        if os.environ.get("OP_SERVICE_ACCOUNT_TOKEN"):
            return data
        wanted = self.flags.get("account") or os.environ.get("OP_ACCOUNT")
        account = data["account"]
        if wanted and wanted not in (account["url"], account["shorthand"], account["user_uuid"]):
            raise fail(f'no account found for filter "{wanted}"')
        if account["url"] not in store.signed_in_accounts(self.layout):
            raise fail(NOT_SIGNED_IN)
        return data

    def vault(self, data: dict, ref: str | None) -> dict:
        if not ref:
            raise fail('a vault is required: use "--vault <vault>"')
        found = store.find_vault(data, ref)
        if found is None:
            raise fail(f'"{ref}" isn\'t a vault in this account. Specify the vault with its ID or name.')
        return found

    def item(self, data: dict, ref: str, vault_ref: str | None) -> tuple[dict, dict]:
        vaults = [self.vault(data, vault_ref)] if vault_ref else data["vaults"]
        matches = [(v, i) for v in vaults for i in store.find_items(v, ref)]
        if not matches:
            where = f'the "{vault_ref}" vault' if vault_ref else "any vault"
            raise fail(f'"{ref}" isn\'t an item in {where}. Specify the item with its UUID, name, or domain.')
        if len(matches) > 1:
            ids = "\n".join(f"  for the item \"{i['title']}\" in vault {v['name']}: {i['id']}" for v, i in matches)
            raise fail(f'More than one item matches "{ref}". Try again and specify the item by its ID:\n{ids}')
        return matches[0]

    def out(self, value: Any, human: str) -> None:
        print(json.dumps(value, indent=2) if self.json else human, end="" if human.endswith("\n") else "\n")


def _item_json(vault: dict, item: dict) -> dict:
    fields = [dict(f, reference=f"op://{vault['name']}/{item['title']}/{f['label']}") for f in item["fields"]]
    return {"id": item["id"], "title": item["title"], "version": item["version"],
            "vault": {"id": vault["id"], "name": vault["name"]}, "category": item["category"],
            "last_edited_by": item["last_edited_by"], "created_at": item["created_at"],
            "updated_at": item["updated_at"], "fields": fields}


def _item_summary(vault: dict, item: dict) -> dict:
    full = _item_json(vault, item)
    full.pop("fields")
    return full


def _item_human(vault: dict, item: dict, reveal: bool) -> str:
    lines = [f"ID:          {item['id']}", f"Title:       {item['title']}",
             f"Vault:       {vault['name']} ({vault['id']})", f"Created:     {item['created_at']}",
             f"Updated:     {item['updated_at']}", "Favorite:    false", f"Version:     {item['version']}",
             f"Category:    {item['category']}", "Fields:"]
    for f in item["fields"]:
        lines.append(f"  {f['label']}:    {_shown(f, item, reveal)}")
    return "\n".join(lines) + "\n"


def _shown(field: dict, item: dict, reveal: bool) -> str:
    if field["type"] == "CONCEALED" and not reveal:
        return f"[use 'op item get {item['id']} --reveal' to reveal]"
    return field["value"]


# --- commands ------------------------------------------------------------------------------------------------

def cmd_whoami(op: Op, args: list[str]) -> int:
    account = op.require_signin()["account"]
    kind = "SERVICE_ACCOUNT" if os.environ.get("OP_SERVICE_ACCOUNT_TOKEN") else "HUMAN"
    human = (f"URL:        https://{account['url']}\nEmail:      {account['email']}\n"
             f"User ID:    {account['user_uuid']}\nUser Type:  {kind}")
    op.out({"url": f"https://{account['url']}", "email": account["email"], "user_uuid": account["user_uuid"],
            "account_uuid": account["account_uuid"], "user_type": kind}, human)
    return 0


def cmd_account(op: Op, args: list[str]) -> int:
    if not args or args[0] not in ("list", "ls", "get"):
        raise fail(f'unknown command "{args[0] if args else ""}" for "op account"')
    account = op.data()["account"]
    if args[0] == "get":
        op.require_signin()
        op.out({"id": account["account_uuid"], "name": "hops lab", "domain": account["url"], "type": "FAMILY",
                "state": "ACTIVE"}, f"ID:        {account['account_uuid']}\nName:      hops lab\n"
                                    f"Domain:    {account['url']}\nType:      FAMILY\nState:     ACTIVE")
        return 0
    entry = {"url": account["url"], "email": account["email"], "user_uuid": account["user_uuid"],
             "account_uuid": account["account_uuid"]}
    op.out([entry], table([["URL", "EMAIL", "USER ID"], [account["url"], account["email"], account["user_uuid"]]]))
    return 0


def cmd_signin(op: Op, args: list[str]) -> int:
    opts = parse(args, [Flag("raw", kind="bool"), Flag("force", "f", "bool")], "op")
    account = op.data()["account"]
    wanted = op.flags.get("account") or os.environ.get("OP_ACCOUNT")
    if wanted and wanted not in (account["url"], account["shorthand"], account["user_uuid"]):
        raise fail(f'no account found for filter "{wanted}"')
    store.set_signed_in(op.layout, account["url"], True)
    if opts.get("raw"):
        print(f"{store.FAKE}-session-{account['shorthand']}")
    return 0


def cmd_signout(op: Op, args: list[str]) -> int:
    parse(args, [Flag("all", kind="bool"), Flag("forget", kind="bool")], "op")
    account = op.data()["account"]
    store.set_signed_in(op.layout, account["url"], False)
    return 0


def cmd_vault(op: Op, args: list[str]) -> int:
    sub, rest = (args[0], args[1:]) if args else ("", [])
    data = op.require_signin()
    if sub in ("list", "ls"):
        entries = [{"id": v["id"], "name": v["name"], "content_version": len(v["items"]) + 1,
                    "created_at": v["created_at"], "updated_at": v["created_at"]} for v in data["vaults"]]
        op.out(entries, table([["ID", "NAME"], *[[v["id"], v["name"]] for v in data["vaults"]]]))
        return 0
    if sub == "get":
        if not rest:
            raise fail('a vault is required')
        v = op.vault(data, rest[0])
        op.out({"id": v["id"], "name": v["name"], "items": len(v["items"]), "type": "USER_CREATED",
                "created_at": v["created_at"]},
               f"ID:                   {v['id']}\nName:                 {v['name']}\nType:                 "
               f"USER_CREATED\nItems:                {len(v['items'])}\nCreated:              {v['created_at']}")
        return 0
    raise fail(f'unknown command "{sub}" for "op vault"')


def cmd_item(op: Op, args: list[str]) -> int:
    sub, rest = (args[0], args[1:]) if args else ("", [])
    handlers = {"list": item_list, "ls": item_list, "get": item_get, "create": item_create,
                "edit": item_edit, "delete": item_delete, "rm": item_delete}
    if sub not in handlers:
        raise fail(f'unknown command "{sub}" for "op item"')
    return handlers[sub](op, rest)


def item_list(op: Op, args: list[str]) -> int:
    parse(args, [Flag("categories"), Flag("tags"), Flag("favorite", kind="bool"), Flag("include-archive", kind="bool"),
                 Flag("long", kind="bool")], "op")
    data = op.require_signin()
    vaults = [op.vault(data, str(op.flags.get("vault")))] if op.flags.get("vault") else data["vaults"]
    entries = [(v, i) for v in vaults for i in v["items"]]
    rows = [["ID", "TITLE", "VAULT", "EDITED"]] + [[i["id"], i["title"], v["name"], i["updated_at"]]
                                                   for v, i in entries]
    op.out([_item_summary(v, i) for v, i in entries], table(rows))
    return 0


def item_get(op: Op, args: list[str]) -> int:
    opts = parse(args, [Flag("fields", kind="list"), Flag("reveal", kind="bool"), Flag("otp", kind="bool"),
                        Flag("share-link", kind="bool"), Flag("include-archive", kind="bool")], "op")
    if not opts.positionals:
        raise fail("an item is required: op item get <item> [flags]")
    data = op.require_signin()
    vault, item = op.item(data, opts.positionals[0], op.flags.text("vault"))
    wanted = opts.items("fields")
    if not wanted:
        op.out(_item_json(vault, item), _item_human(vault, item, bool(opts.get("reveal"))))
        return 0
    fields = [_field(item, ref.split("=", 1)[-1]) for ref in wanted]
    if op.json:
        chosen = [dict(f, reference=f"op://{vault['name']}/{item['title']}/{f['label']}") for f in fields]
        print(json.dumps(chosen[0] if len(chosen) == 1 else chosen, indent=2))
    else:
        print(",".join(_shown(f, item, bool(opts.get("reveal"))) for f in fields))
    return 0


def _parse_assignment(text: str) -> tuple[str, str, str]:
    """`label=value`, `label[password]=value`, `section.label[text]=value`, `label[delete]`."""
    target, _, value = text.partition("=")
    kind = "text" if "password" not in target.lower() else "password"
    if target.endswith("]") and "[" in target:
        target, _, kind = target[:-1].partition("[")
    label = target.split(".")[-1].replace("\\.", ".")
    return label, kind.lower(), value


def _apply_assignments(item: dict, assignments: list[str]) -> None:
    for text in assignments:
        label, kind, value = _parse_assignment(text)
        if kind == "delete":
            item["fields"] = [f for f in item["fields"] if f["label"] != label]
            continue
        ftype = "CONCEALED" if kind in ("password", "concealed") else "STRING"
        existing = store.find_field(item, label)
        if existing is not None:
            existing.update(value=value, type=ftype if "[" in text.split("=", 1)[0] else existing["type"])
        else:
            item["fields"].append(store.field(label, value, ftype))


def _stdin_template() -> dict:
    try:
        template = json.loads(sys.stdin.read())
    except json.JSONDecodeError as exc:
        raise fail(f"invalid JSON in piped input: {exc.msg}") from None
    if not isinstance(template, dict):
        raise fail("invalid JSON in piped input: expected an item object")
    return template


def _template_fields(template: dict) -> list[dict]:
    fields = []
    for f in template.get("fields") or []:
        label = f.get("label") or f.get("id")
        if not label:
            raise fail("invalid item template: every field needs a label or id")
        fields.append(store.field(label, str(f.get("value", "")), str(f.get("type") or "STRING").upper()))
    return fields


def _category(value: Any) -> str:
    category = CATEGORIES.get(str(value or "").lower()) or (str(value).upper() if value else "")
    if category not in CATEGORIES.values():
        raise fail(f'"{value}" isn\'t a valid category. Use one of: Login, Password, API Credential, '
                   "Secure Note, Server, Database, Document, SSH Key")
    return category


def item_create(op: Op, args: list[str]) -> int:
    opts = parse(args, [Flag("category"), Flag("title"), Flag("template"), Flag("tags"), Flag("url"),
                        Flag("generate-password"), Flag("dry-run", kind="bool")], "op")
    template: dict = {}
    assignments = [a for a in opts.positionals if a != "-"]
    if "-" in opts.positionals or opts.get("template"):
        template = _stdin_template() if "-" in opts.positionals else json.loads(Path(str(opts.get("template"))).read_text())
    op.require_signin()
    vault_ref = op.flags.text("vault") or (template.get("vault") or {}).get("name") or (template.get("vault") or {}).get("id")
    title = opts.get("title") or template.get("title")
    if not title:
        raise fail("an item title is required: use --title or set \"title\" in the template")
    item = store.new_item(str(title), _category(opts.get("category") or template.get("category")),
                          _template_fields(template))
    _apply_assignments(item, assignments)
    with store.editing(op.layout) as live:
        vault = op.vault(live, vault_ref)
        if not opts.get("dry-run"):
            vault["items"].append(item)
    op.out(_item_json(vault, item), _item_human(vault, item, False))
    return 0


def item_edit(op: Op, args: list[str]) -> int:
    opts = parse(args, [Flag("title"), Flag("template"), Flag("tags"), Flag("url"), Flag("dry-run", kind="bool"),
                        Flag("generate-password")], "op")
    refs = [a for a in opts.positionals if a != "-" and "=" not in a and not a.endswith("[delete]")]
    if not refs:
        raise fail("an item is required: op item edit <item> [flags] [assignments]")
    template = _stdin_template() if "-" in opts.positionals else {}
    assignments = [a for a in opts.positionals[1:] if a != "-"]
    op.require_signin()
    with store.editing(op.layout) as live:
        vault, item = op.item(live, refs[0], op.flags.text("vault"))
        for f in _template_fields(template):
            existing = store.find_field(item, f["label"])
            existing.update(value=f["value"], type=f["type"]) if existing else item["fields"].append(f)
        _apply_assignments(item, assignments)
        if opts.get("title") or template.get("title"):
            item["title"] = str(opts.get("title") or template.get("title"))
        item["version"] += 1
        item["updated_at"] = store.now()
    op.out(_item_json(vault, item), _item_human(vault, item, False))
    return 0


def item_delete(op: Op, args: list[str]) -> int:
    opts = parse(args, [Flag("archive", kind="bool")], "op")
    if not opts.positionals:
        raise fail("an item is required: op item delete <item>")
    op.require_signin()
    with store.editing(op.layout) as live:
        vault, item = op.item(live, opts.positionals[0], op.flags.text("vault"))
        vault["items"] = [i for i in vault["items"] if i["id"] != item["id"]]
    return 0


def cmd_read(op: Op, args: list[str]) -> int:
    opts = parse(args, [Flag("out-file", "o"), Flag("no-newline", "n", "bool"), Flag("force", "f", "bool"),
                        Flag("file-mode", default="0600")], "op")
    if not opts.positionals:
        raise fail("a secret reference is required: op read op://<vault>/<item>/<field>")
    reference = opts.positionals[0]
    parts = reference.removeprefix("op://").split("/")
    if not reference.startswith("op://") or len(parts) not in (3, 4):
        raise fail(f"could not read secret '{reference}': invalid secret reference '{reference}': "
                   "expected op://<vault>/<item>/[<section>/]<field>")
    data = op.require_signin()
    try:
        vault, item = op.item(data, parts[1], parts[0])
        value = _field(item, parts[-1])["value"]
    except ToolExit as exc:
        raise fail(f"could not read secret '{reference}': {exc.message.split(' ', 3)[-1]}") from None
    out_file = opts.get("out-file")
    if out_file:
        fd = os.open(str(out_file), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, int(str(opts.get("file-mode")), 8))
        with os.fdopen(fd, "w") as out:
            out.write(value)
        os.chmod(str(out_file), int(str(opts.get("file-mode")), 8))
        print(Path(str(out_file)).resolve())
        return 0
    sys.stdout.write(value if opts.get("no-newline") else value + "\n")
    return 0


COMMANDS = {"whoami": cmd_whoami, "account": cmd_account, "signin": cmd_signin, "signout": cmd_signout,
            "vault": cmd_vault, "item": cmd_item, "read": cmd_read, "document": op_files.cmd_document,
            "inject": op_files.cmd_inject}


def _split_globals(argv: list[str]) -> tuple[Parsed, list[str]]:
    known = {f"--{f.name}": f for f in GLOBAL}
    taken, rest, i = [], [], 0
    while i < len(argv):
        head = argv[i].split("=", 1)[0]
        flag = known.get(head)
        if flag is None:
            rest.append(argv[i])
        else:
            taken.append(argv[i])
            if flag.kind != "bool" and "=" not in argv[i] and i + 1 < len(argv):
                taken.append(argv[i + 1])
                i += 1
        i += 1
    return parse(taken, GLOBAL, "op"), rest


def handle(argv: list[str]) -> int:
    if argv[:1] in (["--version"], ["-v"]):
        print(_version())
        return 0
    flags, rest = _split_globals(argv)
    if not rest or rest[0] in ("-h", "--help", "help"):
        print("1Password CLI (hops lab emulation)\n\nAvailable Commands: " + ", ".join(sorted(COMMANDS)))
        return 0
    command = COMMANDS.get(rest[0])
    if command is None:
        raise fail(f'unknown command "{rest[0]}" for "op"')
    return command(Op(flags), rest[1:])


def main(argv: list[str] | None = None) -> int:
    return run_tool("op", handle, argv)


if __name__ == "__main__":
    raise SystemExit(main())
