"""Controllers that drive the lab's API objects over time, the way a real cluster's components would.

The daemon starts every class listed in CONTROLLERS with one LabContext."""

from __future__ import annotations

from hops.lab.controllers.base import Controller, LabContext
from hops.lab.controllers.cni import CniController
from hops.lab.controllers.events import EventController
from hops.lab.controllers.flux import FluxController
from hops.lab.controllers.jobs import JobController
from hops.lab.controllers.leases import NodeLeaseController
from hops.lab.controllers.secretstores import SecretStoreController
from hops.lab.controllers.services import EndpointsController
from hops.lab.controllers.workloads import WorkloadController

CONTROLLERS: list[type[Controller]] = [WorkloadController, CniController, EndpointsController, JobController,
                                       SecretStoreController, FluxController,
                                       NodeLeaseController, EventController]

__all__ = ["CONTROLLERS", "Controller", "LabContext"]
