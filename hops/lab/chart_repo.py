"""The lab's chart repository on 127.0.0.1: real Helm charts built from the chart catalog (hops.lab.charts).

Every upstream repository the catalog knows (e.g. https://helm.cilium.io) is served at
`<base>/repos/<host><path>` (e.g. http://127.0.0.1:PORT/repos/helm.cilium.io) with an `index.yaml` and one
archive per chart version: the catalog's version (the newest) and the two releases before it.

A chart is Chart.yaml, values.yaml and one template per object the catalog's renderer creates, so a real helm
installs the same Deployments, DaemonSets, Services and CRDs as the emulated one. The templates are the rendered
objects (as JSON, which is YAML) with the release name and namespace, and the chart's values, put back as template
expressions: every scalar, list or empty map among the values is rendered as a unique sentinel and the sentinel's
places become `{{ .Values.x }}`; every boolean is flipped once, and what changes becomes a condition (objects that
come and go) or a boolean expression (a field that follows it). Not followed: a value that decides by membership
or arithmetic (flux2's `extraComponents` list picks controllers): there the chart renders what its default gives."""

from __future__ import annotations

import copy
import dataclasses
import gzip
import hashlib
import io
import json
import re
import tarfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlparse

import yaml

from hops.lab import charts

PREFIX = "/repos/"
CREATED = "2024-11-01T00:00:00Z"   # fixed: the archives and the index are the same bytes on every start
NAMESPACE = "zznamespacezz"
LOCAL_URL = re.compile(r"^http://127\.0\.0\.1:\d+/repos/(?P<upstream>[^?#]+?)/?$")

Path_ = tuple[str, ...]


# --- URLs -----------------------------------------------------------------------------------------------------
def slug(upstream: str) -> str:
    """`https://1password.github.io/connect-helm-charts/` → `1password.github.io/connect-helm-charts`."""
    url = urlparse(upstream.strip())
    return f"{url.netloc}{url.path}".rstrip("/")


def local_url(base: str, upstream: str) -> str:
    """Where the lab serves the repository `upstream`."""
    return f"{base.rstrip('/')}{PREFIX}{slug(upstream)}"


def upstream_url(url: str) -> str:
    """The upstream repository a lab repository URL stands for (any other URL unchanged): the emulated helm
    resolves charts by their upstream repository."""
    match = LOCAL_URL.match(url.strip())
    return f"https://{match.group('upstream')}" if match else url


# --- versions -------------------------------------------------------------------------------------------------
def versions(chart: charts.Chart) -> list[charts.Chart]:
    """Two earlier releases of the chart and the catalog's own, which is the newest (a helm without --version
    takes the newest, as the emulated one takes the catalog's); the app version moves along when the chart's
    version is its app version."""
    numbers = [tuple(int(p) for p in chart.version.lstrip("v").split(".")[:3])]
    for _ in range(2):
        major, minor, patch = numbers[0]
        numbers.insert(0, (major, minor, patch - 1) if patch else (major, minor - 1, 0) if minor else (major - 1, 0, 0))
    out = []
    for version in (".".join(map(str, n)) for n in numbers):
        app = chart.app_version
        if app.lstrip("v") == chart.version.lstrip("v"):
            app = ("v" if app.startswith("v") else "") + version
        out.append(dataclasses.replace(chart, version=version, app_version=app))
    return out


# --- the values a renderer reads ------------------------------------------------------------------------------
_recording = threading.local()
_patch_lock = threading.Lock()


@contextmanager
def _recorded_gets() -> Iterator[dict[str, Any]]:
    """The dotted paths (and their defaults) the catalog's renderers look up with charts._get, in this thread.
    Other threads (the lab's Flux emulation renders too) pass straight through."""
    original = charts._get
    seen: dict[str, Any] = {}

    def recorder(values: dict, dotted: str, default: Any = None) -> Any:
        if getattr(_recording, "seen", None) is not None:
            _recording.seen.setdefault(dotted, default)
        return original(values, dotted, default)

    with _patch_lock:
        charts._get = recorder
        _recording.seen = seen
        try:
            yield seen
        finally:
            _recording.seen = None
            charts._get = original


