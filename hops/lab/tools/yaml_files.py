"""The YAML files an emulated tool reads on every call (talosctl's talosconfig, the kubeconfig of flux and cilium),
parsed once per content.

Importing PyYAML costs ~25 ms (its resolver and reader compile regular expressions), a fifth of an emulated
tool's whole call; a real talosctl or flux is a Go binary that starts in a few milliseconds, so that cost is the
lab's and not hops's. A parsed file is kept as JSON under `<lab>/cache/yaml/` (mode 0600: a kubeconfig holds a
client key) with the file's stat; the next call whose file has the same stat reads the JSON. A document JSON
cannot hold as it is (dates, non-string keys) is not kept."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote


class YamlFileError(ValueError):
    """The file is not valid YAML; the message is PyYAML's."""


def load(path: Path, cache: Path | None = None) -> Any:
    """The document in `path` (FileNotFoundError when it is missing; YamlFileError); `cache`: the folder for parsed
    copies (default: the lab's, from HOPS_LAB_DIR, which the lab's tools always get; none outside the lab)."""
    if cache is None and os.environ.get("HOPS_LAB_DIR"):
        cache = Path(os.environ["HOPS_LAB_DIR"]) / "cache" / "yaml"
    stat = path.stat()
    stamp = [stat.st_mtime_ns, stat.st_size, stat.st_ino]
    # named after the path (its tail when long: the stamp, inode included, tells two files apart anyway)
    kept = cache / f"{quote(str(path.absolute()), safe='')[-200:]}.json" if cache else None
    if kept is not None:
        try:
            saved = json.loads(kept.read_text())
            if saved["stamp"] == stamp:
                return saved["doc"]
        except (OSError, ValueError, KeyError, TypeError):
            pass
    doc = _parse(path.read_text())
    if kept is not None:
        _keep(kept, stamp, doc)
    return doc


def _parse(text: str) -> Any:
    import yaml

    try:
        return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        raise YamlFileError(str(exc)) from None


def _keep(kept: Path, stamp: list[int], doc: Any) -> None:
    try:
        text = json.dumps({"stamp": stamp, "doc": doc})
        if json.loads(text)["doc"] != doc:
            return  # e.g. an int key would come back as a string
    except (TypeError, ValueError):
        return      # a date, bytes, ...
    try:
        kept.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        partial = kept.with_name(f"{kept.name}.{os.getpid()}")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(partial, kept)
    except OSError:
        pass  # a cache: the next call parses again
