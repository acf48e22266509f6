"""Control characters and bytes that are not UTF-8 in the configuration: one message naming the file (line,
column) or the override variable (origin, character index), never a yaml ReaderError traceback."""

from __future__ import annotations

import copy
import os
import random
import subprocess
from pathlib import Path

import pytest
import yaml
from cfg_helpers import BASE, talconfig_for

from hops.config import ConfigError, load_settings
from hops.config.overrides import is_override_variable
from tests import forkserver
from tests.projects import copy_project, doit, lab_env

BOOTSTRAP = "bootstrap-config.yaml"
TALCONFIG = "talconfig.yaml"
# (what is inserted, how the message names it)
BAD_TEXT = [("\x00", "control character U+0000"), ("\x01", "control character U+0001"),
            ("\x1b", "control character U+001B"), ("\x7f", "control character U+007F"),
            ("\x9b", "control character U+009B")]
BAD_BYTES = [(b"\xff", "invalid UTF-8 byte 0xFF"), (b"\xc3(", "invalid UTF-8 byte 0xC3")]
ALL_BAD = [(text.encode(), label) for text, label in BAD_TEXT] + BAD_BYTES
IDS = ["nul", "soh", "esc", "del", "csi", "xff", "truncated-sequence"]


def clean_texts() -> dict[str, str]:
    return {BOOTSTRAP: yaml.safe_dump(BASE, sort_keys=False),
            TALCONFIG: "# talhelper configuration (comment with a non-ASCII é, which is fine)\n"
                       + yaml.safe_dump(talconfig_for(BASE), sort_keys=False)}


def write_project(root: Path, raw: dict[str, bytes] | None = None) -> Path:
    """Both files under root: clean, unless `raw` gives a file's bytes."""
    for name, text in clean_texts().items():
        (root / name).write_bytes((raw or {}).get(name, text.encode()))
    return root


def with_inserted(name: str, needle: str, insert: bytes) -> tuple[bytes, int, int]:
    """The clean file `name` with `insert` after the first `needle`, and the 1-based line/column it lands on."""
    text = clean_texts()[name]
    at = text.index(needle) + len(needle)
    line = text.count("\n", 0, at) + 1
    column = at - (text.rfind("\n", 0, at) + 1) + 1
    return text[:at].encode() + insert + text[at:].encode(), line, column


def problems_of(root: Path, cli_vars: dict[str, str] | None = None, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings(root, cli_vars=cli_vars, env=env or {})
    return [str(p) for p in caught.value.problems]


# --- files ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name,needle", [(BOOTSTRAP, "name: la"), (TALCONFIG, "clusterName: la")],
                         ids=["bootstrap-config", "talconfig"])
@pytest.mark.parametrize("insert,label", ALL_BAD, ids=IDS)
def test_a_bad_character_in_a_file_names_the_file_line_and_column(tmp_path: Path, name: str, needle: str,
                                                                   insert: bytes, label: str) -> None:
    data, line, column = with_inserted(name, needle, insert)
    root = write_project(tmp_path, {name: data})
    problems = problems_of(root)
    assert f"{name}: line {line}, column {column}: {label}" in "\n".join(problems), problems
    assert all("ReaderError" not in p for p in problems)


@pytest.mark.parametrize("name,old,new", [(BOOTSTRAP, "name: lab", 'name: "la\\0b"'),
                                          (TALCONFIG, "clusterName: lab", 'clusterName: "la\\x01b"')],
                         ids=["bootstrap-config", "talconfig"])
def test_a_control_character_written_as_an_escape_is_reported_at_its_value(tmp_path: Path, name: str, old: str,
                                                                           new: str) -> None:
    text = clean_texts()[name].replace(old, new, 1)
    root = write_project(tmp_path, {name: text.encode()})
    quote = text.index(new) + new.index('"')
    line, column = text.count("\n", 0, quote) + 1, quote - text.rfind("\n", 0, quote)
    problems = problems_of(root)
    assert any(p.startswith(f"{name}: line {line}, column {column}: the value holds control character")
               and "at character index 2" in p for p in problems), problems


def test_a_bom_and_non_ascii_text_are_fine(tmp_path: Path) -> None:
    texts = clean_texts()
    root = write_project(tmp_path, {BOOTSTRAP: b"\xef\xbb\xbf" + texts[BOOTSTRAP].encode(),
                                    TALCONFIG: b"\xef\xbb\xbf" + texts[TALCONFIG].encode()})
    assert load_settings(root, env={}).config.cluster.name == "lab"


