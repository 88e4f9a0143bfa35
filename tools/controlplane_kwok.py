"""KWOK's configuration for the loopback control plane: fake nodes and the pod lifecycle.

No kubelet can run here, so KWOK plays one for every node: it watches the pods bound to its
nodes and patches their status through "stages" (a selector, a delay, a status template).
The stages (tools/controlplane/kwok-stages.yaml) follow the simulated cluster's image catalogue
(src/userpods/sim/images.yaml, the same first-match globs), so an image behaves alike on both
tiers:

- an image whose entry says ``pull: fail`` waits in ``ErrImagePull``, then ``ImagePullBackOff``;
- an image whose entry has ``exit: {code: N}`` ends with that code: with ``restartPolicy: Never``
  (or ``OnFailure`` and code 0) it stays terminated and the pod ends Succeeded/Failed; otherwise
  it waits in ``CrashLoopBackOff`` with the termination as ``lastState`` (one restart counted);
- anything else runs and is Ready.

What the catalogue has that stages cannot give: the timings (``start_delay``, ``ready_delay``,
``exit.after``: every step here takes a fixed short delay), the files and logs (served through
exec and logs, which KWOK can answer only by running commands or reading files on this
machine), and repeated crash-loop restarts.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

CATALOGUE = Path(__file__).resolve().parents[1] / "src" / "userpods" / "sim" / "images.yaml"
STAGES = Path(__file__).resolve().parent / "controlplane" / "kwok-stages.yaml"
NODE_ANNOTATION = ("kwok.x-k8s.io/node", "fake")  # the nodes KWOK manages
STEP_MS = 100  # the delay of every lifecycle step
NODE_CAPACITY = {  # as the simulated cluster's nodes
    "cpu": "16",
    "memory": "64Gi",
    "pods": "110",
    "ephemeral-storage": "500Gi",
    "nvidia.com/gpu": "4",
    "hugepages-2Mi": "0",
}


@dataclass(frozen=True)
class Behaviour:
    """What one catalogue entry makes a container do."""

    pattern: str  # an RE2 regex, equivalent to the entry's fnmatch glob
    kind: str  # "run" | "pullfail" | "exit"
    code: int = 0


def glob_to_regex(glob: str) -> str:
    """An anchored RE2 (Go, and so gojq) regex that matches what ``fnmatch`` matches for a
    glob made of literals, ``*`` and ``?`` (all the catalogue uses)."""
    out = []
    for char in glob:
        if char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        elif char.isalnum() or char in "-_/:@ ":
            out.append(char)
        else:
            out.append("\\" + char)
    return "^" + "".join(out) + "$"


def behaviours(catalogue: Path = CATALOGUE) -> list[Behaviour]:
    entries = yaml.safe_load(catalogue.read_text()) or []
    found = []
    for entry in entries:
        pattern = glob_to_regex(str(entry["match"]))
        if entry.get("pull") == "fail":
            found.append(Behaviour(pattern, "pullfail"))
        elif entry.get("exit"):
            found.append(Behaviour(pattern, "exit", int(entry["exit"].get("code", 0))))
        else:
            found.append(Behaviour(pattern, "run"))
    return found


def _jq_pod_kind(catalogue: list[Behaviour]) -> str:
    """A jq expression giving the pod's behaviour: pullfail if any container's image fails to
    pull, else exit if any container exits, else run (each image by its first match)."""
    chain = " ".join(
        f"elif test({json.dumps(b.pattern)}) then {json.dumps(b.kind)}" for b in catalogue
    )
    return (
        f'[.spec.containers[].image | if false then "run" {chain} else "run" end] | '
        'if any(.[]; . == "pullfail") then "pullfail" '
        'elif any(.[]; . == "exit") then "exit" else "run" end'
    )


def _tpl_container_kind(catalogue: list[Behaviour]) -> str:
    """One line of Go template that sets ``$kind`` and ``$code`` for the container ``$c``."""
    line = '{{ $kind := "run" }}{{ $code := 0 }}'
    for index, b in enumerate(catalogue):
        word = "if" if index == 0 else "else if"
        line += f'{{{{ {word} regexMatch `{b.pattern}` $c.image }}}}{{{{ $kind = "{b.kind}" }}}}'
        line += f"{{{{ $code = {b.code} }}}}"
    return line + ("{{ end }}" if catalogue else "")


def stages(catalogue: list[Behaviour]) -> list[dict[str, Any]]:
    """The stages of STAGES, with the catalogue's behaviours filled in."""
    text = STAGES.read_text()
    for marker, value in (
        ("@POD_KIND@", _jq_pod_kind(catalogue)),
        ("@CONTAINER_KIND@", _tpl_container_kind(catalogue)),
        ("@STEP_MS@", str(STEP_MS)),
        ("@NODE_CAPACITY@", json.dumps(NODE_CAPACITY)),
    ):
        text = text.replace(marker, value)
    loaded: list[dict[str, Any]] = yaml.safe_load(text)
    return loaded


class _Dumper(yaml.SafeDumper):
    """Writes the templates as block scalars, so the file KWOK reads can be read by people."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def write_config(path: Path, *, server_port: int, cert: Path, key: Path, cidr: str) -> Path:
    """KWOK's configuration file: its options and every stage, as YAML documents."""
    options = {
        "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
        "kind": "KwokConfiguration",
        "options": {
            "cidr": cidr,
            "nodeIP": "127.0.0.1",
            "nodePort": server_port,
            "serverAddress": f"127.0.0.1:{server_port}",
            "tlsCertFile": str(cert),
            "tlsPrivateKeyFile": str(key),
            "manageNodesWithAnnotationSelector": "=".join(NODE_ANNOTATION),
            "nodeLeaseDurationSeconds": 40,
            # KWOK defaults these only when it has no configuration file.
            "podPlayStageParallelism": 4,
            "nodePlayStageParallelism": 4,
            "nodeLeaseParallelism": 4,
            "podsOnNodeSyncParallelism": 1,
            "enableDebuggingHandlers": True,
            # Exec and Logs come from the apiserver (one per pod, made by controlplane_exec).
            "enableCRDs": ["Exec", "Logs"],
        },
    }
    documents = [options, *stages(behaviours())]
    path.write_text(
        "\n---\n".join(yaml.dump(d, Dumper=_Dumper, sort_keys=False) for d in documents)
    )
    return path


def crds(directory: Path) -> list[dict[str, Any]]:
    """KWOK's CustomResourceDefinitions that the build copied from its module."""
    return [yaml.safe_load(path.read_text()) for path in sorted(directory.glob("*.yaml"))]


def nodes(count: int, pod_cidr: str) -> list[dict[str, Any]]:
    """Node objects for KWOK to manage, named as the simulated cluster names its nodes, each
    with a slice of the pod network (KWOK gives pods IPs from their node's podCIDR)."""
    network = ipaddress.ip_network(pod_cidr)
    slices = list(network.subnets(new_prefix=min(network.prefixlen + 4, 28)))
    made = []
    for index in range(count):
        name = f"node-{index + 1}"
        cidr = str(slices[index])
        labels = {
            "kubernetes.io/hostname": name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "type": "kwok",
        }
        if index == 0:
            labels["node-role.kubernetes.io/control-plane"] = ""
        made.append(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": name,
                    "labels": labels,
                    "annotations": {NODE_ANNOTATION[0]: NODE_ANNOTATION[1]},
                },
                "spec": {"podCIDR": cidr, "podCIDRs": [cidr]},
            }
        )
    return made
