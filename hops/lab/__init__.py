"""The lab: a simulated twin of the configured cluster (Kubernetes API emulation, cluster simulator,
emulated command-line tools). Product code reaches it only through hops.endpoints."""
