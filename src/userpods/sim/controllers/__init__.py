"""The controller-manager's controllers that a pod-spawning backend meets, one a module.

- ``volumebinder``: :class:`VolumeBinder` binds PersistentVolumes and claims.
- ``protection``: :class:`ProtectionController` lifts the pvc-/pv-protection finalizers.
- ``garbagecollector``: :class:`GarbageCollector` acts on owner references.
- ``namespaces``: :class:`NamespaceController` empties and removes terminating namespaces.

Each takes the registry and is run by ``reactor.run_controller`` (``cluster.py`` starts them);
the endpoint-slice controller (``endpoints.py``) and the scheduler (``scheduler.py``) are the
other controllers of the simulated cluster.
"""
