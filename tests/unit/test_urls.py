"""Manifest URLs: every trick that could make the whitelisted string and the fetched URL
differ is refused or normalised away, and httpx2 requests exactly the normalised URL."""

from __future__ import annotations

import re
from urllib.parse import unquote

import httpx2
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from userpods.daemon import urls
from userpods.daemon.urls import URLRefused, normalise, remove_dot_segments, resolve

OK = "http://manifests.example/ok/"  # a whitelisted prefix
FORBIDDEN_CHARS = re.compile(r"[\x00-\x20\x7f-\U0010ffff\\\"<>^`{|}#]")
ENCODED_STRUCTURE = re.compile(r"%(2e|2f|5c)", re.IGNORECASE)


def refused(url: str) -> str:
    with pytest.raises(URLRefused) as caught:
        normalise(url)
    return str(caught.value)


def server_view(path: str) -> str:
    """What a lenient server makes of a request path: it decodes percent-encodings once, reads
    backslashes as slashes and removes dot segments (nginx, many static file servers)."""
    return remove_dot_segments(unquote(path).replace("\\", "/"))


# ---------------------------------------------------------------------- dot segments


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (OK + "../no/plain.yaml", "http://manifests.example/no/plain.yaml"),
        (OK + "./p.yaml", OK + "p.yaml"),
        (OK + "a/../p.yaml", OK + "p.yaml"),
        (OK + "a/./b/../../p.yaml", OK + "p.yaml"),
        (OK + "../../../../etc/passwd", "http://manifests.example/etc/passwd"),
        (OK + "..", "http://manifests.example/"),
        (OK + ".", OK),
        (OK + "a/..", OK),
        (OK + "a/.", OK + "a/"),
        (OK + "..a/.b/c../d./", OK + "..a/.b/c../d./"),  # not dot segments
        (OK + "a//../p.yaml", OK + "a/p.yaml"),
        ("http://manifests.example", "http://manifests.example/"),
        ("http://manifests.example?x", "http://manifests.example/?x"),
    ],
)
def test_dot_segments_are_removed_before_matching(url: str, expected: str) -> None:
    assert str(normalise(url)) == expected


@pytest.mark.parametrize(
    "segment",
    ["%2e%2e", "%2E%2E", ".%2E", ".%2e", "%2e.", "%2E.", "%2e", "%2E", "a%2e", "%2ea"],
)
def test_percent_encoded_dots_in_the_path_are_refused(segment: str) -> None:
    for url in (f"{OK}{segment}/no.yaml", f"{OK}{segment}", f"{OK}x/{segment}/../y"):
        assert "'.' percent-encoded" in refused(url), url


@pytest.mark.parametrize("encoded", ["%2f", "%2F", "%5c", "%5C"])
def test_percent_encoded_slashes_and_backslashes_are_refused(encoded: str) -> None:
    message = refused(f"{OK}..{encoded}no/plain.yaml")
    assert "percent-encoded" in message and encoded in message, message


@pytest.mark.parametrize("segment", ["..;", "..;x=1", ".;", ".;a"])
def test_dot_segments_with_path_parameters_are_refused(segment: str) -> None:
    assert "read as a dot segment" in refused(f"{OK}{segment}/no/plain.yaml")


def test_encoded_dots_and_slashes_in_the_query_are_kept() -> None:
    url = OK + "p.yaml?path=%2e%2e%2Fx&b=..%5c"
    assert str(normalise(url)) == url


# ---------------------------------------------------------------------- characters


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (OK + "a\\..\\..\\no", "backslash"),
        ("http:\\\\evil.example\\x", "backslash"),
        (OK + "a b.yaml", "whitespace (U+0020)"),
        (" " + OK, "whitespace (U+0020) at position 0"),
        (OK + "\t", "whitespace (U+0009)"),
        (OK + "p.yaml\n", "whitespace (U+000A)"),
        (OK + "p.yaml\r\nHost: evil", "whitespace (U+000D)"),
        (OK + "p\x00.yaml", "control character (U+0000)"),
        (OK + "p\x1b.yaml", "control character (U+001B)"),
        (OK + "p\x7f", "control character (U+007F)"),
        (OK + "é.yaml", "non-ASCII character (U+00E9)"),
        ("http://manifésts.example/ok/", "non-ASCII character (U+00E9)"),
        ("http://manifests\u3002example/ok/", "non-ASCII character (U+3002)"),  # ideographic dot
        (OK + "\ud800", "non-ASCII character (U+D800)"),
        (OK + "\u00a0", "non-ASCII character (U+00A0)"),
        (OK + "\ufeff", "non-ASCII character (U+FEFF)"),
        (OK + "<script>", "'<'"),
        (OK + "a|b", "'|'"),
        (OK + "a%zz", "malformed percent-encoding"),
        (OK + "a%4", "malformed percent-encoding"),
        (OK + "a%", "malformed percent-encoding"),
        (OK + "a%00", "percent-encoded control character"),
        (OK + "a%0A", "percent-encoded control character"),
        (OK + "a[1]", "'['"),
        (OK + "p?a[1]", "'['"),
        (OK + "p?%g0", "malformed percent-encoding"),
    ],
)
def test_forbidden_characters_are_refused(url: str, expected: str) -> None:
    message = refused(url)
    assert expected in message, message


