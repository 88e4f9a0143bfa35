"""Manifest URLs, parsed and normalised before the whitelist sees them.

The whitelist (``whitelistManifestRegex``) is a regular expression over a URL *string*, but
what a server serves depends on the URL an HTTP client actually requests, after it has parsed
and normalised the string. The two disagreed: ``<whitelisted prefix>../no/plain.yaml`` matched
the regex, then the client removed the dot segment and fetched ``/no/plain.yaml``. So this
module turns a URL into one canonical string first, the whitelist is matched on that string,
and exactly that string is fetched; if httpx2 would request anything else, it is refused.

:func:`normalise` refuses what has no single safe meaning, rather than guessing:

- more than :data:`MAX_URL_LENGTH` characters (checked before anything else);
- control characters, whitespace, backslashes (browsers read them as ``/``), non-ASCII
  (lone surrogates included), and the characters RFC 3986 never allows unencoded;
- a scheme other than ``http`` / ``https``, userinfo (``user@host``: ``https://host@evil/``
  goes to ``evil``), an empty or malformed host (a numeric last label must be a dotted-quad
  IPv4 address, as WHATWG reads it), a port outside 1-65535;
- in the path: percent-encoded ``.``, ``/``, ``\\`` (``%2e``, ``%2f``, ``%5c``, any case; a
  server that decodes them would see dot segments or other path segments than the whitelist
  saw), percent-encoded control characters, malformed percent-encodings, and ``..;`` / ``.;``
  segments (servers that drop path parameters read them as dot segments).

and normalises the rest: scheme and host lower-cased, a default port dropped, an empty path
made ``/``, dot segments removed as RFC 3986 section 5.2.4 says, percent-encoded unreserved
characters decoded and other percent-encodings upper-cased (RFC 3986 section 6.2.2), the
fragment dropped (it is never sent); the query is kept as it is.

:func:`resolve` resolves a redirect's ``Location`` against the current URL (RFC 3986 section
5.2.2) and normalises the result the same way, so a redirect is held to the same rules.

Only the standard library (and httpx2, to compare with): the rules are few and must be exact,
and a general URL library would add its own leniencies.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

import httpx2

MAX_URL_LENGTH = 4096
SCHEMES = {"http": 80, "https": 443}  # and their default ports

_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_SUB_DELIMS = "!$&'()*+,;="
# Characters a URL may hold unencoded (RFC 3986 section 2): unreserved, reserved and "%".
_ALLOWED = _UNRESERVED | frozenset(_SUB_DELIMS + ":/?#[]@%")
# In the path and query (RFC 3986 sections 3.3, 3.4): the brackets are only for IPv6 hosts.
_PATH_OR_QUERY = _ALLOWED - frozenset("[]#")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*(?=:)")
_HEX = frozenset("0123456789abcdefABCDEF")
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*")
_FORBIDDEN_ENCODED = {".": "'.'", "/": "'/'", "\\": "a backslash"}


class URLRefused(ValueError):
    """A URL that is not fetched; the message says why, for the caller."""


@dataclass(frozen=True)
class ManifestURL:
    """A normalised ``http`` / ``https`` URL: ``str()`` of it is what is matched and fetched."""

    scheme: str
    host: str  # lower case; an IPv6 address in brackets
    port: int | None  # None for the scheme's default port
    path: str  # starts with "/", no dot segments
    query: str | None  # None: no "?" at all

    @property
    def netloc(self) -> str:
        """The authority, as the ``Host`` header carries it."""
        return self.host if self.port is None else f"{self.host}:{self.port}"

    @property
    def target(self) -> str:
        """The request target: path and query, as sent on the request line."""
        return self.path if self.query is None else f"{self.path}?{self.query}"

    def __str__(self) -> str:
        return f"{self.scheme}://{self.netloc}{self.target}"


def normalise(url: str) -> ManifestURL:
    """``url`` parsed and normalised (see the module docstring), or :class:`URLRefused`."""
    _check_characters(url)
    url = url.partition("#")[0]
    scheme_match = _SCHEME.match(url)
    if scheme_match is None:
        raise URLRefused("it has no scheme (http:// or https://)")
    scheme = scheme_match.group().lower()
    if scheme not in SCHEMES:
        raise URLRefused(f"only http and https URLs are fetched, not {scheme}")
    rest = url[scheme_match.end() + 1 :]
    if not rest.startswith("//"):
        raise URLRefused(f"{scheme}: must be followed by //host")
    authority, target = _split_authority(rest[2:])
    host, port = _parse_authority(authority, SCHEMES[scheme])
    path, question, query = target.partition("?")
    if path and not path.startswith("/"):  # cannot happen after _split_authority; be sure
        raise URLRefused("the path must start with /")
    found = ManifestURL(
        scheme,
        host,
        port,
        remove_dot_segments(_normalise_path(path)) or "/",
        _check_query(query) if question else None,
    )
    _check_client_agrees(found)
    return found


def resolve(base: ManifestURL, reference: str) -> ManifestURL:
    """The redirect target ``reference`` (a ``Location`` header) resolved against ``base``
    (RFC 3986 section 5.2.2) and normalised; or :class:`URLRefused`."""
    _check_characters(reference)
    reference = reference.partition("#")[0]
    if not reference:  # the same URL again
        return base
    if _SCHEME.match(reference):
        return normalise(reference)
    if reference.startswith("//"):
        return normalise(f"{base.scheme}:{reference}")
    path, question, query = reference.partition("?")
    if not path:
        merged, query_part = base.path, (f"?{query}" if question else _query_of(base))
    else:
        if not path.startswith("/"):
            path = base.path[: base.path.rindex("/") + 1] + path
        merged, query_part = path, (f"?{query}" if question else "")
    return normalise(f"{base.scheme}://{base.netloc}{merged}{query_part}")


def remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4, step by step: the path without ``.`` and ``..`` segments."""
    source, output = path, list[str]()
    while source:
        if source.startswith("../"):  # A
            source = source[3:]
        elif source.startswith(("./", "/./")):  # A, B
            source = source[2:]
        elif source == "/.":  # B
            source = "/"
        elif source.startswith("/../"):  # C
            source = source[3:]
            if output:
                output.pop()
        elif source == "/..":
            source = "/"
            if output:
                output.pop()
        elif source in (".", ".."):  # D
            source = ""
        else:  # E
            end = source.find("/", 1)
            end = len(source) if end < 0 else end
            output.append(source[:end])
            source = source[end:]
    return "".join(output)


