"""Validated settings kept between processes, keyed by everything that decides them.

Reading the configuration costs every hops command ~0.2 s (pydantic building its validators, YAML, the cross-checks)
and most commands read the same two files as the one before. A cached copy is used only when every input is the
same: the bytes of both files, the project root and the selected cluster's folder, the command-line variables,
the environment variables the load reads (override variables, the cluster variable and every ${VAR} talconfig.yaml
names), the step names hooks may refer to, and the code that validates (hops.config's files, pydantic's, Python's
version). A configuration with problems is never cached: it is reported afresh each time. A copy holds the models as plain
records (hops.config.snapshot), so reading it back imports no pydantic.

The copies live under $XDG_CACHE_HOME/hops/settings (~/.cache/hops/settings; HOPS_CONFIG_CACHE=<folder> elsewhere,
=0 off), private to the user (0700/0600); they hold the configuration files' values (addresses, names, 1Password
references), never a value read from 1Password.
"""

from __future__ import annotations

import hashlib
import importlib.util
import pickle
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from hops import user_cache
from hops.config.errors import BOOTSTRAP_FILE, TALCONFIG_FILE

if TYPE_CHECKING:
    from hops.config.load import Settings

CACHE_ENV = "HOPS_CONFIG_CACHE"
KEEP = 32   # copies kept; the oldest go when a new one is written
_REFERENCE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")
_CODE_DIR = Path(__file__).resolve().parent


def folder() -> Path | None:
    """Where the copies are kept: HOPS_CONFIG_CACHE=<folder>, else ~/.cache/hops/settings (=0: off)."""
    return user_cache.folder(CACHE_ENV, "settings")


def key(root: Path, config_dir: Path, cli_vars: Mapping[str, str] | None, env: Mapping[str, str],
        step_ids: tuple[str, ...] | None) -> str | None:
    """The cache key of one load, or None when a file cannot be read (the load then reports it)."""
    from hops.clusters import CLUSTER_ENV
    from hops.config.overrides import is_override_variable

    digest = hashlib.sha256()
    texts: list[bytes] = []
    for name in (BOOTSTRAP_FILE, TALCONFIG_FILE):
        try:
            texts.append((config_dir / name).read_bytes())
        except OSError:
            return None
    referenced = set(_REFERENCE.findall(texts[1].decode("utf-8", "replace")))
    variables = sorted((name, value) for name, value in env.items()
                       if is_override_variable(name) or name == CLUSTER_ENV or name in referenced)
    # the paths as given too: Settings keeps them, and a relative root means another folder from another cwd
    described = (str(root), str(root.resolve()), str(config_dir), str(config_dir.resolve()),
                 repr(sorted((cli_vars or {}).items())), repr(variables), repr(step_ids), _code_version())
    for data in (*texts, *(text.encode() for text in described)):
        digest.update(len(data).to_bytes(8, "little") + data)   # length-prefixed: no two inputs read alike
    return digest.hexdigest()


def _code_version() -> str:
    """Changes when the validating code does: hops.config's files and hops.clusters (size and mtime), pydantic's
    installed package, Python itself."""
    paths = [*sorted(_CODE_DIR.glob("*.py")), _CODE_DIR.parent / "clusters.py"]
    for module in ("pydantic", "pydantic_core"):
        spec = importlib.util.find_spec(module)
        if spec is not None and spec.origin:
            paths.append(Path(spec.origin))
    stamps = []
    for path in paths:
        try:
            stat = path.stat()
        except OSError:
            continue
        stamps.append(f"{path}:{stat.st_size}:{stat.st_mtime_ns}")
    return sys.version + "\n" + "\n".join(stamps)


def read(cache_key: str | None, expected: type[Settings]) -> Settings | None:
    """The cached settings for the key, or None (no copy, turned off, or a copy that no longer loads as an
    `expected`: the Settings class, passed in because hops.config.load imports this module)."""
    where = folder()
    if cache_key is None or where is None:
        return None
    path = where / f"{cache_key}.pickle"
    try:
        data = path.read_bytes()
    except OSError:
        return None
    try:
        settings = pickle.loads(data)
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError, ValueError, IndexError):
        # a copy written by other code (another hops, another pydantic): a miss, written again after the load
        return None
    return settings if isinstance(settings, expected) else None


def write(cache_key: str | None, settings: Settings) -> None:
    """Keep a copy (best effort: a cache that cannot be written changes nothing but speed)."""
    where = folder()
    if cache_key is None or where is None:
        return
    user_cache.keep(where, f"{cache_key}.pickle", pickle.dumps(settings, protocol=pickle.HIGHEST_PROTOCOL), KEEP)
