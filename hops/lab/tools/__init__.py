"""Emulated command-line tools (talosctl, talhelper, helm, flux, cilium, op, mise) that act on the lab.

Each module has `main(argv) -> int`; `hops.lab.lifecycle` installs a launcher per tool in `<lab>/bin/`."""