def test_length_is_bounded_before_anything_else() -> None:
    message = refused(OK + "a" * 70_000)
    assert message == f"it is longer than {urls.MAX_URL_LENGTH} characters"
    assert refused("\ud800" * 70_000) == message  # no character was looked at
    longest = OK + "a" * (urls.MAX_URL_LENGTH - len(OK))
    assert str(normalise(longest)) == longest


# ---------------------------------------------------------------------- the authority


@pytest.mark.parametrize(
    "url",
    [
        "https://evil@manifests.example/ok/p.yaml",
        "https://manifests.example@evil.example/ok/p.yaml",
        "https://user:pass@manifests.example/ok/p.yaml",
        "https://@manifests.example/",
        "https://manifests.example:443@evil.example/",
    ],
)
def test_userinfo_is_refused(url: str) -> None:
    assert "userinfo" in refused(url)


def test_an_at_sign_in_the_path_or_query_is_not_userinfo() -> None:
    url = "https://manifests.example/ok/@evil.example?to=a@b"
    assert normalise(url).host == "manifests.example"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http:///ok/p.yaml", "no host"),
        ("http://", "no host"),
        ("http://:80/", "no host"),
        ("http://manifests.example./ok/", "malformed"),
        ("http://manifests..example/ok/", "malformed"),
        ("http://-manifests.example/", "malformed"),
        ("http://manifests_example/", "malformed"),
        ("http://manifests%2eexample/", "malformed"),
        ("http://" + "a" * 64 + ".example/", "malformed"),
        ("http://127.1/", "not a dotted-quad"),
        ("http://2130706433/", "not a dotted-quad"),
        ("http://0x7f.0.0.1/", "not a dotted-quad"),
        ("http://127.000.000.001/", "not a dotted-quad"),
        ("http://256.0.0.1/", "not a dotted-quad"),
        ("http://[::1/", "no closing ]"),
        ("http://[fe80::1%25eth0]/", "IPv6 host is malformed"),
        ("http://[v1.x]/", "IPv6 host is malformed"),
        ("http://[::g]/", "IPv6 host is malformed"),
        ("http://[::1]x/", "malformed"),
        ("http://manifests.example:0/", "port '0'"),
        ("http://manifests.example:65536/", "port '65536'"),
        ("http://manifests.example:8x/", "port '8x'"),
        ("http://manifests.example:1:2/", "port '1:2'"),
        ("http://manifests.example:-1/", "port '-1'"),
    ],
)
def test_malformed_hosts_and_ports_are_refused(url: str, expected: str) -> None:
    message = refused(url)
    assert expected in message, message


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTP://MANIFESTS.Example/OK/P.yaml", "http://manifests.example/OK/P.yaml"),
        ("HtTpS://Manifests.EXAMPLE/ok/", "https://manifests.example/ok/"),
        ("http://manifests.example:80/ok/", "http://manifests.example/ok/"),
        ("https://manifests.example:443/ok/", "https://manifests.example/ok/"),
        ("http://manifests.example:443/ok/", "http://manifests.example:443/ok/"),
        ("https://manifests.example:0080/ok/", "https://manifests.example:80/ok/"),
        ("http://manifests.example:/ok/", "http://manifests.example/ok/"),
        ("http://127.0.0.1:8080/ok/", "http://127.0.0.1:8080/ok/"),
        ("http://[::1]:8080/ok/", "http://[::1]:8080/ok/"),
        ("http://[0:0::1]/ok/", "http://[::1]/ok/"),
        ("http://[2001:DB8::A]/ok/", "http://[2001:db8::a]/ok/"),
        ("http://xn--mnchen-3ya.example/", "http://xn--mnchen-3ya.example/"),
    ],
)
def test_scheme_host_and_port_are_normalised(url: str, expected: str) -> None:
    assert str(normalise(url)) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("file:///etc/passwd", "not file"),
        ("ftp://manifests.example/p.yaml", "not ftp"),
        ("javascript:alert(1)", "not javascript"),
        ("//manifests.example/ok/", "no scheme"),
        ("/ok/p.yaml", "no scheme"),
        ("manifests.example/ok/p.yaml", "no scheme"),
        ("http:manifests.example/ok/", "must be followed by //host"),
        ("http:/manifests.example/ok/", "must be followed by //host"),
        ("", "no scheme"),
    ],
)
def test_only_http_and_https_urls(url: str, expected: str) -> None:
    message = refused(url)
    assert expected in message, message


