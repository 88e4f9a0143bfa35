"""One place that turns user ids and manifest names into Kubernetes names and label values.

Names are the original's, readable, wherever that is safe, and a digest only where it is not.
For every user id the API admits (``^[a-z0-9][-a-z0-9._]*[@]?[-a-z0-9._]*[a-z0-9]$``):

- ``user_strings(user_id)`` gives the user's parts of object names, in order of preference:
  the original's readable form (``@`` and ``.`` as ``-``: ``fror@dtu.dk`` -> ``fror-dtu-dk``)
  when it is a DNS-1123 label of at most 32 characters, then a digest form (a readable
  prefix, ``--`` and a 60-bit digest of the whole id), which distinct ids never share. The
  readable form is lossy (the original mapped ``a.b@c.dk`` and ``a@b.c.dk`` both to
  ``a-b-c-dk``), so it is only a name, never an owner: whoever picks a name checks that nobody
  else holds it and falls back to the digest form (the daemon for pods, the storage plugin
  for claims and volumes). Ownership is decided on the full user id, kept in an annotation.
- Pod names (``<manifest name>-<user string>``, then ``-1`` ... ``-9``: one *family* per user
  string) are DNS-1035 labels of at most 58 characters, so ``<pod>-ssh`` and ``<pod>-http``
  are valid service names and ``<pod>.<ingressDomain>`` a valid host.
- Label values are the original's (``user`` = the part before ``@``, ``domain`` = after) when
  those are valid label values, else a readable prefix and a digest. Labels are for selection
  by other tools, and for recognising the original's objects (which carry no annotations).
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

USER_ID_RE = re.compile(r"^[a-z0-9][-a-z0-9._]*[@]?[-a-z0-9._]*[a-z0-9]$")
USER_STRING_MAX = 32
POD_NAME_MAX = 58  # 63 (DNS-1035 service names) - len("-http")
NAME_SUFFIXES = ("", *(f"-{i}" for i in range(1, 10)))
_DIGEST_LEN = 12  # base32 characters: 60 bits
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")

# Labels kept from the original, so other tools keep working.
LABEL_USER = "user"
LABEL_DOMAIN = "domain"
LABEL_POD_NAME = "podName"
LABEL_CREATED_FOR_POD = "createdForPod"
# Annotations of our own: the state a restarted daemon needs.
PREFIX = "userpods.sciencedata.dk/"
ANNOTATION_OWNER = PREFIX + "owner"  # the full user id
ANNOTATION_NAMESPACE = PREFIX + "namespace"  # on cluster-wide objects: whose deployment
STORAGE_PREFIX = "user-storage-"


def valid_user_id(user_id: object) -> bool:
    return isinstance(user_id, str) and USER_ID_RE.fullmatch(user_id) is not None


def digest(text: str, length: int = _DIGEST_LEN) -> str:
    """A lower-case base32 digest of ``text`` (letters and digits 2-7)."""
    raw = hashlib.sha256(text.encode()).digest()
    return base64.b32encode(raw).decode().lower()[:length]


def _readable(text: str, limit: int) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:limit].rstrip("-")


def readable_user_string(user_id: str) -> str | None:
    """The original's user string (``@`` and ``.`` as ``-``), None when that is not a DNS-1123
    label of at most USER_STRING_MAX characters (an ``_``, say, or a long id)."""
    text = user_id.replace("@", "-").replace(".", "-")
    if len(text) <= USER_STRING_MAX and _DNS_LABEL.fullmatch(text):
        return text
    return None


def digest_user_string(user_id: str) -> str:
    """A user string no other user id gives: a readable prefix, ``--``, a digest."""
    prefix = _readable(user_id, USER_STRING_MAX - 2 - _DIGEST_LEN)
    return f"{prefix}--{digest(user_id)}" if prefix else digest(user_id)


def user_strings(user_id: str) -> list[str]:
    """The user's parts of object names, most readable first (see module docstring)."""
    readable = readable_user_string(user_id)
    return [*([readable] if readable else []), digest_user_string(user_id)]