def mismatch(url: ManifestURL, request: httpx2.Request) -> str | None:
    """How ``request`` (built by httpx2 from ``str(url)``) would differ from ``url`` on the
    wire, or None when it requests exactly ``url``."""
    sent = request.url
    if str(sent) != str(url):
        return f"the HTTP client would request {sent} instead"
    if sent.raw_path != url.target.encode("ascii"):
        return f"the HTTP client would send the path {sent.raw_path!r} instead"
    if request.headers.get("host") != url.netloc or sent.userinfo:
        return f"the HTTP client would send to {request.headers.get('host')} instead"
    return None


# ---------------------------------------------------------------------- the parts


def _check_characters(url: str) -> None:
    if len(url) > MAX_URL_LENGTH:
        raise URLRefused(f"it is longer than {MAX_URL_LENGTH} characters")
    for index, char in enumerate(url):
        if char in _ALLOWED:
            continue
        code, hint = f"U+{ord(char):04X}", ""
        if char in " \t\n\r\v\f":
            what = f"whitespace ({code})"
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            what = f"a control character ({code})"
        elif char == "\\":
            what = "a backslash"
        elif not char.isascii():
            what, hint = f"a non-ASCII character ({code})", "; percent-encode it as UTF-8"
        else:
            what = f"{char!r}, which a URL may not hold unencoded"
        raise URLRefused(f"it contains {what} at position {index}{hint}")


def _split_authority(rest: str) -> tuple[str, str]:
    """``host[:port]`` and the rest (path and query) of what follows ``//``."""
    end = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    return rest[:end], rest[end:]


