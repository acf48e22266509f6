"""Controllers that drive the lab's API objects over time, the way a real cluster's components would.

The daemon starts every class listed in CONTROLLERS with one LabContext."""

from __future__ import annotations

from hops.lab.controllers.base import Controller, LabContext

CONTROLLERS: list[type[Controller]] = []

__all__ = ["CONTROLLERS", "Controller", "LabContext"]