# ---------------------------------------------------------------------- path, query, fragment


def test_fragments_are_dropped() -> None:
    assert str(normalise(OK + "p.yaml#../../no")) == OK + "p.yaml"
    assert str(normalise(OK + "p.yaml?q=1#frag")) == OK + "p.yaml?q=1"
    assert str(normalise(OK + "p.yaml#")) == OK + "p.yaml"
    assert str(normalise("http://manifests.example#x")) == "http://manifests.example/"


def test_percent_encodings_of_the_path_are_normalised_and_the_query_kept() -> None:
    url = normalise(OK + "%41%7e%2d%5F%3a%c3%a9?q=%7e%2e%aa&&=?")
    assert url.path == "/ok/A~-_%3A%C3%A9"
    assert url.query == "q=%7e%2e%aa&&=?"


def test_an_empty_query_is_kept() -> None:
    assert str(normalise(OK + "p.yaml?")) == OK + "p.yaml?"
    assert normalise(OK + "p.yaml").query is None


# ---------------------------------------------------------------------- redirects

RFC_BASE = "http://a/b/c/d;p?q"


@pytest.mark.parametrize(
    ("reference", "expected"),
    [  # RFC 3986 section 5.4 (fragments dropped, "//g" given its "/" path)
        ("g", "http://a/b/c/g"),
        ("./g", "http://a/b/c/g"),
        ("g/", "http://a/b/c/g/"),
        ("/g", "http://a/g"),
        ("//g", "http://g/"),
        ("?y", "http://a/b/c/d;p?y"),
        ("g?y", "http://a/b/c/g?y"),
        ("#s", "http://a/b/c/d;p?q"),
        ("g#s", "http://a/b/c/g"),
        ("g?y#s", "http://a/b/c/g?y"),
        (";x", "http://a/b/c/;x"),
        ("g;x", "http://a/b/c/g;x"),
        ("g;x?y#s", "http://a/b/c/g;x?y"),
        ("", "http://a/b/c/d;p?q"),
        (".", "http://a/b/c/"),
        ("./", "http://a/b/c/"),
        ("..", "http://a/b/"),
        ("../", "http://a/b/"),
        ("../g", "http://a/b/g"),
        ("../..", "http://a/"),
        ("../../", "http://a/"),
        ("../../g", "http://a/g"),
        ("../../../g", "http://a/g"),
        ("../../../../g", "http://a/g"),
        ("/./g", "http://a/g"),
        ("/../g", "http://a/g"),
        ("g.", "http://a/b/c/g."),
        (".g", "http://a/b/c/.g"),
        ("g..", "http://a/b/c/g.."),
        ("..g", "http://a/b/c/..g"),
        ("./../g", "http://a/b/g"),
        ("./g/.", "http://a/b/c/g/"),
        ("g/./h", "http://a/b/c/g/h"),
        ("g/../h", "http://a/b/c/h"),
        ("g;x=1/./y", "http://a/b/c/g;x=1/y"),
        ("g;x=1/../y", "http://a/b/c/y"),
        ("g?y/./x", "http://a/b/c/g?y/./x"),
        ("g?y/../x", "http://a/b/c/g?y/../x"),
        ("g#s/./x", "http://a/b/c/g"),
        ("g#s/../x", "http://a/b/c/g"),
        ("HTTPS://G:443/x", "https://g/x"),
    ],
)
def test_redirect_targets_resolve_as_rfc_3986_says(reference: str, expected: str) -> None:
    assert str(resolve(normalise(RFC_BASE), reference)) == expected


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("g:h", "not g"),
        ("http:g", "must be followed by //host"),
        ("%2e%2e/g", "'.' percent-encoded"),
        ("\\\\evil.example/x", "backslash"),
        ("//evil@a/", "userinfo"),
        ("/g\r\nX: y", "whitespace"),
        ("/\ud800", "non-ASCII"),
        ("/" + "g" * 5000, "longer than"),
    ],
)
def test_redirect_targets_are_held_to_the_same_rules(reference: str, expected: str) -> None:
    with pytest.raises(URLRefused, match=re.escape(expected)):
        resolve(normalise(RFC_BASE), reference)


