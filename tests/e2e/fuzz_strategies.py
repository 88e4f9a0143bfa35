"""Hypothesis strategies for the fuzz suite: raw HTTP/1.1 requests to every endpoint.

Everything a hostile or broken client can put in a request that is still HTTP (what h11
parses; anything else never reaches the daemon, see docs/api.md): any method, paths and
query strings with any percent-encoded bytes, header values with obs-text bytes, garbage
``X-Forwarded-For``, odd content types, heads far over the limit; bodies that are JSON
objects with every field of every type plus extra fields, strings with lone surrogates, NUL,
non-ASCII or 400,000 characters, invalid JSON, deep nesting, form-encoded and multipart
bodies, bodies over the size limit, chunked bodies.

Real values (:class:`Known`: whitelisted manifest URLs, real user ids, the names their pods
get) are mixed in with a high weight, so that requests get past validation to the manifest
fetch, the creation and the deletion; otherwise nearly every request would stop at the user
id check.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, cached_property
from typing import Any
from urllib.parse import quote, quote_from_bytes, urlencode

from hypothesis import strategies as st

from tests.e2e.rawhttp import Big, RawRequest, Wire
from userpods import naming

USERS = ("fror@dtu.dk", "kaja@ku.dk", "registeredtest7", "a_b.c@sub.uni.dk")
POST_ENDPOINTS = (
    "/get_pods",
    "/create_pod",
    "/watch_create_pod",
    "/delete_pod",
    "/watch_delete_pod",
    "/delete_all_user",
    "/clean_all_unused",
    "/get_pod_logs",
)
GET_ENDPOINTS = ("/get_podip_owner", "/healthz", "/readyz", "/metrics")
ENDPOINTS = POST_ENDPOINTS + GET_ENDPOINTS
METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE", "CONNECT")
# Headers the client itself writes (rawhttp): fuzzing them would only break the framing.
FRAMING = {b"host", b"content-length", b"transfer-encoding", b"connection"}
POD_CIDR = "10.128.0.0/15"  # the daemon's podSubnetCidr in tests/e2e/conftest.py
# The first pod names of the fuzz manifest (test_fuzz.py), for query strings (which are built
# before the stack is known).
POD_NAME_EXAMPLES = tuple(naming.pod_name_candidates("fuzz", user)[0] for user in USERS)


@dataclass(frozen=True)
class Manifest:
    """A manifest served on a whitelisted URL: its pod's name, and the env variables each of
    its containers declares (the ones settings may set)."""

    url: str
    name: str
    containers: tuple[tuple[str, tuple[str, ...]], ...]  # (container, declared env names)


@dataclass(frozen=True)
class Known:
    """What the strategies take from the running stack, so that requests are real enough to
    get past validation."""

    whitelist: str  # the URL prefix the whitelist allows (the manifest server's)
    manifests: tuple[Manifest, ...]

    @cached_property
    def urls(self) -> tuple[str, ...]:
        return tuple(manifest.url for manifest in self.manifests)

    @cached_property
    def containers(self) -> tuple[str, ...]:
        return tuple(name for manifest in self.manifests for name, _ in manifest.containers)

    @cached_property
    def pod_names(self) -> tuple[str, ...]:
        """The names the pods of USERS get."""
        return tuple(
            name
            for manifest in self.manifests
            for user in USERS
            for name in naming.pod_name_candidates(manifest.name, user)
        )


# ---------------------------------------------------------------------- lazy values
# hypothesis keeps drawn values for a while (to mutate and shrink): big ones are drawn as
# recipes, made only when a request is sent (see rawhttp.Big).


@dataclass(frozen=True)
class BigText:
    """A long string in a JSON body: ``head`` + ``unit`` * ``count`` + ``tail``."""

    unit: str
    count: int
    head: str = ""
    tail: str = ""

    def __str__(self) -> str:
        return self.head + self.unit * self.count + self.tail

    def __add__(self, other: str) -> BigText:
        return BigText(self.unit, self.count, self.head, self.tail + other)

    def __radd__(self, other: str) -> BigText:
        return BigText(self.unit, self.count, other + self.head, self.tail)

    def __repr__(self) -> str:
        return f"{self.head!r}+{self.unit!r}*{self.count}+{self.tail!r}"


def _expand(value: Any) -> str:
    if isinstance(value, BigText):
        return str(value)
    raise TypeError(f"not JSON: {value!r}")


@dataclass(frozen=True)
class JsonBody:
    """``value`` as JSON, as a client sends it: ``\\uXXXX`` escapes (``ascii_only``), or
    raw text in ``encoding`` (a lone surrogate then becomes bytes that are not UTF-8, as a
    careless encoder writes them)."""

    value: Any
    ascii_only: bool = True
    encoding: str = "utf-8"

    def __bytes__(self) -> bytes:
        text = json.dumps(self.value, ensure_ascii=self.ascii_only, default=_expand)
        return text.encode(self.encoding, "surrogatepass")


@dataclass(frozen=True)
class Lazy:
    """``make(*args)``, called when the request is sent."""

    make: Callable[..., bytes]
    args: tuple[Any, ...]

    def __bytes__(self) -> bytes:
        return self.make(*self.args)

    def __repr__(self) -> str:
        return f"{self.make.__name__}{self.args!r}"


# ---------------------------------------------------------------------- values

SURROGATE = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
ODD = st.sampled_from("\x00\t\n\r\x7f\x85\u2028\ufeff\uffff\U0010ffff/.%?#\\ @")
HUGE = st.builds(
    BigText,
    st.sampled_from(["x", "é", "\x00", "\ud800", "😀", "%2e", "a/"]),
    st.sampled_from([1_000, 70_000, 400_000]),
)
keys = st.one_of(  # short strings: dictionary keys, parts of URLs
    st.text(max_size=12),
    # st.text drops surrogates from any alphabet: joined by hand, they stay
    st.lists(st.one_of(st.characters(), SURROGATE, ODD), max_size=12).map("".join),
)
strings: st.SearchStrategy[Any] = keys | HUGE  # str or BigText
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | strings,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
    max_leaves=6,
)


def user_ids() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from(USERS),
        st.sampled_from(USERS),
        st.from_regex(naming.USER_ID_RE, fullmatch=True),
        st.sampled_from(USERS).map(str.upper),
        strings,
        json_values,
    )


def pod_names(known: Known) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from(known.pod_names),
        st.sampled_from(known.pod_names),
        st.sampled_from(known.pod_names).map(lambda n: n + "\x00"),
        strings,
        json_values,
    )


def yaml_urls(known: Known) -> st.SearchStrategy[Any]:
    urls = known.urls
    return st.one_of(
        st.sampled_from(urls),
        st.sampled_from(urls),
        st.sampled_from(urls),
        st.builds(operator.add, st.just(known.whitelist), strings),
        st.builds(operator.add, st.sampled_from(urls), strings),
        st.builds(operator.add, strings, st.sampled_from(urls)),
        strings,
        json_values,
    )


@cache
def settings_for(manifest: Manifest) -> st.SearchStrategy[Any]:
    """Settings for ``manifest``: mostly its containers and the variables they declare (the
    only ones that reach the pod), with any string values; sometimes anything at all."""
    containers = [name for name, _ in manifest.containers]
    declared = [env for _, names in manifest.containers for env in names]
    values = st.one_of(strings, strings, strings, json_values)
    env = st.dictionaries(st.sampled_from(declared), values, min_size=1, max_size=2)
    return st.one_of(
        st.dictionaries(st.sampled_from(containers), env, min_size=1, max_size=2),
        st.dictionaries(st.sampled_from(containers), env, min_size=1, max_size=2),
        st.dictionaries(st.sampled_from(containers), env, min_size=1, max_size=2),
        st.none(),
        st.just({}),
        st.dictionaries(
            st.sampled_from(containers) | keys,
            st.dictionaries(st.sampled_from(declared) | keys, values) | json_values,
            max_size=2,
        ),
        json_values,
    )


def json_objects(known: Known) -> st.SearchStrategy[dict[Any, Any]]:
    """A JSON object with any of the API's fields, each any value, and extra fields."""
    fields = st.fixed_dictionaries(
        {},
        optional={
            "user_id": user_ids(),
            "pod_name": pod_names(known),
            "yaml_url": yaml_urls(known),
            "settings": st.sampled_from(known.manifests).flatmap(settings_for),
            "container": st.sampled_from(known.containers) | strings | json_values,
            "tail_lines": st.integers() | st.sampled_from(["10", " 5 ", "-1", "1e3"]) | json_values,
        },
    )
    extra = st.dictionaries(keys, json_values, max_size=3)
    return st.one_of(fields, st.builds(lambda e, f: {**e, **f}, extra, fields))


