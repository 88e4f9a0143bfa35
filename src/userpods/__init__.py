"""userpods: per-user pods on Kubernetes for the ScienceData frontend.

The package holds the daemon (``userpods serve``) and the simulated cluster it is tested
against (``userpods sim``).
"""

__version__ = "0.1.0"
