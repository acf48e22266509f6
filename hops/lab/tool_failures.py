"""What an emulated tool prints for an injected `fail:<tool> <subcommand>:<n>[:transient|:permanent]`.

transient / permanent: the error text the real tool prints for a failure of that kind (hops.failures must
classify it as on hardware): the API server, a node's apid or the network briefly unavailable / a validation
error, bad credentials, a usage error. Without a severity: the lab's own "injected failure" line, which no real
tool prints (hops cannot classify it, so it counts as permanent)."""

from __future__ import annotations

import time

SEVERITIES = ("transient", "permanent")


def message(tool: str, subcommand: str, severity: str, argv: list[str]) -> str:
    """The stderr text of the injected failure (exit code 1)."""
    if severity not in SEVERITIES:
        return f"Error: {tool} {subcommand}: injected failure (hops lab fault)"
    texts = PERMANENT if severity == "permanent" else TRANSIENT
    render = texts.get(tool, texts["*"])
    return render(subcommand, argv)


def _node(argv: list[str]) -> str:
    for flag in ("-n", "--nodes", "-e", "--endpoints"):
        if flag in argv[:-1]:
            return argv[argv.index(flag) + 1].split(",")[0]
    return "127.0.0.1"


def _talos_verb(subcommand: str) -> str:
    return "error applying new configuration" if subcommand == "apply-config" else f"error executing {subcommand}"


def _op_stamp() -> str:
    return time.strftime("%Y/%m/%d %H:%M:%S")


def _helm_failed(subcommand: str) -> str:
    return "INSTALLATION FAILED" if subcommand == "install" else "UPGRADE FAILED"


TRANSIENT = {
    "helm": lambda sub, argv: f"Error: {_helm_failed(sub)}: the server is currently unable to handle the request",
    "flux": lambda sub, argv: "✗ client rate limiter Wait returned an error: context deadline exceeded",
    "talosctl": lambda sub, argv: (f"{_talos_verb(sub)}: rpc error: code = Unavailable desc = connection error: "
                                   f"desc = \"transport: Error while dialing: dial tcp {_node(argv)}:50000: "
                                   "connect: connection refused\""),
    "cilium": lambda sub, argv: ("Error: Unable to determine status:  timeout while waiting for status to become "
                                 "successful: context deadline exceeded"),
    "op": lambda sub, argv: (f"[ERROR] {_op_stamp()} error initializing client: Get "
                             "\"https://my.1password.com/api/v2/account\": net/http: TLS handshake timeout"),
    "*": lambda sub, argv: f"Error: {sub}: read tcp 127.0.0.1:50112->127.0.0.1:443: read: connection reset by peer",
}

PERMANENT = {
    "helm": lambda sub, argv: (f"Error: {_helm_failed(sub)}: unable to build kubernetes objects from release "
                               "manifest: error validating \"\": error validating data: ValidationError(DaemonSet.spec): "
                               "missing required field \"selector\" in io.k8s.api.apps.v1.DaemonSetSpec"),
    "flux": lambda sub, argv: "✗ GET https://api.github.com/user: 401 Bad credentials []",
    "talosctl": lambda sub, argv: (f"{_talos_verb(sub)}: rpc error: code = InvalidArgument desc = configuration "
                                   "validation failed: 1 error occurred:\n\t* install disk or diskSelector should be "
                                   "defined"),
    "cilium": lambda sub, argv: "Error: Unable to determine status:  Unauthorized",
    "op": lambda sub, argv: (f"[ERROR] {_op_stamp()} You are not currently signed in. Please run `op signin "
                             "--help` for instructions"),
    "*": lambda sub, argv: f"Error: unknown flag: --{sub}-option",
}