def well_formed_objects(known: Known) -> st.SearchStrategy[dict[str, Any]]:
    """A body that passes validation for whichever endpoint it goes to, but for the settings
    of a manifest, which may hold anything a string can."""
    return st.sampled_from(known.manifests).flatmap(
        lambda manifest: st.fixed_dictionaries(
            {
                "user_id": st.sampled_from(USERS),
                "pod_name": st.sampled_from(known.pod_names),
                "yaml_url": st.just(manifest.url),
            },
            optional={
                "settings": settings_for(manifest),
                "container": st.sampled_from([name for name, _ in manifest.containers]),
                "tail_lines": st.integers(0, 100),
            },
        )
    )


# ---------------------------------------------------------------------- bodies


def encode_json(value: Any, ascii_only: bool = True) -> JsonBody:
    return JsonBody(value, ascii_only)


def cut(body: JsonBody, length: int) -> bytes:
    return bytes(body)[:length]


def nested(depth: int, opening: bytes) -> bytes:
    closing = b"]" if opening == b"[" else b"}"
    inner = b"1" if opening == b"[" else b""
    head = b'{"user_id": "fror@dtu.dk", "x": '
    key = b'{"a": ' if opening == b"{" else b"["
    tail = closing * depth if opening == b"[" else b"{}" + closing * depth
    return head + key * depth + inner + tail + b"}"


