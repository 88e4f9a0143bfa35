"""The simulated Kubernetes cluster: apiserver + scheduler + kubelet + controllers.

It is faithful enough for a real kubectl and lightkube to work against it, and imports nothing
from the rest of userpods. Start it in a nursery::

    cluster = await nursery.start(serve_sim, SimOptions(kubeconfig=path))
"""

from .cluster import SimCluster, SimOptions, serve_sim
from .containers import KubeletTimings
from .faults import FaultSettings
from .images import Catalogue, CatalogueError

__all__ = [
    "Catalogue",
    "CatalogueError",
    "FaultSettings",
    "KubeletTimings",
    "SimCluster",
    "SimOptions",
    "serve_sim",
]
