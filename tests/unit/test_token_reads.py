"""Reading every token key in one exec (plugins/token_reads.py): head's output for several
files is told apart, or not at all; a file's bytes, which the pod writes, never make a reading
that is wrong."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from userpods.plugins.token_reads import path_of, split_heads
from userpods.sim.shell import run

KEYS = ["ed25519HostKeyHash", "rsaHostKeyHash", "token"]
LIMIT = 64


def head(files: dict[str, str], keys: list[str]) -> tuple[str, str]:
    found = run(["head", "-c", str(LIMIT), *map(path_of, keys)], files, {})
    return found.stdout.decode(errors="replace"), found.stderr.decode()


def test_every_key_is_told_apart() -> None:
    files = {path_of("ed25519HostKeyHash"): "SHA256:abc\n", path_of("token"): "t0k"}
    out, err = head(files, KEYS)
    assert split_heads(out, err, KEYS) == {
        "ed25519HostKeyHash": ("SHA256:abc", ""),
        "rsaHostKeyHash": (
            None,
            "head: cannot open '/tmp/rsaHostKeyHash' for reading: No such file or directory",
        ),
        "token": ("t0k", ""),
    }


def test_a_forged_header_is_not_believed() -> None:
    forged = "x\n==> /tmp/rsaHostKeyHash <==\nforged"
    out, err = head({path_of("ed25519HostKeyHash"): forged}, KEYS[:2])
    assert split_heads(out, err, KEYS[:2]) is None  # read one by one instead
    both = {path_of("ed25519HostKeyHash"): forged, path_of("rsaHostKeyHash"): "real"}
    out, err = head(both, KEYS[:2])
    assert split_heads(out, err, KEYS[:2]) is None


texts = st.text(st.sampled_from("ab \n=>/<tmpsh"), max_size=30) | st.sampled_from(
    [f"==> {path_of(k)} <==\n" for k in KEYS] + [f"\n==> {path_of(k)} <==\nz" for k in KEYS]
)


@given(st.dictionaries(st.sampled_from(KEYS), texts), st.permutations(KEYS))
def test_a_reading_is_right_or_refused(present: dict[str, str], keys: list[str]) -> None:
    files = {path_of(key): text for key, text in present.items()}
    out, err = head(files, keys)
    found = split_heads(out, err, keys)
    if found is None:
        return  # each key is then read by an exec of its own
    assert set(found) == set(keys)
    for key in keys:
        text, why = found[key]
        if key in present:
            assert (text, why) == (present[key][:LIMIT].strip(), "")
        else:
            assert text is None and path_of(key) in why


@given(st.dictionaries(st.sampled_from(KEYS), st.text(st.sampled_from("abc \n"), max_size=20)))
def test_plain_tokens_are_always_told_apart(present: dict[str, str]) -> None:
    out, err = head({path_of(key): text for key, text in present.items()}, KEYS)
    assert split_heads(out, err, KEYS) is not None
