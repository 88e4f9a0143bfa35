"""The image catalogue: parsing, errors that name the entry, lookup order, placeholders."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from userpods.sim.images import (
    DEFAULT_READY_DELAY,
    DEFAULT_START_DELAY,
    Catalogue,
    CatalogueError,
    Exit,
    FileSpec,
    Image,
    builtin_catalogue,
    parse_catalogue,
)

GOOD = """
- match: "example/app:*"
  pull: ok
  start_delay: 0
  ready_delay: 1.5
  stop_delay: 2
  exit: {code: 3, after: 0.5}
  files:
    /tmp/token: "{pod_name}.{namespace}.{uid}"
  logs: "started {pod_name}\\n"
- match: "*broken*"
  pull: fail
"""


def test_parse_a_good_catalogue() -> None:
    app, broken = parse_catalogue(GOOD, "mine.yaml")
    assert app == Image(
        match="example/app:*",
        pull="ok",
        start_delay=0.0,
        ready_delay=1.5,
        stop_delay=2.0,
        exit=Exit(3, 0.5),
        files={"/tmp/token": FileSpec("{pod_name}.{namespace}.{uid}")},
        logs="started {pod_name}\n",
    )
    assert broken.pull == "fail"
    assert broken.exit is None
    assert (broken.start_delay, broken.ready_delay) == (DEFAULT_START_DELAY, DEFAULT_READY_DELAY)


def test_empty_catalogue() -> None:
    assert parse_catalogue("", "x.yaml") == []
    assert parse_catalogue("# nothing\n", "x.yaml") == []


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("5", "each entry must be a mapping"),
        ("[a]", "each entry must be a mapping"),
        ("{pull: ok}", "match must be a non-empty glob"),
        ('{match: ""}', "match must be a non-empty glob"),
        ("{match: 5}", "match must be a non-empty glob"),
        ("{match: a, pull: maybe}", "pull must be ok or fail, not 'maybe'"),
        ("{match: a, exit: 3}", "exit must be {code: int, after: seconds}"),
        ("{match: a, exit: {code: x}}", "exit must be {code: int, after: seconds}"),
        ("{match: a, exit: {code: 1, after: -1}}", "after must be a number of seconds >= 0"),
        ("{match: a, exit: {code: 1, after: soon}}", "after must be a number of seconds >= 0"),
        ("{match: a, files: [1]}", "files must map paths to contents"),
        ("{match: a, files: {/x: 5}}", "files[/x] must be text or {repeat, count}"),
        ("{match: a, files: {/x: {count: 2}}}", "files[/x] must be text or {repeat, count}"),
        ("{match: a, files: {/x: {repeat: a, count: -1}}}", "files[/x].count must be an integer"),
        ("{match: a, files: {/x: {repeat: a, count: x}}}", "files[/x].count must be an integer"),
        ("{match: a, files: {/x: '{\"json\": 1}'}}", "files[/x]: bad placeholder"),
        ("{match: a, files: {/x: '{0}'}}", "files[/x]: bad placeholder"),
        ("{match: a, files: {/x: '{pod_name'}}", "files[/x]: bad placeholder"),
        ("{match: a, logs: 5}", "logs must be text"),
        ("{match: a, logs: '{}'}", "logs: bad placeholder"),
        ("{match: a, start_delay: -1}", "start_delay must be a number of seconds >= 0"),
        ("{match: a, ready_delay: true}", "ready_delay must be a number of seconds >= 0"),
        ("{match: a, stop_delay: soon}", "stop_delay must be a number of seconds >= 0"),
        ("{match: a, bogus: 1}", "unknown keys ['bogus']"),
    ],
)
def test_each_bad_entry_is_named(entry: str, problem: str) -> None:
    text = f"- {{match: ok}}\n- {{match: fine}}\n- {entry}\n"
    with pytest.raises(CatalogueError) as info:
        parse_catalogue(text, "mine.yaml")
    message = str(info.value)
    assert message.startswith("mine.yaml entry 3: ")
    assert problem in message


def test_catalogue_level_errors() -> None:
    with pytest.raises(CatalogueError, match=r"^x\.yaml: the catalogue must be a list"):
        parse_catalogue("match: a\n", "x.yaml")
    with pytest.raises(CatalogueError, match=r"^x\.yaml: not valid YAML"):
        parse_catalogue("- [\n", "x.yaml")


def test_catalogue_error_is_a_value_error() -> None:
    assert issubclass(CatalogueError, ValueError)


def test_first_match_wins_and_user_entries_come_first() -> None:
    user = parse_catalogue(
        """
