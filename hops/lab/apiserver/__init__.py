"""The lab's Kubernetes API emulation: an in-memory object store served over HTTP like a kube-apiserver.

    from hops.lab.apiserver import ApiServer, Store, ApiError
    store = Store(crd_establish_delay=0.0)
    server = ApiServer(store).start()      # server.url -> "http://127.0.0.1:PORT"

Modules: store (objects, resourceVersions, events, CRD establishment), resources (the catalog of kinds),
patches (merge / strategic / JSON patch / apply), selectors, watch (entries, events, watchers), discovery
(/api, /apis, /openapi), tables (kubectl's server-side printing), handler (HTTP routing), server (ApiServer),
errors (ApiError and Status bodies), collector (namespace lifecycle, cascading deletion), defaults (SetDefaults_*
of workloads, pods, services), fields + validation (unknown fields: Warn / Strict / Ignore), structural (CRD
schemas: prune, default, validate), managed (server-side apply's managedFields and conflicts), reviews
(kubectl auth can-i / whoami), openapi + openapi_proto (the schemas of /openapi/v3 and /openapi/v2, JSON and
gnostic protobuf: kubectl explain), podlogs (pod logs with line times, followed as they are written).
"""

from hops.lab.apiserver.errors import ApiError
from hops.lab.apiserver.resources import BUILTINS, ResourceType
from hops.lab.apiserver.server import ApiServer
from hops.lab.apiserver.store import DEFAULT_NAMESPACES, Store

__all__ = ["ApiError", "ApiServer", "BUILTINS", "DEFAULT_NAMESPACES", "ResourceType", "Store"]