def test_tabs_and_crlf_line_ends_are_fine(tmp_path: Path) -> None:
    texts = clean_texts()
    root = write_project(tmp_path, {BOOTSTRAP: texts[BOOTSTRAP].replace("\n", "\r\n").encode(),
                                    TALCONFIG: texts[TALCONFIG].replace("# ", "#\t").encode()})
    assert load_settings(root, env={}).config.cluster.name == "lab"


def test_a_utf16_file_is_named_as_such(tmp_path: Path) -> None:
    root = write_project(tmp_path, {BOOTSTRAP: clean_texts()[BOOTSTRAP].encode("utf-16")})
    assert problems_of(root) == [f"{BOOTSTRAP}: line 1, column 1: the file is UTF-16 (it starts with a UTF-16 byte "
                                 "order mark); save it as UTF-8"]


# --- override variables -----------------------------------------------------------------------------------------

VARIABLE_CASES = [(text, label) for text, label in BAD_TEXT] + [("\udcff", "invalid UTF-8 byte 0xFF")]
VARIABLE_IDS = ["nul", "soh", "esc", "del", "csi", "xff"]


@pytest.mark.parametrize("char,label", VARIABLE_CASES, ids=VARIABLE_IDS)
@pytest.mark.parametrize("origin", ["command line", "environment"])
def test_a_bad_character_in_an_override_names_the_variable_origin_and_index(tmp_path: Path, char: str, label: str,
                                                                            origin: str) -> None:
    values = {"CLUSTER_NAME": f"la{char}b"}
    cli, env = (values, None) if origin == "command line" else (None, values)
    problems = problems_of(write_project(tmp_path), cli_vars=cli, env=env)
    assert problems == [f"{origin} variable CLUSTER_NAME: {label} at character index 2 (counting from 0) is not "
                        "allowed; retype it as plain UTF-8 text without control characters (it sets "
                        f"{BOOTSTRAP} cluster.name)"]


@pytest.mark.parametrize("value", ["lab2\n", "  lab2\t"], ids=["trailing-newline", "surrounding-blanks"])
def test_blanks_around_an_override_are_dropped_not_reported(tmp_path: Path, value: str) -> None:
    config = copy.deepcopy(BASE)
    config["cluster"]["name"] = "lab2"
    root = write_project(tmp_path)
    (root / BOOTSTRAP).write_text(yaml.safe_dump(config))
    (root / TALCONFIG).write_text(yaml.safe_dump(talconfig_for(config)))
    assert load_settings(root, cli_vars={"CLUSTER_NAME": value}, env={}).config.cluster.name == "lab2"


def test_the_index_counts_stripped_leading_blanks(tmp_path: Path) -> None:
    problems = problems_of(write_project(tmp_path), cli_vars={"OP_VAULT": "  va\x1bult"})
    assert "U+001B at character index 4" in problems[0], problems


def test_a_control_character_hidden_by_str_strip_is_still_reported(tmp_path: Path) -> None:
    """U+001F is whitespace to str.strip(); at the end of a value it must still be reported, not dropped."""
    problems = problems_of(write_project(tmp_path), env={"OP_VAULT": "vault\x1f"})
    assert "environment variable OP_VAULT: control character U+001F at character index 5" in problems[0]


def test_a_line_break_inside_an_override_is_refused(tmp_path: Path) -> None:
    """Substituted into talconfig.yaml it would add a YAML line."""
    problems = problems_of(write_project(tmp_path), cli_vars={"CLUSTER_NAME": "lab\nendpoint: https://x"})
    assert "control character U+000A at character index 3" in problems[0], problems


def test_a_bad_environment_variable_used_by_talconfig_names_the_variable(tmp_path: Path) -> None:
    text = clean_texts()[TALCONFIG] + "domain: ${LAB_DOMAIN:-cluster.local}\n"
    root = write_project(tmp_path, {TALCONFIG: text.encode()})
    line = text.count("\n")
    problems = problems_of(root, env={"LAB_DOMAIN": "clu\x01ster.local"})
    assert problems == [f"{TALCONFIG}: line {line}, column 9: ${{LAB_DOMAIN}}: the environment variable LAB_DOMAIN "
                        "cannot be substituted: control character U+0001 at character index 3 (counting from 0) is "
                        "not allowed; retype it as plain UTF-8 text without control characters"]


def test_a_bad_environment_variable_talconfig_does_not_use_is_ignored(tmp_path: Path) -> None:
    assert load_settings(write_project(tmp_path), env={"UNRELATED": "a\x01b"}).config.cluster.name == "lab"


# --- the real CLI and a real doit -------------------------------------------------------------------------------