def _tree(dotted: dict[str, Any]) -> dict:
    out: dict = {}
    for path, value in dotted.items():
        if value is None:
            continue
        node = out
        *parents, last = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                break
        else:
            node.setdefault(last, value)
    return out


def chart_values(chart: charts.Chart) -> dict:
    """The chart's values.yaml: its catalog defaults plus every value its renderer reads (with the renderer's
    own default), found by rendering with the defaults and with each boolean flipped."""
    with _recorded_gets() as seen:
        _render(chart, chart.defaults)
        for path, value in _leaves(chart.defaults):
            if isinstance(value, bool):
                _render(chart, _set(chart.defaults, path, not value))
    return charts.deep_merge(_tree(seen), chart.defaults)


def _leaves(tree: dict, prefix: Path_ = ()) -> list[tuple[Path_, Any]]:
    out: list[tuple[Path_, Any]] = []
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            out += _leaves(value, (*prefix, key))
        else:
            out.append(((*prefix, key), value))
    return out


def _set(tree: dict, path: Path_, value: Any) -> dict:
    out = copy.deepcopy(tree)
    node = out
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return out


def _render(chart: charts.Chart, values: dict, release: str | None = None) -> list[dict]:
    assert chart.render is not None
    return chart.render(release or _release(chart), NAMESPACE, values, chart)


def _release(chart: charts.Chart) -> str:
    # holds the chart's name: renderers name objects after the release when it contains the chart's name
    return f"zz{chart.name}zz"


# --- templates ------------------------------------------------------------------------------------------------
def _ref(path: Path_) -> str:
    if all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", p) for p in path):
        return ".Values." + ".".join(path)
    return "(index .Values " + " ".join(json.dumps(p) for p in path) + ")"


@dataclass
class _Sentinels:
    """Unique stand-ins for the chart's values, and what each becomes in a template."""

    values: dict
    replacements: list[tuple[re.Pattern, str]] = field(default_factory=list)

    @classmethod
    def of(cls, values: dict) -> _Sentinels:
        out = cls(copy.deepcopy(values))
        for i, (path, value) in enumerate(_leaves(values)):
            out._add(i, path, value)
        return out

    def _add(self, i: int, path: Path_, value: Any) -> None:
        ref = _ref(path)
        if isinstance(value, bool) or value is None:
            return
        if isinstance(value, int):
            number = 987650000 + i
            self.values = _set(self.values, path, number)
            self._sub(rf'"{number}"', f"{{{{ {ref} | toString | toJson }}}}")
            self._sub(rf"(?<![\d.]){number}(?![\d.])", f"{{{{ {ref} }}}}")
        elif isinstance(value, str):
            token = f"zzv{i}zz"
            self.values = _set(self.values, path, token)
            self._sub(rf'"{token}"', f"{{{{ {ref} | toString | toJson }}}}")
            self._sub(token, f"{{{{ {ref} }}}}")
        elif isinstance(value, (list, dict)):
            token = f"zzc{i}zz"
            standin: Any = [token] if isinstance(value, list) else {token: token}
            self.values = _set(self.values, path, standin)
            pattern = rf'\[\s*"{token}"\s*\]' if isinstance(value, list) else rf'\{{\s*"{token}":\s*"{token}"\s*\}}'
            self._sub(pattern, f"{{{{ {ref} | toJson }}}}")

    def _sub(self, pattern: str, template: str) -> None:
        self.replacements.append((re.compile(pattern), template.replace("\\", "\\\\")))

    def apply(self, text: str) -> str:
        for pattern, template in self.replacements:
            text = pattern.sub(template, text)
        return text


def _key(obj: dict) -> tuple[str, str, str]:
    meta = obj.get("metadata") or {}
    return obj.get("kind", ""), meta.get("namespace", ""), meta.get("name", "")


def _diff(a: Any, b: Any, path: tuple = ()) -> list[tuple[tuple, Any, Any]]:
    """Leaf paths (dict keys and list indexes) where two renderings of an object differ."""
    if isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys():
        return [d for k in a for d in _diff(a[k], b[k], (*path, k))]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in _diff(x, y, (*path, i))]
    return [] if a == b else [(path, a, b)]