def _parse_authority(authority: str, default_port: int) -> tuple[str, int | None]:
    if "@" in authority:
        raise URLRefused("it has userinfo (user@host); give the host alone")
    if authority.startswith("["):
        inside, bracket, after = authority[1:].partition("]")
        if not bracket:
            raise URLRefused("its IPv6 host has no closing ]")
        host = "[" + _ipv6(inside) + "]"
    else:
        host = authority.partition(":")[0]
        after = authority[len(host) :]
        host = _reg_name(host.lower())
    if after and not after.startswith(":"):
        raise URLRefused(f"its host is malformed: {authority!r}")
    return host, _port(after[1:], default_port)


def _ipv6(inside: str) -> str:
    if not inside or not all(c in _HEX or c in ":." for c in inside):
        raise URLRefused(f"its IPv6 host is malformed: [{inside}]")
    try:
        return ipaddress.IPv6Address(inside).compressed
    except ValueError:
        raise URLRefused(f"its IPv6 host is malformed: [{inside}]") from None


def _reg_name(host: str) -> str:
    if not host:
        raise URLRefused("it has no host")
    labels = host.split(".")
    if len(host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise URLRefused(
            f"its host {host!r} is malformed (dot-separated labels of letters, digits and -)"
        )
    if _NUMERIC_LABEL.fullmatch(labels[-1]):  # an IPv4 address, as WHATWG parses hosts
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise URLRefused(f"its host {host!r} is not a dotted-quad IPv4 address") from None
    return host


def _port(port: str, default: int) -> int | None:
    if not port:
        return None
    if not port.isdigit() or len(port) > 5 or not 0 < int(port) < 65536:
        raise URLRefused(f"its port {port!r} is not a number from 1 to 65535")
    return None if int(port) == default else int(port)


def _normalise_path(path: str) -> str:
    """Percent-encodings checked and normalised; dangerous ones and ``..;`` refused."""
    for char in "[]":
        if char in path:
            raise URLRefused(f"its path contains {char!r}, which a path may not hold unencoded")
    parts, index = [], 0
    while (found := path.find("%", index)) >= 0:
        digits = path[found + 1 : found + 3]
        if len(digits) != 2 or not all(c in _HEX for c in digits):
            raise URLRefused(f"it has a malformed percent-encoding at position {found}")
        char = chr(int(digits, 16))
        if char in _FORBIDDEN_ENCODED:
            raise URLRefused(
                f"its path has {_FORBIDDEN_ENCODED[char]} percent-encoded (%{digits}), "
                "which servers may decode into other path segments"
            )
        if ord(char) < 0x20 or ord(char) == 0x7F:
            raise URLRefused(f"its path has a percent-encoded control character (%{digits})")
        parts += [path[index:found], char if char in _UNRESERVED else f"%{digits.upper()}"]
        index = found + 3
    path = "".join(parts) + path[index:]
    for segment in path.split("/"):
        if ";" in segment and segment.partition(";")[0] in (".", ".."):
            raise URLRefused(f"its path has the segment {segment!r}, read as a dot segment")
    return path


def _check_query(query: str) -> str:
    for index, char in enumerate(query):
        if char not in _PATH_OR_QUERY:
            raise URLRefused(f"its query contains {char!r}, which a query may not hold unencoded")
        if char == "%":
            digits = query[index + 1 : index + 3]
            if len(digits) != 2 or not all(c in _HEX for c in digits):
                raise URLRefused("its query has a malformed percent-encoding")
    return query


def _query_of(url: ManifestURL) -> str:
    return "" if url.query is None else f"?{url.query}"


def _check_client_agrees(url: ManifestURL) -> None:
    """Refuse ``url`` if httpx2 would parse or send it as anything else."""
    try:
        request = httpx2.Request("GET", str(url))
    except (httpx2.InvalidURL, ValueError) as exc:
        raise URLRefused(f"the HTTP client cannot request it: {exc}") from None
    differs = mismatch(url, request)
    if differs is not None:
        raise URLRefused(differs)
