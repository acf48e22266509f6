"""hops: a resumable, phased bootstrap of a Talos + Flux home-lab cluster, driven by doit."""

__version__ = "0.1.0"