def invalid_json(known: Known) -> st.SearchStrategy[Wire]:
    return st.one_of(
        st.binary(max_size=40),
        st.builds(
            lambda obj, length: Lazy(cut, (JsonBody(obj), length)),
            well_formed_objects(known),
            st.integers(1, 60),
        ),
        st.builds(Big, st.sampled_from([b"[", b"{", b'{"a":', b'"']), st.just(100_000)),
        st.just(Big(b"0", 5000, b'{"user_id": 1', b"}")),  # past int's digit limit
        st.just(b'{"user_id": "fror@dtu.dk", "settings": NaN}'),
        st.just(b'{"user_id": "fror@dtu.dk"}{"user_id": "kaja@ku.dk"}'),
        st.just(b'{"user_id": "fror@dtu.dk", "user_id": "kaja@ku.dk"}'),
        st.just(b'{"user_id": "\xed\xa0\x80"}'),  # a surrogate as raw UTF-8-like bytes
        st.just(b'{"user_id": "fror@dtu.dk", "settings": "\\ud800"}'),
        st.just(b'{"user_id": "fror@dtu.dk", "\\udfff": 1}'),
    )


def form_bodies(known: Known) -> st.SearchStrategy[bytes]:
    """What ``curl -d 'user_id=...&pod_name=...'`` and ``curl -F`` send."""
    pairs = st.dictionaries(
        st.sampled_from(["user_id", "pod_name", "yaml_url", "settings"]) | st.text(max_size=5),
        st.sampled_from(USERS) | st.sampled_from(known.pod_names) | st.text(max_size=20),
        max_size=4,
    )
    multipart = pairs.map(
        lambda d: (
            b"".join(
                b'--xyz\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n'
                % (k.encode("utf-8", "surrogatepass"), v.encode("utf-8", "surrogatepass"))
                for k, v in d.items()
            )
            + b"--xyz--\r\n"
        )
    )
    return st.one_of(pairs.map(lambda d: urlencode(d).encode()), multipart)


def bodies(known: Known) -> st.SearchStrategy[Wire]:
    objects = st.one_of(json_objects(known), well_formed_objects(known))
    return st.one_of(
        st.builds(encode_json, objects, st.booleans()),
        st.builds(encode_json, objects, st.booleans()),
        st.builds(encode_json, objects, st.booleans()),
        st.builds(encode_json, json_values, st.booleans()),  # often not an object
        invalid_json(known),
        st.builds(
            lambda depth, opening: Lazy(nested, (depth, opening)),
            st.sampled_from([10, 500, 900, 5_000, 200_000]),
            st.sampled_from([b"[", b"{"]),
        ),
        form_bodies(known),
        st.just(b""),
        st.builds(
            lambda unit: JsonBody({"user_id": USERS[0], "padding": BigText(unit, 1024 * 1024)}),
            st.sampled_from(["x", "é"]),
        ),
        st.builds(JsonBody, objects, st.just(True), st.sampled_from(["utf-16", "utf-32"])),
    )