def _put(obj: Any, path: tuple, value: Any) -> None:
    for part in path[:-1]:
        obj = obj[part]
    obj[path[-1]] = value


@dataclass
class _Template:
    obj: dict
    flags: dict[Path_, bool] = field(default_factory=dict)   # the flags away from their default where it was seen
    conditions: list[str] = field(default_factory=list)


def _is_true(path: Path_) -> str:
    return f'(eq (toString {_ref(path)}) "true")'


def _when(path: Path_, value: bool) -> str:
    return _is_true(path) if value else f"(not {_is_true(path)})"


def templates(chart: charts.Chart, values: dict) -> dict[str, str]:
    """templates/<file>.yaml → text for `chart` whose values.yaml is `values`. A renderer that names objects
    differently when the release's name holds the chart's (`podinfo` vs `<release>-podinfo`) gets both sets, each
    under its condition, as a chart's fullname helper does."""
    holding = _templates(chart, values, _release(chart))
    plain = _templates(chart, values, "zzreleasezz")
    if holding == plain:
        return holding
    holds = f"(contains {json.dumps(chart.name)} .Release.Name)"
    out = {name: f"{{{{- if {holds} }}}}\n{text}{{{{- end }}}}\n" for name, text in holding.items()}
    out.update({name.replace("templates/", "templates/other-"): f"{{{{- if not {holds} }}}}\n{text}{{{{- end }}}}\n"
                for name, text in plain.items()})
    return out


def _templates(chart: charts.Chart, values: dict, release: str) -> dict[str, str]:
    sentinels = _Sentinels.of(values)
    base = {_key(o): _Template(o) for o in _render(chart, sentinels.values, release)}
    flags: dict[str, str] = {}      # sentinel token → boolean expression
    for number, (path, default) in enumerate(_leaves(values)):
        if isinstance(default, bool):
            _fold_flag(chart, sentinels, base, path, default, number, flags, release)
    out = {}
    for i, (key, template) in enumerate(sorted(base.items())):
        text = json.dumps(template.obj, indent=1, sort_keys=False)
        for token, expression in flags.items():
            text = text.replace(json.dumps(token), expression)
        text = sentinels.apply(text).replace(release, "{{ .Release.Name }}")
        text = text.replace(NAMESPACE, "{{ .Release.Namespace }}")
        for condition in template.conditions:
            text = f"{{{{- if {condition} }}}}\n{text}\n{{{{- end }}}}"
        name = re.sub("[^a-z0-9.-]", "-", key[2].replace(release, "release").lower())
        out[f"templates/{i:03d}-{key[0].lower()}-{name}.yaml"] = text + "\n"
    return out


def _fold_flag(chart: charts.Chart, sentinels: _Sentinels, base: dict[tuple, _Template], path: Path_,
               default: bool, number: int, flags: dict[str, str], release: str) -> None:
    """Flip boolean `path` (where each object was seen, with the flags it needed): objects that vanish or appear
    get a condition, fields that follow it an expression."""
    groups: dict[tuple, list[tuple[tuple, _Template]]] = {}
    for key, template in base.items():
        groups.setdefault(tuple(sorted(template.flags.items())), []).append((key, template))
    for assignment, members in groups.items():
        values = sentinels.values
        for flag, value in assignment:
            values = _set(values, flag, value)
        flipped = {_key(o): o for o in _render(chart, _set(values, path, not default), release)}
        for key, template in members:
            if key not in flipped:
                template.conditions.append(_when(path, default))
                continue
            _follow(template, flipped[key], path, default, f"zzb{number}x{len(flags)}", flags)
        for key, obj in flipped.items():
            if key not in base:
                seen_with = {**dict(assignment), path: not default}
                base[key] = _Template(obj, seen_with, [_when(flag, value) for flag, value in seen_with.items()])


