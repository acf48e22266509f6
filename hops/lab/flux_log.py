"""The log the lab's Flux controllers keep (`<lab>/flux/controllers.jsonl`), read by `flux logs`.

One JSON object per line, in the fields the real controllers log: level, ts, msg, controller, and the object
(kind, name, namespace)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

from hops.lab.layout import LabLayout

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s)")
_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def path(layout: LabLayout) -> Path:
    return layout.root / "flux" / "controllers.jsonl"


def write(layout: LabLayout, controller: str, level: str, kind: str, namespace: str, name: str, msg: str) -> None:
    entry = {"level": level, "ts": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
             "msg": msg, "controller": controller, "kind": kind, "name": name, "namespace": namespace}
    target = path(layout)
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "a") as out:
        out.write(json.dumps(entry) + "\n")


def read(layout: LabLayout) -> list[dict]:
    try:
        lines = path(layout).read_text().splitlines()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in lines if line.strip()]


def parse_duration(text: str | None, default: float) -> float:
    """Go duration text ("5m", "1h30m", "10m0s") in seconds."""
    if not text:
        return default
    parts = _DURATION.findall(str(text))
    if not parts:
        return default
    return sum(float(n) * _UNITS[u] for n, u in parts)


def format_duration(seconds: float) -> str:
    """Seconds as Go prints a duration: 5m0s, 1h0m0s, 30s."""
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"
