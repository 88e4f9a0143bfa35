"""The simulated cluster for the benchmarks, in a process of its own, seeded with pods that look
like the daemon's.

The same cluster ``userpods sim`` runs (``serve_sim``), with two things the command line does
not offer: a NodePort range wide enough for ten thousand SSH services, and seeding. Seeding
writes through the cluster's own registry, in process (so the objects are exactly what
creations through the API make, and the scheduler, kubelet and controllers act on them as on
any other), without paying an HTTP round trip per object: per user a bound PersistentVolume
and claim, and ``--pods-per-user`` pods as the daemon leaves them once ready (its labels and
annotations, the ubuntu manifest), each with its SSH NodePort service owned by the pod. Once
every seeded pod is Ready it writes the daemon's token files (``--pod-cache-dir``, so that a
daemon started on these pods needs no exec) and prints ``seeded N pods in S s`` and then
``serving URL``, the line the benchmarks wait for (the seeded objects frozen out of the cyclic
garbage collector's sight first). ``--profile FILE`` runs cProfile from then
on and writes FILE when the process is terminated.

    python benchmarks/simserver.py --kubeconfig K --nodes 103 --users 1000 --pods-per-user 10
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import signal
import time
from pathlib import Path
from typing import Any

import trio

from userpods import naming
from userpods.sim import kinds as k
from userpods.sim.cluster import SimCluster, SimOptions, serve_sim

Obj = dict[str, Any]
IMAGE = "ubuntu_jammy_sciencedata_testing"  # the ubuntu manifest's, LOCALREGISTRY/ dropped
TOKEN_KEYS = ("ed25519HostKeyHash", "rsaHostKeyHash")
STATE = naming.PREFIX + "state"
SILO = "10.2.0.5"


def seed_user(user: int) -> str:
    return f"seed{user}@sciencedata.dk"


def claim_objects(user_id: str, namespace: str) -> tuple[Obj, Obj]:
    """A user's storage: a volume pre-bound to a claim, as the storage plugin makes them."""
    claim = naming.storage_claim_candidates(user_id)[0]
    labels = {**naming.owner_labels(user_id)}
    notes = {naming.ANNOTATION_OWNER: user_id}
    volume: Obj = {
        "metadata": {
            "name": claim,
            "labels": labels,
            "annotations": {**notes, naming.ANNOTATION_NAMESPACE: namespace},
        },
        "spec": {
            "capacity": {"storage": "10Gi"},
            "accessModes": ["ReadWriteMany"],
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": "",
            "nfs": {"server": "10.2.0.10", "path": f"/storage/{claim}"},
            "claimRef": {"namespace": namespace, "name": claim},
        },
    }
    pvc: Obj = {
        "metadata": {"name": claim, "labels": labels, "annotations": notes},
        "spec": {
            "accessModes": ["ReadWriteMany"],
            "storageClassName": "",
            "volumeName": claim,
            "resources": {"requests": {"storage": "10Gi"}},
        },
    }
    return volume, pvc


def pod_object(user_id: str, name: str) -> Obj:
    """A pod as the daemon leaves it once ready (the ubuntu example manifest)."""
    return {
        "metadata": {
            "name": name,
            "labels": {
                "app": "ubuntu",
                **naming.owner_labels(user_id),
                naming.LABEL_POD_NAME: name,
            },
            "annotations": {
                "sciencedata.dk/copy-token": ",".join(TOKEN_KEYS),
                naming.ANNOTATION_OWNER: user_id,
                STATE: "ready",
                naming.PREFIX + "silo-ip": SILO,
                naming.PREFIX + "data-ip": SILO,
                naming.PREFIX + "silo-hostname": "silo1.sciencedata.dk",
            },
        },
        "spec": {
            "containers": [
                {
                    "name": "ubuntu-jammy",
                    "image": IMAGE,
                    "ports": [{"containerPort": 22, "protocol": "TCP"}],
                    "env": [
                        {"name": "SSH_PUBLIC_KEY", "value": "ssh-ed25519 AAAAC3Nz bench"},
                        {"name": "USERNAME", "value": "root"},
                        {"name": "HOME_SERVER", "value": SILO},
                    ],
                    "securityContext": {"capabilities": {"add": ["SYS_CHROOT", "AUDIT_WRITE"]}},
                }
            ],
            "restartPolicy": "Never",
        },
    }