- match: "*jupyter*"
  logs: "mine\\n"
- match: "*"
  logs: "catch-all\\n"
""",
        "mine.yaml",
    )
    catalogue = Catalogue(user)
    assert catalogue.lookup("quay.io/jupyter/base:1").logs == "mine\n"
    # The user's catch-all shadows every built-in entry.
    assert catalogue.lookup("sciencedata/ubuntu:24").logs == "catch-all\n"
    builtin = Catalogue()
    assert builtin.lookup("quay.io/jupyter/base:1").match == "*jupyter*"
    assert builtin.lookup("sciencedata/ubuntu:24").match == "*ubuntu*"


def test_lookup_falls_back_to_a_default_that_runs() -> None:
    image = Catalogue().lookup("registry.example/unknown-thing:7")
    assert image == Image()
    assert image.pull == "ok"
    assert image.exit is None


def test_lookup_is_case_sensitive_glob() -> None:
    catalogue = Catalogue(parse_catalogue('- {match: "app:v?", logs: x}', "m.yaml"))
    assert catalogue.lookup("app:v1").logs == "x"
    assert catalogue.lookup("app:v10").logs == ""
    assert catalogue.lookup("APP:v1").logs == ""


def test_builtin_catalogue_parses_and_covers_test_images() -> None:
    entries = builtin_catalogue()
    assert entries
    catalogue = Catalogue()
    assert catalogue.lookup("x/test_fail_start").exit == Exit(1, 0.0)
    assert catalogue.lookup("x/does-not-exist:1").pull == "fail"
    long_key = catalogue.lookup("x/test_long_key")
    files, _ = long_key.render(pod_name="p", namespace="n", uid="u1", env={})
    assert files["/tmp/longkey"] == "x" * 10000
    assert files["/tmp/shortkey"] == "shortkey-u1"


def test_repeat_count_files_are_not_templates() -> None:
    (image,) = parse_catalogue(
        """
- match: a
  files:
    /big: {repeat: "{pod_name}", count: 3}
    /one: {repeat: "ab"}
    /none: {repeat: "ab", count: 0}
""",
        "m.yaml",
    )
    files, _ = image.render(pod_name="p", namespace="n", uid="u", env={})
    assert files == {"/big": "{pod_name}" * 3, "/one": "ab", "/none": ""}


def test_placeholders_are_filled_in() -> None:
    (image,) = parse_catalogue(
        """
- match: a
  files:
    /tmp/all: "{pod_name}/{namespace}/{uid}/{env[TOKEN]}/{env[MISSING]}"
    /tmp/braces: "{{literal}}"
    /tmp/unknown: "[{nope}]"
  logs: "pod {pod_name} in {namespace} with {env[TOKEN]}\\n"
""",
        "m.yaml",
    )
    files, logs = image.render(pod_name="p1", namespace="ns", uid="u-1", env={"TOKEN": "t0k"})
    assert files == {
        "/tmp/all": "p1/ns/u-1/t0k/",
        "/tmp/braces": "{literal}",
        "/tmp/unknown": "[]",
    }
    assert logs == "pod p1 in ns with t0k\n"


def test_from_file(tmp_path: Path) -> None:
    path = tmp_path / "images.yaml"
    path.write_text('- {match: "mine/*", logs: "hello\\n"}\n')
    catalogue = Catalogue.from_file(path)
    assert catalogue.lookup("mine/app").logs == "hello\n"
    assert len(catalogue.entries) == len(builtin_catalogue()) + 1
    path.write_text("- {match: mine, pull: later}\n")
    with pytest.raises(
        CatalogueError, match="^" + re.escape(f"{path} entry 1: pull must be ok or fail")
    ):
        Catalogue.from_file(path)
    assert Catalogue.from_file(None).entries == builtin_catalogue()
