"""The lab's status in a few lines (`doit lab_status`, `python -m hops.lab status`); `--json` gives it raw."""

from __future__ import annotations


def summary(state: dict) -> list[str]:
    """Human lines for lifecycle.status(): process, endpoints, the simulation's etcd/API and each node."""
    lines: list[str] = []
    if not state["running"]:
        saved = "saved state present" if state.get("state_saved") else "no saved state"
        lines.append(f"lab: stopped ({state['lab_dir']}; {saved})")
        lines.append(f"  helm at the next start: {state.get('helm', '?')}")
        return lines
    lines.append(f"lab: running (pid {state['pid']}, speed x{state['speed']:g}) in {state['lab_dir']}")
    lines.append(f"  kubernetes api: {state['api_url']}\n  control:        {state['control_url']}")
    lines.append(f"  helm:           {state.get('helm', '?')}")
    sim = state.get("simulation", {})
    if "error" in sim:
        lines.append(f"  {sim['error']}")
        return lines
    lines.append(f"  etcd: {sim['etcd']}   kubernetes api: {sim['api']}   bootstrap calls: {sim['bootstrap_calls']}")
    for name, node in sim["nodes"].items():
        endpoint = state["nodes"].get(name, {}).get("endpoint", "?")
        lines.append(f"  {name:<16} {node['address']:<15} -> {endpoint:<21} {node['role']:<12} {node['phase']:<11}"
                     f" etcd={node['etcd']:<8} registered={'yes' if node['registered'] else 'no'}")
    if sim.get("objects"):
        lines.append("  objects: " + ", ".join(f"{kind}={n}" for kind, n in sorted(sim["objects"].items())))
    return lines