def ssh_service(user_id: str, pod: Obj) -> Obj:
    """The SSH NodePort service the daemon makes for a pod (owned by it)."""
    meta = pod["metadata"]
    name = meta["name"]
    return {
        "metadata": {
            "name": f"{name}-ssh",
            "labels": {
                naming.LABEL_CREATED_FOR_POD: name,
                **naming.owner_labels(user_id),
            },
            "annotations": {naming.ANNOTATION_OWNER: user_id},
            "ownerReferences": [
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "name": name,
                    "uid": meta["uid"],
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "type": "NodePort",
            "selector": {naming.LABEL_POD_NAME: name},
            "ports": [{"name": "ssh", "port": 22, "targetPort": 22, "protocol": "TCP"}],
        },
    }


def is_ready(pod: Obj) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in pod.get("status", {}).get("conditions") or []
    )


def write_tokens(cluster: SimCluster, namespace: str, names: list[str], cache_dir: Path) -> None:
    """The daemon's token files (what it would have copied out of each pod), by pod uid."""
    for name in names:
        pod = cluster.store.get(k.POD, namespace, name)
        assert pod is not None
        uid = pod["metadata"]["uid"]
        tokens = {key: f"SHA256:{key.removesuffix('HostKeyHash')}-{uid}" for key in TOKEN_KEYS}
        (cache_dir / name).write_text(json.dumps({"uid": uid, "tokens": tokens}))


async def seed(
    cluster: SimCluster, namespace: str, users: int, per_user: int, cache_dir: Path | None
) -> int:
    """Seed the cluster (see module docstring); returns the number of pods, once all are Ready."""
    registry, store = cluster.registry, cluster.store
    names: list[str] = []
    for u in range(users):
        user_id = seed_user(u)
        volume, claim = claim_objects(user_id, namespace)
        registry.create(k.PV, "", volume)
        registry.create(k.PVC, namespace, claim)
        for name in naming.pod_name_candidates("ubuntu", user_id)[:per_user]:
            pod = registry.create(k.POD, namespace, pod_object(user_id, name))
            registry.create(k.SERVICE, namespace, ssh_service(user_id, pod))
            names.append(name)
        await trio.lowlevel.checkpoint()  # let the scheduler, kubelet and controllers keep up
    waiting = set(names)
    while waiting:
        for name in list(waiting):
            pod = store.get(k.POD, namespace, name)
            if pod is not None and is_ready(pod):
                waiting.discard(name)
        if waiting:
            await trio.sleep(0.5)
    if cache_dir is not None:
        write_tokens(cluster, namespace, names, cache_dir)
    return len(names)


async def run(args: argparse.Namespace) -> None:
    options = SimOptions(
        port=0,
        kubeconfig=args.kubeconfig,
        pod_cidr=args.pod_cidr,
        nodes=args.nodes,
        namespaces=(args.namespace,),
        node_ports=(30000, 30000 + args.node_ports),
    )
    async with trio.open_nursery() as nursery:
        cluster: SimCluster = await nursery.start(serve_sim, options)
        began = time.monotonic()
        count = await seed(cluster, args.namespace, args.users, args.pods_per_user, args.cache)
        print(f"seeded {count} pods in {time.monotonic() - began:.1f} s", flush=True)
        # What was seeded lives for the whole run: out of the cyclic collector's sight, as the
        # daemon does after its lists. Else each full collection walks the millions of objects
        # of ten thousand pods (0.76 s, a pause in the middle of the creations measured).
        gc.collect()
        gc.freeze()
        profile = cProfile.Profile() if args.profile else None
        if profile is not None:
            profile.enable()  # what follows the seeding only
        print(f"serving {cluster.url}", flush=True)
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for _ in signals:
                break
        if profile is not None:
            profile.disable()
            profile.dump_stats(args.profile)
        nursery.cancel_scope.cancel()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", type=Path, required=True)
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--namespace", default="bench")
    parser.add_argument("--pod-cidr", default="10.128.0.0/15")
    parser.add_argument("--node-ports", type=int, default=20000, help="size of the range")
    parser.add_argument("--users", type=int, default=0)
    parser.add_argument("--pods-per-user", type=int, default=10)
    parser.add_argument("--pod-cache-dir", dest="cache", type=Path)
    parser.add_argument("--profile", type=Path, help="cProfile what follows the seeding here")
    trio.run(run, parser.parse_args())


if __name__ == "__main__":
    main()
