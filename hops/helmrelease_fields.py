"""What a Flux HelmRelease (helm.toolkit.fluxcd.io/v2) may hold, checked without a cluster: field names at the
levels hops reads (spec, spec.chart, spec.chart.spec, its sourceRef), the required fields, and the duration
fields' pattern. Flux's CRD refuses the same mistakes once the release reaches the cluster; found here, a typo
is named with its file before anything is installed (phase 1, and phase 3/4 when hops installs the release).

Deeper levels (install, upgrade, values, ...) are left to the CRD: the cluster's own answer names them.
"""

from __future__ import annotations

import re
from typing import Any

# Flux's metav1.Duration fields: `pattern: ^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$` (timeouts stop at minutes)
INTERVAL = re.compile(r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$")
TIMEOUT = re.compile(r"^([0-9]+(\.[0-9]+)?(ms|s|m))+$")
DURATION_UNITS = {INTERVAL: "ms, s, m or h, such as 10m or 1h30m", TIMEOUT: "ms, s or m, such as 5m or 90s"}

SPEC_FIELDS = frozenset({
    "chart", "chartRef", "interval", "kubeConfig", "suspend", "releaseName", "targetNamespace", "storageNamespace",
    "dependsOn", "timeout", "maxHistory", "serviceAccountName", "persistentClient", "driftDetection", "install",
    "upgrade", "test", "rollback", "uninstall", "valuesFrom", "values", "postRenderers", "commonMetadata"})
CHART_FIELDS = frozenset({"metadata", "spec"})
CHART_SPEC_FIELDS = frozenset({"chart", "version", "sourceRef", "interval", "reconcileStrategy", "valuesFiles",
                               "valuesFile", "ignoreMissingValuesFiles", "verify"})
SOURCE_REF_FIELDS = frozenset({"apiVersion", "kind", "name", "namespace"})


def is_helmrelease(doc: dict) -> bool:
    """A Flux HelmRelease manifest (any helm.toolkit.fluxcd.io version)."""
    return doc.get("kind") == "HelmRelease" and str(doc.get("apiVersion", "")).startswith("helm.toolkit.fluxcd.io/")


def metadata(doc: dict) -> dict:
    """A manifest's metadata mapping ({} when it has none, or not a mapping)."""
    meta = doc.get("metadata")
    return meta if isinstance(meta, dict) else {}


def label(doc: dict) -> str:
    """`HelmRelease namespace/name` (or just the name when the manifest sets no namespace)."""
    meta = metadata(doc)
    namespace, name = meta.get("namespace"), meta.get("name") or "(no metadata.name)"
    return f"HelmRelease {namespace}/{name}" if namespace else f"HelmRelease {name}"


def problems(doc: dict) -> list[str]:
    """Every mistake found in the HelmRelease's spec, each naming its field (empty when none)."""
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        return [_not_mapping("spec", spec, "interval and chart")]
    found = _unknown(spec, SPEC_FIELDS, "spec")
    found += _duration(spec, "interval", "spec", INTERVAL, required=True)
    found += _duration(spec, "timeout", "spec", TIMEOUT)
    chart, ref = spec.get("chart"), spec.get("chartRef")
    if chart is None and ref is None:
        return found + ["spec.chart is required (or spec.chartRef): which chart to install"]
    if chart is not None and ref is not None:
        found.append("spec.chart and spec.chartRef are both set: Flux accepts exactly one")
    if chart is not None:
        found += _chart(chart)
    return found


def _chart(chart: Any) -> list[str]:
    if not isinstance(chart, dict):
        return [_not_mapping("spec.chart", chart, "spec")]
    found = _unknown(chart, CHART_FIELDS, "spec.chart")
    spec = chart.get("spec")
    if not isinstance(spec, dict):
        return found + [_not_mapping("spec.chart.spec", spec, "chart, version and sourceRef")]
    found += _unknown(spec, CHART_SPEC_FIELDS, "spec.chart.spec")
    found += _required_text(spec, "chart", "spec.chart.spec")
    found += _duration(spec, "interval", "spec.chart.spec", INTERVAL)
    if "version" in spec and not isinstance(spec["version"], (str, int, float)):
        found.append(f"spec.chart.spec.version must be a version string, got {_shown(spec['version'])}")
    ref = spec.get("sourceRef")
    if not isinstance(ref, dict):
        return found + [_not_mapping("spec.chart.spec.sourceRef", ref, "kind and name")]
    return found + _unknown(ref, SOURCE_REF_FIELDS, "spec.chart.spec.sourceRef") + \
        _required_text(ref, "name", "spec.chart.spec.sourceRef")


def _unknown(mapping: dict, known: frozenset[str], where: str) -> list[str]:
    out = []
    for key in mapping:
        if key not in known:
            import difflib  # only when a name is unknown: most runs never need it

            close = difflib.get_close_matches(str(key), sorted(known), n=1)
            hint = f" (did you mean {where}.{close[0]}?)" if close else ""
            out.append(f"{where}.{key} is not a field of a HelmRelease{hint}")
    return out


def _required_text(mapping: dict, key: str, where: str) -> list[str]:
    value = mapping.get(key)
    if value is None or value == "":
        return [f"{where}.{key} is required"]
    if not isinstance(value, str):
        return [f"{where}.{key} must be a string, got {_shown(value)}"]
    return []


def _duration(mapping: dict, key: str, where: str, pattern: re.Pattern[str], required: bool = False) -> list[str]:
    if key not in mapping:
        return [f"{where}.{key} is required (a duration such as 10m)"] if required else []
    value = mapping[key]
    if isinstance(value, str) and pattern.match(value):
        return []
    return [f"{where}.{key} {_shown(value)} is not a duration: digits followed by {DURATION_UNITS[pattern]}"]


def _not_mapping(where: str, value: Any, holding: str) -> str:
    if value is None:
        return f"{where} is required (a mapping with {holding})"
    return f"{where} must be a mapping (with {holding}), got {type(value).__name__} {value!r}"


def _shown(value: Any) -> str:
    return f"{value!r}" if isinstance(value, str) else f"{type(value).__name__} {value!r}"