def _follow(template: _Template, flipped: dict, path: Path_, default: bool, prefix: str,
            flags: dict[str, str]) -> None:
    """Fields of one object that are the flag (or its negation), as a boolean or as "true"/"false"."""
    for index, (where, ours, theirs) in enumerate(_diff(template.obj, flipped)):
        if isinstance(ours, bool) and isinstance(theirs, bool):
            same = ours == default
        elif {ours, theirs} == {"true", "false"}:
            same = (ours == "true") == default
        else:
            continue        # a field that depends on the flag in another way keeps its default rendering
        token = f"{prefix}x{index}zz"
        expression = _when(path, same)
        flags[token] = (f"{{{{ {expression} | toJson }}}}" if isinstance(ours, bool)
                        else f'{{{{ ternary "true" "false" {expression} | toJson }}}}')
        _put(template.obj, where, token)


# --- archives and the index -----------------------------------------------------------------------------------
def chart_yaml(chart: charts.Chart) -> str:
    return yaml.safe_dump({"apiVersion": "v2", "name": chart.name, "version": chart.version,
                           "appVersion": chart.app_version, "description": chart.description,
                           "type": "application"}, sort_keys=False)


def archive(chart: charts.Chart) -> bytes:
    """`<name>-<version>.tgz`, as `helm package` lays it out (deterministic bytes)."""
    values = chart_values(chart)
    files = {"Chart.yaml": chart_yaml(chart), "values.yaml": yaml.safe_dump(values, sort_keys=False),
             **templates(chart, values)}
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{chart.name}/{name}")
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@dataclass
class Repository:
    """One upstream repository's charts: index.yaml and the archives by file name."""

    upstream: str
    archives: dict[str, bytes] = field(default_factory=dict)
    entries: dict[str, list[dict]] = field(default_factory=dict)

    def add(self, chart: charts.Chart) -> None:
        data = archive(chart)
        name = f"{chart.name}-{chart.version}.tgz"
        self.archives[name] = data
        self.entries.setdefault(chart.name, []).insert(0, {
            "apiVersion": "v2", "name": chart.name, "version": chart.version, "appVersion": chart.app_version,
            "description": chart.description, "type": "application", "created": CREATED,
            "digest": hashlib.sha256(data).hexdigest(), "urls": [f"charts/{name}"]})

    def index(self) -> bytes:
        return yaml.safe_dump({"apiVersion": "v1", "entries": self.entries, "generated": CREATED},
                              sort_keys=False).encode()


def build() -> dict[str, Repository]:
    """Every catalog chart in three versions, grouped by upstream repository (keyed by slug)."""
    repos: dict[str, Repository] = {}
    for chart in charts.CATALOG.values():
        repo = repos.setdefault(slug(chart.repo_url), Repository(chart.repo_url))
        for variant in versions(chart):
            repo.add(variant)
    return repos


# --- serving --------------------------------------------------------------------------------------------------
class ChartRepoServer:
    """GET <base>/repos/<slug>/index.yaml and <base>/repos/<slug>/charts/<name>-<version>.tgz on 127.0.0.1.
    The charts are built on the first request (most lab runs never ask)."""

    def __init__(self) -> None:
        self._repos: dict[str, Repository] | None = None
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), name="charts", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def repositories(self) -> dict[str, Repository]:
        with self._lock:
            if self._repos is None:
                self._repos = build()
            return self._repos

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer(self, path: str) -> tuple[int, str, bytes]:
        """(status, content type, body) for a GET of `path`."""
        rest = urlparse(path).path.removeprefix(PREFIX)
        if not urlparse(path).path.startswith(PREFIX):
            return 404, "text/plain", b"404 page not found\n"
        if rest.endswith("/index.yaml"):
            repo = self.repositories.get(rest.removesuffix("/index.yaml"))
            if repo is not None:
                return 200, "application/x-yaml", repo.index()
        elif "/charts/" in rest:
            name, _, file = rest.rpartition("/charts/")
            repo = self.repositories.get(name)
            if repo is not None and file in repo.archives:
                return 200, "application/gzip", repo.archives[file]
        return 404, "text/plain", b"404 page not found\n"


def _handler(server: ChartRepoServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802
            code, content_type, body = server.answer(self.path)
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