def run_check(root: Path, *args: bytes, env_extra: dict[str, bytes] | None = None) -> subprocess.CompletedProcess:
    env: dict[str, str | bytes] = {k: v for k, v in os.environ.items() if not is_override_variable(k)}
    env.update(env_extra or {})
    result = forkserver.run_module("hops.config", ["check", "--root", str(root), *args], env=env, timeout=60,
                                   text=False)
    return subprocess.CompletedProcess(result.args, result.returncode, result.stdout.decode(errors="replace"),
                                       result.stderr.decode(errors="replace"))


@pytest.mark.parametrize("value,label", [(b"la\x01b", "control character U+0001"),
                                         (b"la\x1bb", "control character U+001B"),
                                         (b"la\xffb", "invalid UTF-8 byte 0xFF")], ids=["soh", "esc", "xff"])
@pytest.mark.parametrize("origin", ["command line", "environment"])
def test_cli_check_reports_a_bad_override_without_traceback(tmp_path: Path, value: bytes, label: str,
                                                            origin: str) -> None:
    root = write_project(tmp_path)
    if origin == "command line":
        result = run_check(root, b"CLUSTER_NAME=" + value)
    else:
        result = run_check(root, env_extra={"CLUSTER_NAME": value})
    assert result.returncode == 1
    assert f"{origin} variable CLUSTER_NAME: {label} at character index 2" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and "\x1b" not in result.stderr


@pytest.mark.parametrize("name", [BOOTSTRAP, TALCONFIG])
@pytest.mark.parametrize("insert,label", ALL_BAD, ids=IDS)
def test_cli_check_reports_a_bad_file_without_traceback(tmp_path: Path, name: str, insert: bytes,
                                                        label: str) -> None:
    data, line, _ = with_inserted(name, "nodes:\n", b"  " + insert + b"\n")
    root = write_project(tmp_path, {name: data})
    result = run_check(root)
    assert result.returncode == 1
    assert f"  {name}: line {line}, column 3: {label}" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("where", ["command line", "environment", "file"])
def test_doit_reports_the_bad_character_without_traceback(tmp_path: Path, where: str) -> None:
    project = copy_project(tmp_path)
    env = lab_env(tmp_path)
    args = ["bootstrap_validate"]
    if where == "command line":
        args.append("CLUSTER_NAME=home\x01ops")
        expected = "command line variable CLUSTER_NAME: control character U+0001 at character index 4"
    elif where == "environment":
        env["OP_VAULT"] = "home\x1blab"
        expected = "environment variable OP_VAULT: control character U+001B at character index 4"
    else:
        config = project / BOOTSTRAP
        config.write_bytes(config.read_bytes().replace(b"name: home-ops", b"name: home\x00ops", 1))
        data = config.read_bytes()
        nul = data.index(b"\x00")
        line, column = data.count(b"\n", 0, nul) + 1, nul - data.rfind(b"\n", 0, nul)
        expected = f"{BOOTSTRAP}: line {line}, column {column}: control character U+0000 is not allowed"
    result = doit(project, *args, env=env)
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"bootstrap_validate: invalid configuration:\n{expected}" in out, out
    assert "Traceback" not in out and "ReaderError" not in out, out


# --- fuzz: random bad characters anywhere never end in another exception -----------------------------------------

FUZZ_CASES = 300
FUZZ_INSERTS = [bytes([b]) for b in range(0x20) if b not in (0x09, 0x0A, 0x0D)] + \
    [b"\x7f", b"\xc2\x85", b"\xc2\x9b", b"\xef\xbb\xbf", b"\xef\xbf\xbe", b"\xff", b"\xfe", b"\x80", b"\xc3",
     b"\xed\xa0\x80", b"\\0", b"\\x01", b'"', b"'", b":", b"\t", b"\r", b"\n", b"${", b"}", b"\xe2\x80\xa8"]


def test_fuzz_bad_characters_give_config_error_or_success(tmp_path: Path) -> None:
    rng = random.Random(20261202)
    clean = {name: text.encode() for name, text in clean_texts().items()}
    for case in range(FUZZ_CASES):
        name = rng.choice([BOOTSTRAP, TALCONFIG])
        data = clean[name]
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(data) + 1)
            data = data[:at] + rng.choice(FUZZ_INSERTS) + data[at:]
        root = tmp_path / str(case)
        root.mkdir()
        write_project(root, {name: data})
        variables = {"CLUSTER_NAME": "lab" + rng.choice(["", "\x01", "\udcfe", "\n", " "])}
        try:
            load_settings(root, cli_vars=variables if rng.random() < 0.5 else None, env={})
        except ConfigError as error:
            message = str(error)
            assert error.problems and message, (case, data)
            # a message never echoes a raw control character (an ESC would drive the user's terminal)
            assert not any(ord(c) < 0x20 and c != "\n" or 0x7f <= ord(c) < 0xa0 for c in message), (case, message)
