"""What an emulated tool's call costs before it does anything: hops.lab.tools.yaml_files (the files read on every
call, parsed once per content; what flux/cilium say about a kubeconfig that is not YAML, in client-go's words) and
the launchers in <lab>/bin (no `site`, the environment's sitecustomize kept)."""

from __future__ import annotations

import datetime
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from hops.lab.tools import yaml_files


def _kept(cache: Path) -> list[Path]:
    return sorted(cache.glob("*.json")) if cache.exists() else []


def test_a_file_is_parsed_once_and_read_back_from_the_private_copy(tmp_path: Path) -> None:
    cache, config = tmp_path / "cache", tmp_path / "talosconfig"
    config.write_text("context: home\ncontexts:\n  home: {endpoints: [127.0.0.1]}\n")
    assert yaml_files.load(config, cache) == {"context": "home", "contexts": {"home": {"endpoints": ["127.0.0.1"]}}}
    [kept] = _kept(cache)
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600  # a kubeconfig holds a client key
    text = kept.read_text().replace('"home"', '"from-the-copy"', 1)
    kept.write_text(text)  # proves the next read comes from the copy, not from a new parse
    assert yaml_files.load(config, cache)["context"] == "from-the-copy"


def test_a_changed_file_is_parsed_again(tmp_path: Path) -> None:
    cache, config = tmp_path / "cache", tmp_path / "kubeconfig"
    config.write_text("current-context: a\n")
    assert yaml_files.load(config, cache) == {"current-context": "a"}
    config.write_text("current-context: bb\n")
    os.utime(config, ns=(config.stat().st_atime_ns, config.stat().st_mtime_ns + 1_000_000))
    assert yaml_files.load(config, cache) == {"current-context": "bb"}


def test_a_document_json_cannot_hold_is_parsed_every_time_and_not_kept(tmp_path: Path) -> None:
    cache, config = tmp_path / "cache", tmp_path / "odd.yaml"
    config.write_text("1: one\nwhen: 2024-01-02\n")
    assert yaml_files.load(config, cache) == {1: "one", "when": datetime.date(2024, 1, 2)}
    assert _kept(cache) == []


def test_bad_yaml_and_a_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.write_text("clusters: [\n")
    with pytest.raises(yaml_files.YamlFileError, match="while parsing"):
        yaml_files.load(bad, tmp_path / "cache")
    with pytest.raises(FileNotFoundError):
        yaml_files.load(tmp_path / "absent", tmp_path / "cache")


def test_flux_names_a_kubeconfig_it_cannot_parse_without_a_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "kubeconfig"
    bad.write_text("apiVersion: v1\nclusters: [\n")
    env = {**os.environ, "KUBECONFIG": str(bad), "HOPS_LAB_DIR": str(tmp_path / "lab")}
    done = subprocess.run([sys.executable, "-c", "import sys; from hops.lab.tools.flux import main; "
                           "sys.argv = ['flux', 'check', '--pre']; sys.exit(main())"],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert f'error loading config file "{bad}": yaml: while parsing' in done.stderr
    assert "Traceback" not in done.stderr


def test_a_lab_launcher_starts_without_site_and_keeps_the_environment_s_sitecustomize(tmp_path: Path) -> None:
    from hops.lab.tools.common import launcher_script

    (tmp_path / "custom").mkdir()
    (tmp_path / "custom" / "sitecustomize.py").write_text("LOADED = True\n")
    script = tmp_path / "tool"
    script.write_text(launcher_script("import sitecustomize, yaml\n"
                                      "print(sys.flags.no_site, sitecustomize.LOADED, 'hops' in sys.modules)\n"
                                      "import hops.lab.tools.common\nprint('ok')\n"))
    script.chmod(0o755)
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "custom")}
    done = subprocess.run([str(script)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "True", "False", "ok"]  # no site; hops and PyYAML found all the same