def user_string(user_id: str) -> str:
    """The user's preferred part of object names."""
    return user_strings(user_id)[0]


def manifest_part(name: str, limit: int) -> str:
    """A manifest's pod name made DNS-1035-safe: lower case, starting with a letter."""
    text = re.sub(r"[^a-z0-9-]+", "-", name.lower())
    text = re.sub(r"^[^a-z]+", "", text)
    return (text[:limit].rstrip("-") or "pod")[:limit]


def pod_name_families(manifest_name: str, user_id: str) -> list[list[str]]:
    """The name families a new pod may take, one per user string (most readable first), each
    ``base``, ``base-1``, ..., ``base-9``."""
    families = []
    for user in user_strings(user_id):
        budget = POD_NAME_MAX - len(user) - 1 - 2  # "-" before the user string, "-N" after
        base = f"{manifest_part(manifest_name, budget)}-{user}"
        families.append([base + suffix for suffix in NAME_SUFFIXES])
    return families


def pod_name_candidates(manifest_name: str, user_id: str) -> list[str]:
    """The preferred family: what a user's pods are named when nobody else holds the names."""
    return pod_name_families(manifest_name, user_id)[0]


def storage_claim_candidates(user_id: str) -> list[str]:
    """Names the user's storage claim may take, most readable first (the original's name)."""
    return [STORAGE_PREFIX + user for user in user_strings(user_id)]


def volume_name_candidates(claim_name: str, user_id: str, namespace: str) -> list[str]:
    """Names a user's new PersistentVolume may take, in order: its claim's own name (as the
    original named volumes), then one distinct per deployment and user. Volumes are
    cluster-wide: a second deployment serving the same user finds the first name taken."""
    return [claim_name, f"{claim_name}-{digest(namespace + '/' + user_id, 8)}"]


def label_value(text: str) -> str:
    """``text`` if it is a valid label value, else a valid, distinct stand-in for it."""
    if len(text) <= 63 and _LABEL_VALUE.fullmatch(text):
        return text
    prefix = re.sub(r"[^A-Za-z0-9._-]+", "-", text)[: 63 - 2 - _DIGEST_LEN]
    prefix = re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", prefix)
    return f"{prefix}--{digest(text)}" if prefix else digest(text)


def owner_labels(user_id: str) -> dict[str, str]:
    """The original's ``user`` / ``domain`` labels for a user id."""
    name, _, domain = user_id.partition("@")
    return {LABEL_USER: label_value(name), LABEL_DOMAIN: label_value(domain)}


def user_id_from_labels(labels: dict[str, str] | None) -> str:
    """The owner a pod made by the original backend names in its labels ("" if none)."""
    labels = labels or {}
    user = labels.get(LABEL_USER, "")
    if not user:
        return ""
    domain = labels.get(LABEL_DOMAIN, "")
    return f"{user}@{domain}" if domain else user


def storage_owner(obj: Any) -> str:
    """The full user id an object of user storage (a volume or claim) belongs to: our owner
    annotation, or, on the original backend's objects (which have none), its ``user``/
    ``domain`` labels, trusted only on objects that bear its storage name (label ``name`` =
    the object's name, ``user-storage-...``). Those labels hold the id's two halves exactly,
    not a lossy form."""
    meta = getattr(obj, "metadata", None)
    if meta is None:
        return ""
    owner = (meta.annotations or {}).get(ANNOTATION_OWNER)
    if owner is not None:
        return str(owner)
    labels = meta.labels or {}
    name = meta.name or ""
    if not name.startswith(STORAGE_PREFIX) or labels.get("name") != name:
        return ""
    return user_id_from_labels(labels)


def pod_owner(pod: Any) -> str:
    """The full user id a pod belongs to ("" if none): our owner annotation, or on a pod made
    by the original backend, its ``user``/``domain`` labels."""
    meta = getattr(pod, "metadata", None)
    if meta is None:
        return ""
    return (meta.annotations or {}).get(ANNOTATION_OWNER) or user_id_from_labels(meta.labels)
