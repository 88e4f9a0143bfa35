"""Reading token files out of a pod: every key in one exec.

An exec is the dearest call a creation makes (a connection, a TLS handshake and a websocket of
its own), and a pod has two or three keys. ``head -c LIMIT /tmp/a /tmp/b`` reads them all at
once: for more than one file, head (GNU coreutils and busybox alike) writes each file's bytes
after a header line ``==> /tmp/a <==``, the headers after the first preceded by a newline, and
names each file it cannot open on stderr (exit code 1). The pod writes the files, so their
bytes may forge a header: when a header of a key appears more than once, or for a file head
could not open, or head answers otherwise than that, each key is read by an exec of its own,
which nothing in a file can confuse; so is each key when the exec fails (KWOK reports head's
exit code 1, a file missing, as an error). An image without ``head`` (exit code 127) is read with
``cat`` and cut at the limit, one key at a time.
"""

from __future__ import annotations

from typing import Any

import trio
from lightkube import ApiError

from userpods.kube import KubeUnavailable

Reading = tuple[str | None, str]  # (the token, "") or (None, why it could not be read)


def path_of(key: str) -> str:
    return f"/tmp/{key}"


def split_heads(out: str, err: str, keys: list[str]) -> dict[str, Reading] | None:
    """The readings of ``keys`` from head's output for several files; None when the output
    cannot be told apart (see the module docstring)."""
    headers = {key: f"==> {path_of(key)} <==\n" for key in keys}
    if any(out.count(header) > 1 for header in headers.values()):
        return None
    unopened = {key for key in keys if f"'{path_of(key)}'" in err}
    starts = {key: out.find(header) for key, header in headers.items()}
    present = [key for key in keys if starts[key] >= 0]
    if unopened & set(present) or len(present) + len(unopened) != len(keys):
        return None
    if present != sorted(present, key=starts.__getitem__) or (present and starts[present[0]]):
        return None
    found: dict[str, Reading] = {}
    for index, key in enumerate(present):
        begin = starts[key] + len(headers[key])
        end = starts[present[index + 1]] - 1 if index + 1 < len(present) else len(out)
        if end < begin or (index + 1 < len(present) and out[end] != "\n"):
            return None
        found[key] = (out[begin:end].strip(), "")
    for key in unopened:
        line = next(line for line in err.splitlines() if f"'{path_of(key)}'" in line)
        found[key] = (None, line.strip())
    return found


async def read_one(kube: Any, pod: str, container: str, key: str, limit: int) -> Reading:
    """One read of /tmp/<key> by an exec of its own."""
    path = path_of(key)
    try:
        reply = await kube.exec(pod, ["head", "-c", str(limit), path], container=container)
        if reply.exit_code == 127:  # no head in this image
            reply = await kube.exec(pod, ["cat", path], container=container)
    except (ApiError, KubeUnavailable) as exc:
        return None, str(exc)
    if reply.exit_code == 0:
        return str(reply.stdout or "")[:limit].strip(), ""
    return None, (reply.stderr or f"exit code {reply.exit_code}").strip()


async def read_all(
    kube: Any, pod: str, container: str, keys: list[str], limit: int, into: dict[str, Reading]
) -> None:
    """A reading of each of ``keys`` into ``into``, each as soon as it is known (a deadline
    may end the reading midway): one exec for all of them when head's answer tells them
    apart, else one per key, side by side."""
    if len(keys) > 1:
        command = ["head", "-c", str(limit), *(path_of(key) for key in keys)]
        try:
            # One try: a failure falls back to the reads key by key, which retry (KWOK reports
            # head's exit code 1 as a 500, which the back-off would retry for seconds).
            reply = await kube.exec(pod, command, container=container, retry=False)
        except (ApiError, KubeUnavailable):
            reply = None
        if reply is not None and reply.exit_code in (0, 1):
            found = split_heads(str(reply.stdout or ""), str(reply.stderr or ""), keys)
            if found is not None:
                into.update(found)
                return

    async def one(key: str) -> None:
        into[key] = await read_one(kube, pod, container, key, limit)

    async with trio.open_nursery() as nursery:
        for key in keys:
            nursery.start_soon(one, key)
