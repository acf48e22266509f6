"""An answer computed from folders of the repository, kept between processes while nothing it read changed.

Phase 1's manifest check parses every YAML file Flux will apply (with 200 apps, 200 folders: a quarter of a
no-op). The answer is kept with a stamp of each folder and file under the folders it read (a folder's
modification time changes when an entry is added, removed or renamed; a file's size and modification time when
it is written), with whether each folder it was told about exists, and with the stamp of the code that
computed it; a process whose stamps are all equal takes the kept answer. Walking the folders costs a stat per
entry, not a parse per file.

The copies live in ~/.cache/hops/trees (HOPS_TREE_CACHE=<folder> elsewhere, =0 off): file paths and the
answer (problem lines naming files and fields), nothing read from 1Password.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hops import user_cache

CACHE_ENV = "HOPS_TREE_CACHE"
KEEP = 32


@dataclass(frozen=True)
class Computed:
    """An answer and what it depended on: the folders whose trees it read, and folders it was told about
    (they may appear later)."""

    answer: Any
    folders: list[Path]
    mentioned: list[Path]


def answer(name: str, key: Iterable[str], code: Iterable[Path], compute: Callable[[], Computed]) -> Any:
    """compute().answer, or the kept one when every stamp is the same (`code`: the modules computing it)."""
    where = user_cache.folder(CACHE_ENV, "trees")
    if where is None:
        return compute().answer
    path = where / f"{hashlib.sha256(repr((name, *key)).encode()).hexdigest()[:32]}.json"
    code_stamps = {str(p): user_cache.stamp(p) for p in code}
    kept = _read(path)
    if kept is not None and kept.get("code") == code_stamps and _still(kept):
        return kept["answer"]
    started = time.time_ns()
    computed = compute()
    seen = stamps(computed.folders)
    if all(stamp[-1] < started for stamp in seen.values() if stamp):  # else a file changed while it was read
        _write(where, path, {"code": code_stamps, "folders": [str(f) for f in computed.folders],
                             "mentioned": {str(f): f.is_dir() for f in computed.mentioned},
                             "stamps": seen, "answer": computed.answer})
    return computed.answer


def stamps(folders: Iterable[Path]) -> dict[str, list[int] | None]:
    """Every folder and file under `folders`: [modification time] of a folder, [size, modification time] of a
    file (a missing folder: no entry; a file gone meanwhile: None). One scandir per folder and one stat per
    entry; a symlinked folder is stamped, not entered (as os.walk does not enter it)."""
    out: dict[str, list[int] | None] = {}
    pending: list[tuple[str, int]] = []
    for top in folders:
        try:
            pending.append((os.fspath(top), os.stat(top).st_mtime_ns))
        except OSError:
            continue
    while pending:
        folder, mtime = pending.pop()
        out[folder] = [mtime]
        try:
            entries = os.scandir(folder)
        except OSError:
            continue
        with entries:
            for entry in entries:
                try:
                    stat = entry.stat()
                except OSError:
                    out[entry.path] = None
                    continue
                if entry.is_dir(follow_symlinks=False):
                    pending.append((entry.path, stat.st_mtime_ns))
                else:
                    out[entry.path] = [stat.st_size, stat.st_mtime_ns]
    return out


def _still(kept: dict[str, Any]) -> bool:
    mentioned_same = all(Path(f).is_dir() == exists for f, exists in kept["mentioned"].items())
    return mentioned_same and stamps(Path(f) for f in kept["folders"]) == kept["stamps"]


def _read(path: Path) -> dict[str, Any] | None:
    try:
        kept = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return kept if isinstance(kept, dict) and {"code", "folders", "mentioned", "stamps", "answer"} <= set(kept) \
        else None


def _write(where: Path, path: Path, record: dict[str, Any]) -> None:
    user_cache.keep(where, path.name, json.dumps(record).encode(), KEEP)