def test_a_long_base_and_a_short_reference_are_bounded_together() -> None:
    base = normalise("http://a/" + "b" * (urls.MAX_URL_LENGTH - 20) + "?q")
    with pytest.raises(URLRefused, match="longer than"):
        resolve(base, "?" + "y" * 100)


# ---------------------------------------------------------------------- what httpx2 sends


def test_the_client_is_checked_to_send_exactly_the_normalised_url() -> None:
    url = normalise("http://[::1]:8080/ok/p.yaml?x=1")
    assert urls.mismatch(url, httpx2.Request("GET", str(url))) is None
    other = httpx2.Request("GET", "http://[::1]:8080/ok/p.yaml?x=1&y=2")
    assert "would request" in (urls.mismatch(url, other) or "")
    with httpx2.Client(params={"token": "t"}) as client:
        found = urls.mismatch(url, client.build_request("GET", str(url)))
    assert found is not None and "token=t" in found


# ---------------------------------------------------------------------- properties

PIECES = [
    *("a", "b", "ok", "p.yaml", "", ".", "..", "...", ".a", "a.", "..;", ";x", "~"),
    *("%2e", "%2E", "%2e%2e", ".%2E", "%2e.", "%2f", "%2F", "%5c", "%41", "%25", "%zz", "%"),
    *("@", ":", "!", "$", "&", "'", "(", "*", "+", ",", "=", "[", "]"),
    *("\\", " ", "\t", "\n", "\x00", "é", "\ud800", "?", "#", "//", "<", "`"),
]
HOSTS = [
    *("manifests.example", "MANIFESTS.example", "127.0.0.1", "[::1]", "[::FFFF:1.2.3.4]"),
    *("evil@manifests.example", "manifests.example@evil", "", "a..b", "1.2.3", "h.", "é"),
]
pieces = st.lists(st.sampled_from(PIECES), max_size=12).map("".join)
joined = st.lists(st.sampled_from(PIECES + ["/"] * 6), max_size=16).map("".join)
urls_to_try = st.one_of(
    st.builds(
        "{}://{}{}/{}".format,
        st.sampled_from(["http", "HTTP", "https", "hTtPs", "ftp", "http:", ""]),
        st.sampled_from(HOSTS),
        st.sampled_from(["", ":80", ":443", ":8080", ":0", ":99999", ":", ":x"]),
        joined,
    ),
    st.builds("{}{}".format, st.just(OK), joined),
    st.text(max_size=60),
    st.text(alphabet=st.characters(codec="ascii"), max_size=60).map(lambda s: OK + s),
)


def assert_canonical(url: urls.ManifestURL) -> None:
    """The properties every normalised URL has."""
    text = str(url)
    assert normalise(text) == url  # idempotent
    assert not FORBIDDEN_CHARS.search(text), text
    assert not ENCODED_STRUCTURE.search(url.path), text
    segments = url.path.split("/")
    assert "." not in segments and ".." not in segments, text
    assert url.path.startswith("/")
    assert "@" not in url.netloc
    assert text == f"{url.scheme}://{url.netloc}{url.target}"
    request = httpx2.Request("GET", text)  # what httpx2 sends: exactly that
    assert str(request.url) == text
    assert request.url.raw_path == url.target.encode()
    assert request.headers["host"] == url.netloc
    assert urls.mismatch(url, request) is None


@settings(max_examples=1000)
@given(urls_to_try)
@example(OK + "../no/plain.yaml")
@example(OK + "%2e%2e/no/plain.yaml")
@example("http://manifests.example/ok/..;/no")
def test_normalising_is_idempotent_canonical_and_what_httpx2_requests(url: str) -> None:
    try:
        found = normalise(url)
    except URLRefused:
        return
    assert_canonical(found)


@settings(max_examples=1000)
@given(joined)
@example("..\\..\\no")
@example("%2e%2e/no")
def test_no_path_trick_escapes_a_whitelisted_prefix(suffix: str) -> None:
    """Whatever follows a whitelisted prefix: if the normalised URL still starts with the
    prefix, a server that decodes, reads ``\\`` as ``/`` and removes dot segments serves
    a path under it too; and a path that leaves the prefix is seen leaving."""
    try:
        found = normalise(OK + suffix)
    except URLRefused:
        return
    inside = str(found).startswith(OK)
    assert server_view(found.path).startswith("/ok/") == inside, (found, server_view(found.path))


@settings(max_examples=500)
@given(urls_to_try, pieces)
def test_resolved_redirect_targets_are_canonical(reference: str, path: str) -> None:
    base = normalise(OK + "sub/p.yaml?x=1")
    for candidate in (reference, path, "../" + path, "?" + path):
        try:
            found = resolve(base, candidate)
        except URLRefused:
            continue
        assert_canonical(found)