# ---------------------------------------------------------------------- heads

TOKEN = st.from_regex(r"[-!#$%&'*+.^_`|~0-9a-zA-Z]{1,20}", fullmatch=True)
# A header value h11 accepts: no control characters but tab (space and tab only inside), any
# byte over 0x7f (obs-text). Drawn as any bytes, the others then turned into letters.
_VALUE_OK = bytes(
    b if b in (0x09, 0x20) or 0x21 <= b != 0x7F else 0x41 + b % 26 for b in range(256)
)
header_values = st.binary(max_size=40).map(lambda b: b.translate(_VALUE_OK).strip(b" \t"))
CONTENT_TYPES = [
    b"application/json",
    b"application/json; charset=utf-8",
    b"application/json; charset=latin-1",
    b"application/JSON",
    b"text/plain",
    b"text/html",
    b"application/x-www-form-urlencoded",
    b"multipart/form-data; boundary=xyz",
    b"multipart/form-data",
    b"application/octet-stream",
    b"*/*",
    b"garbage",
    b"application/json\xff\xfe",
    b"",
]
FORWARDED_FOR = [
    b"8.8.8.8",
    b"garbage",
    b"10.0.0.14",
    b"10.0.0.14, 127.0.0.1",
    b"10.0.3.99",
    b"",
    b",",
    b", 10.0.0.14",
    b"::1",
    b"[::1]",
    b"fe80::1%eth0",
    b"10.0.0.14:1234",
    b"999.1.1.1",
    b"unknown",
    b"\xff\xfe\xfd",
    b"10.0.0.14\xa0",
]
forwarded_for: st.SearchStrategy[Wire] = st.one_of(
    st.sampled_from(FORWARDED_FOR),
    st.builds(Big, st.sampled_from([b"10.0.0.14, ", b"1"]), st.just(5_000)),
)
Headers = tuple[tuple[tuple[bytes, Wire], ...], int]  # (headers, how many X-H<i> on top)


NO_HEADERS: st.SearchStrategy[Headers] = st.just(((), 0))


def headers() -> st.SearchStrategy[Headers]:
    name = TOKEN.map(str.encode).filter(lambda n: n.lower() not in FRAMING)
    chosen = st.fixed_dictionaries(
        {},
        optional={
            b"Content-Type": st.sampled_from(CONTENT_TYPES) | header_values,
            b"X-Forwarded-For": forwarded_for | header_values,
            b"Expect": st.just(b"100-continue"),
            b"Content-Encoding": st.sampled_from([b"gzip", b"br", b"identity", b"x"]),
            b"Accept": st.sampled_from([b"text/html", b"application/json", b"*/*", b"x"]),
            b"Upgrade": st.sampled_from([b"h2c", b"websocket"]),
            b"X-Real-IP": st.sampled_from(FORWARDED_FOR),
        },
    )
    random_ones = st.lists(st.tuples(name, header_values), max_size=4)
    huge: st.SearchStrategy[Headers] = st.one_of(
        st.builds(
            lambda n: (((b"X-Padding", Big(b"a", n)),), 0),
            st.sampled_from([8_000, 60_000, 70_000, 300_000, 900_000]),
        ),
        st.builds(lambda n: ((), n), st.sampled_from([100, 2_000, 5_000])),
    )
    return st.builds(
        lambda chosen, more, big: ((*chosen.items(), *more, *big[0]), big[1]),
        chosen,
        random_ones,
        st.sampled_from([False] * 9 + [True]).flatmap(lambda big: huge if big else NO_HEADERS),
    )


# ---------------------------------------------------------------------- targets

URL_CHARS = "abcdefghijklmnopqrstuvwxyz_/.-~%+;=&?:@!$'()*,0123456789ABCDEF"


def percent_encoded() -> st.SearchStrategy[str]:
    return st.binary(max_size=8).map(lambda b: quote_from_bytes(b, safe=""))


