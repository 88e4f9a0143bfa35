"""The naming module's guarantees, for every user id the API admits."""

from __future__ import annotations

import re

import pytest

from userpods import naming

DNS1035 = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")

IDS = [
    "registeredtest7",
    "fror@dtu.dk",
    "a.b@c.dk",
    "a@b.c.dk",
    "a-b@c.dk",
    "a_b@c.dk",
    "a--b",
    "a-b",
    "x" * 80 + "@" + "y.dk",
    "u" * 200,
    "0@0",
    "a-@b.dk",
    "a@-b.dk",
    "a.@.b",
    "fror-dtu-dk--kehmp272ubpe",
    "first.last@sub.domain.example.org",
]


@pytest.mark.parametrize("user_id", IDS)
def test_ids_are_admitted(user_id: str) -> None:
    assert naming.valid_user_id(user_id)


@pytest.mark.parametrize("bad", ["", "A@b.dk", "a@@b", "a@b@c", "-a", "a-", "a b", "a/b", 7])
def test_bad_ids_are_refused(bad: object) -> None:
    assert not naming.valid_user_id(bad)


@pytest.mark.parametrize("user_id", IDS)
@pytest.mark.parametrize(
    "manifest", ["jupyter", "ubuntu-caddy", "X_Weird.Name", "9lives", "a" * 100, "---"]
)
def test_pod_names_leave_room_for_services_and_hosts(user_id: str, manifest: str) -> None:
    for name in naming.pod_name_candidates(manifest, user_id):
        assert len(name) <= naming.POD_NAME_MAX
        for service in (f"{name}-ssh", f"{name}-http"):
            assert DNS1035.fullmatch(service) and len(service) <= 63, service
        assert DNS1123_LABEL.fullmatch(name)  # valid as a host label too


def test_readable_names_as_the_original_made_them() -> None:
    assert naming.user_string("fror@dtu.dk") == "fror-dtu-dk"
    assert naming.pod_name_candidates("ubuntu", "fror@dtu.dk")[:2] == [
        "ubuntu-fror-dtu-dk",
        "ubuntu-fror-dtu-dk-1",
    ]
    assert naming.storage_claim_candidates("fror@dtu.dk")[0] == "user-storage-fror-dtu-dk"


def test_a_digest_only_where_the_readable_form_is_not_a_name() -> None:
    for user_id in ("x_y@dtu.dk", "a" * 40 + "@dtu.dk"):
        [only] = naming.user_strings(user_id)
        assert "--" in only and len(only) <= naming.USER_STRING_MAX


def test_ids_that_read_alike_keep_distinct_fallbacks() -> None:
    """The original mapped a.b@c.dk and a@b.c.dk to one name; their readable forms still
    meet (whoever names things checks who holds a name), their digest forms never do."""
    first, second = naming.user_strings("a.b@c.dk"), naming.user_strings("a@b.c.dk")
    assert first[0] == second[0] == "a-b-c-dk"
    assert first[-1] != second[-1]
    fallbacks = {naming.user_strings(u)[-1] for u in IDS}
    assert len(fallbacks) == len(IDS)
    families = [naming.pod_name_families("ubuntu", u)[-1] for u in ("a.b@c.dk", "a@b.c.dk")]
    assert not set(families[0]) & set(families[1])


def test_plain_ids_stay_as_the_original_named_them() -> None:
    assert naming.user_string("registeredtest7") == "registeredtest7"
    assert naming.pod_name_candidates("jupyter", "registeredtest7")[:3] == [
        "jupyter-registeredtest7",
        "jupyter-registeredtest7-1",
        "jupyter-registeredtest7-2",
    ]


def test_an_id_cannot_pose_as_anothers_digest_string() -> None:
    digested = naming.digest_user_string("fror@dtu.dk")
    assert "--" in digested
    assert naming.digest_user_string(digested) != digested


@pytest.mark.parametrize("user_id", IDS)
def test_every_family_is_valid(user_id: str) -> None:
    for family in naming.pod_name_families("jupyter", user_id):
        assert len(family) == 10 == len(set(family))
        for name in family:
            assert len(name) <= naming.POD_NAME_MAX and DNS1035.fullmatch(name), name


@pytest.mark.parametrize("user_id", IDS)
def test_owner_labels_are_valid(user_id: str) -> None:
    for value in naming.owner_labels(user_id).values():
        assert len(value) <= 63 and LABEL_VALUE.fullmatch(value), value


def test_labels_match_the_original_when_valid() -> None:
    assert naming.owner_labels("fror@dtu.dk") == {"user": "fror", "domain": "dtu.dk"}
    assert naming.owner_labels("registeredtest7") == {"user": "registeredtest7", "domain": ""}
    assert naming.user_id_from_labels({"user": "fror", "domain": "dtu.dk"}) == "fror@dtu.dk"
    assert naming.user_id_from_labels({"user": "registeredtest7", "domain": ""}) == (
        "registeredtest7"
    )
    assert naming.user_id_from_labels({}) == ""


def test_ten_candidates() -> None:
    names = naming.pod_name_candidates("ubuntu", "fror@dtu.dk")
    assert len(names) == 10 == len(set(names))
    assert names[1:] == [f"{names[0]}-{i}" for i in range(1, 10)]
