"""One place that turns user ids and manifest names into Kubernetes names and label values.

Guarantees, for every user id the API admits (``^[a-z0-9][-a-z0-9._]*[@]?[-a-z0-9._]*[a-z0-9]$``):

- ``user_string(user_id)`` is a DNS-1123 label of at most 32 characters, and distinct user ids
  give distinct strings. Ids made only of ``[a-z0-9]`` runs joined by single hyphens are used
  as they are (as the original did); any other id (``.``, ``@``, ``_``, ``--``, or too long)
  becomes a readable prefix, ``--`` and a 60-bit digest of the whole id. Plain ids never contain
  ``--``, so the two forms cannot meet; the original mapped ``a.b@c.dk`` and ``a@b.c.dk`` both
  to ``a-b-c-dk``.
- Pod names (``<manifest name>-<user string>``, then ``-1`` ... ``-9``) are DNS-1035 labels of
  at most 58 characters, so ``<pod>-ssh`` and ``<pod>-http`` are valid service names and
  ``<pod>.<ingressDomain>`` a valid host.
- Label values are the original's (``user`` = the part before ``@``, ``domain`` = after) when
  those are valid label values, else a readable prefix and a digest. Labels are for selection
  by other tools only: ownership is decided on the full user id, kept in an annotation.
"""

from __future__ import annotations

import base64
import hashlib
import re

USER_ID_RE = re.compile(r"^[a-z0-9][-a-z0-9._]*[@]?[-a-z0-9._]*[a-z0-9]$")
USER_STRING_MAX = 32
POD_NAME_MAX = 58  # 63 (DNS-1035 service names) - len("-http")
NAME_SUFFIXES = ("", *(f"-{i}" for i in range(1, 10)))
_DIGEST_LEN = 12  # base32 characters: 60 bits
_PLAIN = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")
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


def user_string(user_id: str) -> str:
    """The user's part of object names (see module docstring)."""
    if _PLAIN.fullmatch(user_id) and len(user_id) <= USER_STRING_MAX:
        return user_id
    prefix = _readable(user_id, USER_STRING_MAX - 2 - _DIGEST_LEN)
    return f"{prefix}--{digest(user_id)}" if prefix else digest(user_id)


def manifest_part(name: str, limit: int) -> str:
    """A manifest's pod name made DNS-1035-safe: lower case, starting with a letter."""
    text = re.sub(r"[^a-z0-9-]+", "-", name.lower())
    text = re.sub(r"^[^a-z]+", "", text)
    return (text[:limit].rstrip("-") or "pod")[:limit]


def pod_name_candidates(manifest_name: str, user_id: str) -> list[str]:
    """The names a new pod may take, in order: base, base-1, ..., base-9."""
    user = user_string(user_id)
    budget = POD_NAME_MAX - len(user) - 1 - 2  # "-" before the user string, "-N" after
    base = f"{manifest_part(manifest_name, budget)}-{user}"
    return [base + suffix for suffix in NAME_SUFFIXES]


def storage_claim_name(user_id: str) -> str:
    """The user's storage claim in the deployment's namespace (the original's name)."""
    return STORAGE_PREFIX + user_string(user_id)


def volume_name_candidates(user_id: str, namespace: str) -> list[str]:
    """Names a user's new PersistentVolume may take, in order: the claim's own name (as the
    original named volumes), then one distinct per deployment and user. Volumes are
    cluster-wide: a second deployment serving the same user finds the first name taken."""
    claim = storage_claim_name(user_id)
    return [claim, f"{claim}-{digest(namespace + '/' + user_id, 8)}"]


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