def paths() -> st.SearchStrategy[str | Big]:
    endpoint = st.sampled_from(ENDPOINTS)
    variants = st.one_of(
        endpoint.map(lambda p: p + "/"),
        endpoint.map(lambda p: "/" + p),
        endpoint.map(str.upper),
        endpoint.map(lambda p: "/%" + p[1:2].encode().hex() + p[2:]),  # /%67et_pods
        endpoint.map(lambda p: p + "/extra"),
        endpoint.map(lambda p: p + "%00"),
        endpoint.map(lambda p: "/x/.." + p),
        st.builds(operator.add, endpoint, percent_encoded()),
        st.text(URL_CHARS, max_size=30).map(lambda t: "/" + t),
        st.sampled_from(["*", "/", "//", "/%ff", "/%ED%A0%80", "/..", "/%2e%2e/get_pods"]),
        st.sampled_from(ENDPOINTS).map(lambda p: "http://127.0.0.1" + p),
        st.just(Big(b"/a", 35_000)),
    )
    return st.sampled_from([True] * 3 + [False]).flatmap(
        lambda plain: endpoint if plain else variants
    )


def ips() -> st.SearchStrategy[str]:
    return st.one_of(
        st.ip_addresses(network=POD_CIDR).map(str),
        st.ip_addresses().map(str),
        st.sampled_from(["10.128.0.2", " 10.128.0.2 ", "10.128.0.2\x00", "::ffff:10.128.0.2"]),
        keys,  # short strings (a huge value is the bodies' business, not a query's)
    )


def queries() -> st.SearchStrategy[str]:
    def quoted(text: str) -> str:
        return quote(text, safe="", errors="surrogatepass")

    names = ["ip", "user_id", "pod_name", "container", "tail_lines", "x"]
    pair = st.tuples(
        st.sampled_from(names) | percent_encoded(),
        st.one_of(
            percent_encoded(),
            ips().map(quoted),
            st.sampled_from(USERS).map(quoted),
            st.sampled_from(POD_NAME_EXAMPLES),
            st.sampled_from(["main", "10", "-1"]),
        ),
    )
    return st.one_of(
        st.just(""),
        ips().map(lambda s: "?ip=" + quote(s, safe="", errors="surrogatepass")),
        ips().map(lambda s: "?ip=" + quote(s, safe="", errors="surrogatepass")),
        st.lists(pair, max_size=3).map(lambda ps: "?" + "&".join(f"{k}={v}" for k, v in ps)),
        st.text(URL_CHARS, max_size=30).map(lambda t: "?" + t),
    )


# ---------------------------------------------------------------------- requests


@cache  # building strategies is slow (hypothesis validates each new one): build them once
def requests(known: Known) -> st.SearchStrategy[RawRequest]:
    """Any request, to any endpoint or none."""
    any_path, any_query, any_headers, any_body = paths(), queries(), headers(), bodies(known)
    methods = st.sampled_from(METHODS) | TOKEN

    @st.composite  # a composite's repr is its name: hypothesis shows it with each draw
    def request(draw: st.DrawFn) -> RawRequest:
        path = draw(any_path)
        posted = isinstance(path, str) and any(path.endswith(p) for p in POST_ENDPOINTS)
        usual = "POST" if posted else "GET"
        method = draw(st.sampled_from([usual, usual, ""])) or draw(methods)
        body = draw(any_body) if method not in ("GET", "HEAD") or draw(st.booleans()) else b""
        target = path.encode("ascii") if isinstance(path, str) else path
        headers, many = draw(any_headers)
        return RawRequest(
            method=method,
            target=target + draw(any_query).encode("ascii"),
            headers=headers,
            body=body,
            chunked=draw(st.booleans()) and draw(st.booleans()),
            many_headers=many,
        )

    return request()


@cache
def json_posts(known: Known) -> st.SearchStrategy[RawRequest]:
    """A POST of a JSON body to one of the POST endpoints, as the frontend sends them: the
    body is what varies, so that validation and the flows behind it are reached."""
    any_body = st.one_of(
        st.builds(encode_json, well_formed_objects(known), st.booleans()),
        st.builds(encode_json, json_objects(known), st.booleans()),
        bodies(known),
    )
    nothing: st.SearchStrategy[tuple[tuple[bytes, Wire], ...]] = st.just(())
    forwarded = st.one_of(nothing, nothing, forwarded_for.map(lambda v: ((b"X-Forwarded-For", v),)))

    @st.composite  # a composite's repr is its name: hypothesis shows it with each draw
    def json_post(draw: st.DrawFn) -> RawRequest:
        headers = ((b"Content-Type", b"application/json"), *draw(forwarded))
        return RawRequest(
            "POST", draw(st.sampled_from(POST_ENDPOINTS)).encode(), headers, draw(any_body)
        )

    return json_post()
