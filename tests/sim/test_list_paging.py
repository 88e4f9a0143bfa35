"""Lists in chunks (``limit`` / ``continue``) over HTTP, as kube-apiserver v1.37.2 answered the
same requests (measured; see ``userpods.sim.paging``), and through lightkube's ``chunk_size``.

The pods are unscheduled, so nothing but the test writes: every resourceVersion is the test's.
Token expiry is driven through the pager (``compact``, ``ttl``, ``capacity``), never by waiting.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import httpx2
import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st
from lightkube import AsyncClient
from lightkube.resources.core_v1 import Pod

from userpods.sim import SimCluster
from userpods.sim import kinds as k
from userpods.sim.http import Request
from userpods.sim.paging import INCONSISTENT_CONTINUE, Pager
from userpods.sim.selectors import labels_match, parse_label_selector
from userpods.sim.store import Store

from .helpers import make_pod, raw_client, raw_watch

PODS = "/api/v1/namespaces/test/pods"
NAMES = [f"p-{i}" for i in range(7)]
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"


@pytest.fixture
async def seven(kube: AsyncClient) -> None:
    """Pods p-0 .. p-6, labelled odd=0|1 (request it as an argument)."""
    for i, name in enumerate(NAMES):
        await kube.create(make_pod(name, unscheduled=True, labels={"odd": str(i % 2)}))


def token(body: dict[str, Any]) -> dict[str, Any]:
    raw = body["metadata"]["continue"]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    return decoded


def encode(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def pod_name(pod: Pod) -> str:
    assert pod.metadata is not None
    return str(pod.metadata.name)


def names(body: dict[str, Any]) -> list[str]:
    return [item["metadata"]["name"] for item in body["items"]]


async def get(client: httpx2.AsyncClient, path: str = PODS, **params: str) -> dict[str, Any]:
    response = await client.get(path, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def all_pages(
    client: httpx2.AsyncClient, path: str = PODS, **params: str
) -> list[dict[str, Any]]:
    """Every chunk of a list, following the tokens (at most 100 chunks)."""
    pages = [await get(client, path, **params)]
    for _ in range(100):
        following = pages[-1]["metadata"].get("continue")
        if not following:
            return pages
        pages.append(await get(client, path, **{**params, "continue": following}))
    raise AssertionError("the list did not end")


async def status(client: httpx2.AsyncClient, code: int, **params: str) -> dict[str, Any]:
    response = await client.get(PODS, params=params)
    assert response.status_code == code, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert body["kind"] == "Status" and body["code"] == code
    return body


@pytest.mark.parametrize("limit", [1, 2, 3, 6, 7, 8, 500])
async def test_chunks_make_the_whole_list_in_order(
    sim: SimCluster, seven: None, limit: int
) -> None:
    async with raw_client(sim) as client:
        whole = await get(client)
        pages = await all_pages(client, limit=str(limit))
    assert "continue" not in whole["metadata"]
    assert [name for page in pages for name in names(page)] == names(whole) == NAMES
    assert all(len(page["items"]) <= limit for page in pages)
    assert len(pages) == max(1, -(-len(NAMES) // limit))
    assert {page["metadata"]["resourceVersion"] for page in pages} == {
        whole["metadata"]["resourceVersion"]
    }
    assert all(page["kind"] == "PodList" for page in pages)


async def test_remaining_item_count_and_the_token(sim: SimCluster, seven: None) -> None:
    async with raw_client(sim) as client:
        pages = await all_pages(client, limit="3")
        exact = await get(client, limit="7")
        whole = await all_pages(client, "/api/v1/pods", limit="2")
    assert [p["metadata"].get("remainingItemCount") for p in pages] == [4, 1, None]
    rv = int(pages[0]["metadata"]["resourceVersion"])
    # The real token: base64url of the version, the list's RV and the key after the last item.
    assert token(pages[0]) == {"v": "meta.k8s.io/v1", "rv": rv, "start": "/p-2\x00"}
    assert "continue" not in pages[-1]["metadata"]
    assert "continue" not in exact["metadata"] and "remainingItemCount" not in exact["metadata"]
    assert token(whole[0])["start"] == "/test/p-1\x00"  # all namespaces: /namespace/name


async def test_chunks_are_one_snapshot(sim: SimCluster, kube: AsyncClient, seven: None) -> None:
    """What is created, changed or deleted after the first chunk does not show in the others."""
    async with raw_client(sim) as client:
        first = await get(client, limit="2")
        await kube.create(make_pod("p-00", unscheduled=True))  # sorts into a later chunk
        await kube.create(make_pod("z-new", unscheduled=True))
        await kube.delete(Pod, "p-5", grace_period=0)
        await kube.patch(Pod, "p-4", {"metadata": {"labels": {"odd": "changed"}}})
        rest = await all_pages(client, limit="2", **{"continue": first["metadata"]["continue"]})
        after = await get(client)
    pages = [first, *rest]
    assert [name for page in pages for name in names(page)] == NAMES
    p4 = next(i for page in pages for i in page["items"] if i["metadata"]["name"] == "p-4")
    assert p4["metadata"]["labels"] == {"odd": "0"}
    assert {page["metadata"]["resourceVersion"] for page in pages} == {
        first["metadata"]["resourceVersion"]
    }
    assert names(after) == ["p-0", "p-00", "p-1", "p-2", "p-3", "p-4", "p-6", "z-new"]
    assert int(after["metadata"]["resourceVersion"]) > int(first["metadata"]["resourceVersion"])


async def test_an_expired_token_is_410_with_a_token_to_go_on(
    sim: SimCluster, kube: AsyncClient, seven: None
) -> None:
    async with raw_client(sim) as client:
        first = await get(client, limit="3")
        await kube.create(make_pod("p-9", unscheduled=True))
        sim.api.pager.compact()  # as an etcd compaction
        gone = await status(client, 410, limit="3", **{"continue": first["metadata"]["continue"]})
        assert gone["reason"] == "Expired"
        assert gone["message"] == INCONSISTENT_CONTINUE
        assert gone["message"].startswith("The provided continue parameter is too old")
        assert "details" not in gone
        # The Status's token goes on from the same key, in the current state (etcd3 writes its
        # start without the leading slash).
        assert token(gone) == {"v": "meta.k8s.io/v1", "rv": -1, "start": "p-2\x00"}
        going_on = await get(client, limit="3", **{"continue": gone["metadata"]["continue"]})
        current = await get(client)
    assert names(going_on) == ["p-3", "p-4", "p-5"]
    assert going_on["metadata"]["resourceVersion"] == current["metadata"]["resourceVersion"]
    assert going_on["metadata"]["remainingItemCount"] == 2  # p-6 and the new p-9
    assert token(going_on)["rv"] == int(current["metadata"]["resourceVersion"])


async def test_tokens_expire_after_the_ttl(sim: SimCluster, kube: AsyncClient, seven: None) -> None:
    sim.api.pager.ttl = 0.0
    async with raw_client(sim) as client:
        first = await get(client, limit="2")
        # No write since: the store is still that version, so the token goes on (as etcd's
        # current revision survives a compaction).
        assert names(await get(client, limit="2", **{"continue": first["metadata"]["continue"]}))
        await kube.create(make_pod("p-9", unscheduled=True))
        await status(client, 410, limit="2", **{"continue": first["metadata"]["continue"]})


async def test_snapshots_are_bounded(sim: SimCluster, kube: AsyncClient, seven: None) -> None:
    sim.api.pager.capacity = 2
    async with raw_client(sim) as client:
        firsts = []
        for i in range(3):
            firsts.append(await get(client, limit="2"))
            await kube.create(make_pod(f"q-{i}", unscheduled=True))
        assert sim.api.pager.snapshots == 2
        await status(client, 410, limit="2", **{"continue": firsts[0]["metadata"]["continue"]})
        for body in firsts[1:]:  # the two most recent are kept
            following = await get(client, limit="2", **{"continue": body["metadata"]["continue"]})
            assert following["metadata"]["resourceVersion"] == body["metadata"]["resourceVersion"]


async def test_a_snapshot_holds_the_stored_objects_not_copies(sim: SimCluster, seven: None) -> None:
    async with raw_client(sim) as client:
        await get(client, limit="2")
    assert sim.api.pager.snapshots == 1
    ((objects, _),) = sim.api.pager._snapshots.values()
    stored = [sim.api.store.get(k.POD, "test", name) for name in NAMES]
    assert len(objects) == len(stored) and all(a is b for a, b in zip(objects, stored, strict=True))


TOKENS = [
    ("xyz!", "illegal base64 data at input byte 3"),
    ("ab+/", "illegal base64 data at input byte 2"),
    ("abcde", "illegal base64 data at input byte 4"),
    (encode({"v": "meta.k8s.io/v1", "rv": 5, "start": "/x"}) + "==", None),
    ("abc", "invalid character 'i' looking for beginning of value"),
    ("bm90anNvbg", "invalid character 'o' in literal null (expecting 'u')"),
    ("IA", "unexpected end of JSON input"),  # a space
    (encode([1]), "json: cannot unmarshal array into Go value of type storage.continueToken"),
    (
        encode({"v": "meta.k8s.io/v1", "rv": "5", "start": "/x"}),
        "json: cannot unmarshal string into Go struct field continueToken.rv of type int64",
    ),
    (
        encode({"v": "meta.k8s.io/v1", "rv": 5.5, "start": "/x"}),
        "json: cannot unmarshal number 5.5 into Go struct field continueToken.rv of type int64",
    ),
    (
        encode({"v": 5}),
        "json: cannot unmarshal number into Go struct field continueToken.v of type string",
    ),
    ({}, "server does not recognize this encoded version "),
    ({"v": "v9", "rv": 5, "start": "x"}, "server does not recognize this encoded version v9"),
    (
        {"v": "meta.k8s.io/v1", "rv": 0, "start": "x"},
        "incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
    ),
    (
        {"v": "meta.k8s.io/v1", "rv": 5, "start": ""},
        "encoded start key empty (version meta.k8s.io/v1)",
    ),
    ({"v": "meta.k8s.io/v1", "rv": 5, "start": "../x"}, "../x"),
    ({"v": "meta.k8s.io/v1", "rv": 5, "start": "a/../b"}, "a/../b"),
    ({"v": "meta.k8s.io/v1", "rv": -1, "start": "//x"}, "//x"),
]


@pytest.mark.parametrize(("bad", "detail"), TOKENS)
async def test_a_malformed_token_is_400(sim: SimCluster, bad: Any, detail: str | None) -> None:
    text = bad if isinstance(bad, str) else encode(bad)
    if detail is None:  # padding: the first "=" is the bad byte
        detail = f"illegal base64 data at input byte {text.index('=')}"
    async with raw_client(sim) as client:
        body = await status(client, 400, limit="2", **{"continue": text})
    assert body["reason"] == "BadRequest"
    assert body["message"] == f"invalid continue token: continue key is not valid: {detail}"


async def test_tokens_read_as_the_apiserver_reads_them(sim: SimCluster, seven: None) -> None:
    async with raw_client(sim) as client:
        rv = int((await get(client))["metadata"]["resourceVersion"])
        # Field names in any case, a start without the leading slash or the NUL, rv -1.
        loose = {"V": "meta.k8s.io/v1", "RV": rv, "Start": "p-4"}
        assert names(await get(client, limit="2", **{"continue": encode(loose)})) == ["p-4", "p-5"]
        beyond = await get(client, limit="2", **{"continue": encode({**loose, "Start": "/zzz"})})
        assert names(beyond) == [] and "continue" not in beyond["metadata"]
        newer = await status(client, 504, **{"continue": encode({**loose, "RV": rv + 1000})})
        assert (
            newer["message"] == f"Timeout: Too large resource version: {rv + 1000}, current: {rv}"
        )
        assert newer["reason"] == "Timeout"
        assert newer["details"]["causes"] == [
            {"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}
        ]
        first = await get(client, limit="3")
        following = first["metadata"]["continue"]
        pinned = await status(client, 400, **{"continue": following, "resourceVersion": "5"})
        assert pinned["message"] == "specifying resource version is not allowed when using continue"
        # resourceVersion=0 is allowed, and (the watch cache serving it) drops the limit.
        rest = await get(client, limit="3", resourceVersion="0", **{"continue": following})
        assert names(rest) == NAMES[3:] and "continue" not in rest["metadata"]
        # No limit with a token: the rest of the snapshot.
        assert names(await get(client, **{"continue": following})) == NAMES[3:]
        assert names(await get(client, limit="2", **{"continue": ""})) == NAMES[:2]


@pytest.mark.parametrize(
    ("limit", "expected"),
    [("0", 7), ("-1", 7), ("-0", 7), ("+2", 2), ("2", 2)],
)
async def test_limit_values(sim: SimCluster, seven: None, limit: str, expected: int) -> None:
    async with raw_client(sim) as client:
        body = await get(client, limit=limit)
        first_wins = (await client.get(f"{PODS}?limit=2&limit=5")).json()
        cached = await get(client, limit="2", resourceVersion="0")
    assert len(body["items"]) == expected
    assert ("continue" in body["metadata"]) == (expected < 7)
    assert len(first_wins["items"]) == 2
    assert len(cached["items"]) == 7 and "continue" not in cached["metadata"]


@pytest.mark.parametrize(
    ("limit", "message"),
    [
        ("abc", 'strconv.ParseInt: parsing "abc": invalid syntax'),
        ("", 'strconv.ParseInt: parsing "": invalid syntax'),
        ("1.5", 'strconv.ParseInt: parsing "1.5": invalid syntax'),
        ("1_0", 'strconv.ParseInt: parsing "1_0": invalid syntax'),
        (" 2", 'strconv.ParseInt: parsing " 2": invalid syntax'),
        (
            "99999999999999999999",
            'strconv.ParseInt: parsing "99999999999999999999": value out of range',
        ),
    ],
)
async def test_a_bad_limit_is_400(sim: SimCluster, limit: str, message: str) -> None:
    async with raw_client(sim) as client:
        body = await status(client, 400, limit=limit, sendInitialEvents="true")
    assert body["message"] == message and body["reason"] == "BadRequest"


async def test_list_options_are_validated_in_one_422(sim: SimCluster) -> None:
    async with raw_client(sim) as client:
        both = await status(
            client,
            422,
            resourceVersionMatch="Exact",
            resourceVersion="0",
            sendInitialEvents="false",
        )
        bogus = await status(client, 422, resourceVersionMatch="bogus", resourceVersion="5")
        cont = await status(client, 422, resourceVersionMatch="NotOlderThan", **{"continue": "x"})
    assert both["message"] == (
        'ListOptions.meta.k8s.io "" is invalid: [resourceVersionMatch: Forbidden: '
        'resourceVersionMatch "exact" is forbidden for resourceVersion "0", sendInitialEvents: '
        "Forbidden: sendInitialEvents is forbidden for list]"
    )
    assert both["details"]["kind"] == "ListOptions" and both["details"]["group"] == "meta.k8s.io"
    assert [c["field"] for c in both["details"]["causes"]] == [
        "resourceVersionMatch",
        "sendInitialEvents",
    ]
    assert bogus["details"]["causes"] == [
        {
            "reason": "FieldValueNotSupported",
            "message": 'Unsupported value: "bogus": supported values: "Exact", "NotOlderThan", ""',
            "field": "resourceVersionMatch",
        }
    ]
    assert [c["message"] for c in cont["details"]["causes"]] == [
        "Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided",
        "Forbidden: resourceVersionMatch is forbidden when continue is provided",
    ]


async def test_selected_lists_page_without_a_count(sim: SimCluster, seven: None) -> None:
    async with raw_client(sim) as client:
        odd = await all_pages(client, limit="2", labelSelector="odd=1")
        # A chunk is full at 3 and another pod (p-6, not matching) follows: a token, then an
        # empty last chunk, as etcd answers.
        full = await all_pages(client, limit="3", labelSelector="odd=1")
        fields = await get(client, limit="2", fieldSelector="metadata.name!=p-0")
    assert [names(page) for page in odd] == [["p-1", "p-3"], ["p-5"]]
    assert [names(page) for page in full] == [["p-1", "p-3", "p-5"], []]
    assert all("remainingItemCount" not in page["metadata"] for page in [*odd, *full, fields])
    assert names(fields) == ["p-1", "p-2"] and "continue" in fields["metadata"]


async def test_tables_page_too(sim: SimCluster, seven: None) -> None:
    async with raw_client(sim) as client:
        response = await client.get(PODS, params={"limit": "3"}, headers={"Accept": TABLE})
        table = response.json()
        following = await client.get(
            PODS,
            params={"limit": "5", "continue": table["metadata"]["continue"]},
            headers={"Accept": TABLE},
        )
    assert table["kind"] == "Table"
    assert [row["cells"][0] for row in table["rows"]] == NAMES[:3]
    assert table["metadata"]["remainingItemCount"] == 4
    rest = following.json()
    assert [row["cells"][0] for row in rest["rows"]] == NAMES[3:]
    assert rest["metadata"] == {"resourceVersion": table["metadata"]["resourceVersion"]}


async def test_lightkube_lists_in_chunks(sim: SimCluster, kube: AsyncClient, seven: None) -> None:
    sim.api.counters.reset()
    listed = [pod_name(pod) async for pod in kube.list(Pod, chunk_size=2)]
    assert listed == NAMES
    assert sim.api.counters.requests[("list", "pods")] == 4
    selected = [pod_name(p) async for p in kube.list(Pod, chunk_size=1, labels={"odd": "0"})]
    assert selected == ["p-0", "p-2", "p-4", "p-6"]


async def test_watches_ignore_limit(sim: SimCluster, seven: None) -> None:
    async with raw_client(sim) as client:
        seen: list[str] = []
        with trio.fail_after(5):
            async for event in raw_watch(client, PODS, {"limit": "2"}):
                seen.append(event["object"]["metadata"]["name"])
                if len(seen) == len(NAMES):
                    break
    assert seen == NAMES


# ----------------------------------------------------------------------------- in process

SPACES = ("a", "a-b", "b")
write_st = st.tuples(
    st.booleans(),  # put (True) or remove
    st.sampled_from(SPACES),
    st.sampled_from([f"n{i}" for i in range(12)]),
    st.sampled_from(("x", "y")),
)


def stored_pod(namespace: str, name: str, app: str) -> dict[str, Any]:
    meta = {"name": name, "namespace": namespace, "uid": f"{namespace}/{name}"}
    return {"metadata": {**meta, "labels": {"app": app}}, "spec": {}}


def label_matcher(req: Request, kind: k.Kind) -> Callable[[dict[str, Any]], bool]:
    labels = parse_label_selector(req.param("labelSelector"))
    return lambda obj: labels_match(labels, obj["metadata"].get("labels"))


def apply(store: Store, write: tuple[bool, str, str, str]) -> None:
    put, namespace, name, app = write
    if put:
        created = store.get(k.POD, namespace, name) is None
        store.put(k.POD, stored_pod(namespace, name, app), created=created)
    else:
        store.remove(k.POD, namespace, name)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(write_st, max_size=30),
    st.integers(min_value=1, max_value=8),
    st.sampled_from((None, *SPACES)),
    st.sampled_from(("", "app=x", "app!=x")),
    st.lists(st.lists(write_st, max_size=3), max_size=12),
)
def test_chunks_are_the_list_at_the_first_chunk(
    writes: list[Any], limit: int, namespace: str | None, selector: str, between: list[Any]
) -> None:
    """Whatever is written between chunks, their concatenation is the list as it was."""
    store = Store()
    for write in writes:
        apply(store, write)
    pager = Pager(store, clock=lambda: 0.0)
    path = "/api/v1/pods" if namespace is None else f"/api/v1/namespaces/{namespace}/pods"
    query = {"limit": [str(limit)], **({"labelSelector": [selector]} if selector else {})}
    everything = store.list(k.POD, namespace)
    expected = [o for o in everything if label_matcher(Request("GET", path, query, {}), k.POD)(o)]
    rv = str(store.rv)
    pages = [pager.page(Request("GET", path, query, {}), k.POD, namespace, label_matcher)]
    for more in [*between, *([[]] * 60)]:
        if not pages[-1].token:
            break
        for write in more:
            apply(store, write)
        req = Request("GET", path, {**query, "continue": [pages[-1].token]}, {})
        pages.append(pager.page(req, k.POD, namespace, label_matcher))
    assert not pages[-1].token
    assert [obj for page in pages for obj in page.items] == expected
    assert all(len(page.items) <= limit and page.resource_version == rv for page in pages)
    seen = 0
    for page in pages:
        seen += len(page.items)
        if selector or not page.token:
            assert page.remaining is None
        else:
            assert page.remaining == len(everything) - seen
