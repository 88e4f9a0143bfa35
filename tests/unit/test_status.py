"""metav1.Status bodies, word for word as a real apiserver sends them."""

from __future__ import annotations

import pytest

from userpods.sim.status import (
    ApiError,
    Cause,
    already_exists,
    bad_request,
    conflict,
    duplicate,
    expired,
    forbidden,
    forbidden_error,
    invalid,
    invalid_error,
    not_found,
    not_found_error,
    required,
    success_status,
    too_long,
    unsupported,
)


def test_not_found_body_is_exact() -> None:
    assert not_found_error("pods", "", "x").body() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'pods "x" not found',
        "reason": "NotFound",
        "details": {"name": "x", "kind": "pods"},
        "code": 404,
    }


def test_not_found_in_a_named_group() -> None:
    body = not_found_error("ingresses", "networking.k8s.io", "x").body()
    assert body["message"] == 'ingresses.networking.k8s.io "x" not found'
    assert body["details"] == {"name": "x", "group": "networking.k8s.io", "kind": "ingresses"}


def test_already_exists_body_is_exact() -> None:
    assert already_exists("pods", "", "x").body() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'pods "x" already exists',
        "reason": "AlreadyExists",
        "details": {"name": "x", "kind": "pods"},
        "code": 409,
    }


def test_conflict_wording() -> None:
    error = conflict("pods", "", "x")
    assert error.code == 409
    assert error.reason == "Conflict"
    assert error.message == (
        'Operation cannot be fulfilled on pods "x": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )
    assert error.body()["details"] == {"name": "x", "kind": "pods"}


def test_invalid_with_one_cause() -> None:
    cause = invalid("metadata.name", "Bad", "a lowercase RFC 1123 subdomain must ...")
    assert invalid_error("Pod", "", "Bad", [cause]).body() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'Pod "Bad" is invalid: metadata.name: Invalid value: "Bad": '
        "a lowercase RFC 1123 subdomain must ...",
        "reason": "Invalid",
        # The quirk: details.kind is the Kind for 422, not the resource.
        "details": {
            "name": "Bad",
            "kind": "Pod",
            "causes": [
                {
                    "reason": "FieldValueInvalid",
                    "message": 'Invalid value: "Bad": a lowercase RFC 1123 subdomain must ...',
                    "field": "metadata.name",
                }
            ],
        },
        "code": 422,
    }


def test_invalid_with_several_causes_is_bracketed() -> None:
    causes = [
        required("spec.containers"),
        unsupported("spec.restartPolicy", "Sometimes", ["Always", "OnFailure", "Never"]),
    ]
    error = invalid_error("Pod", "", "p", causes)
    assert error.message == (
        'Pod "p" is invalid: [spec.containers: Required value, spec.restartPolicy: '
        'Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"]'
    )
    assert [c["reason"] for c in error.body()["details"]["causes"]] == [
        "FieldValueRequired",
        "FieldValueNotSupported",
    ]


def test_invalid_in_a_named_group() -> None:
    error = invalid_error("Ingress", "networking.k8s.io", "i", [required("spec")])
    assert error.message == 'Ingress.networking.k8s.io "i" is invalid: spec: Required value'
    details = error.body()["details"]
    assert details["kind"] == "Ingress"
    assert details["group"] == "networking.k8s.io"


def test_details_kind_quirk() -> None:
    """Resource (plural) for 404/409/403, Kind for 422."""
    assert not_found_error("pods", "", "x").body()["details"]["kind"] == "pods"
    assert already_exists("services", "", "x").body()["details"]["kind"] == "services"
    assert forbidden_error("no", "pods", "", "x").body()["details"]["kind"] == "pods"
    assert invalid_error("Pod", "", "x", [required("spec")]).body()["details"]["kind"] == "Pod"


@pytest.mark.parametrize(
    ("cause", "text", "reason"),
    [
        (required("spec.ports"), "spec.ports: Required value", "FieldValueRequired"),
        (invalid("spec.x", "v", "why"), 'spec.x: Invalid value: "v": why', "FieldValueInvalid"),
        (invalid("spec.x", 0, "why"), "spec.x: Invalid value: 0: why", "FieldValueInvalid"),
        (invalid("spec.x", True, "why"), "spec.x: Invalid value: true: why", "FieldValueInvalid"),
        (
            unsupported("spec.t", "X", ["A", "B"]),
            'spec.t: Unsupported value: "X": supported values: "A", "B"',
            "FieldValueNotSupported",
        ),
        (forbidden("spec.n", "not here"), "spec.n: Forbidden: not here", "FieldValueForbidden"),
        (
            too_long("data", 10),
            "data: Too long: may not be more than 10 bytes",
            "FieldValueTooLong",
        ),
        (
            duplicate("spec.c[1].name", "a"),
            'spec.c[1].name: Duplicate value: "a"',
            "FieldValueDuplicate",
        ),
        (not_found("spec.v", "x"), 'spec.v: Not found: "x"', "FieldValueNotFound"),
    ],
)
def test_cause_forms(cause: Cause, text: str, reason: str) -> None:
    assert str(cause) == text
    assert cause.as_dict()["reason"] == reason


def test_expired_and_bad_request() -> None:
    gone = expired("too old resource version: 5 (17)")
    assert gone.body() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "too old resource version: 5 (17)",
        "reason": "Expired",
        "code": 410,
    }
    bad = bad_request("field label not supported: x")
    assert (bad.code, bad.reason) == (400, "BadRequest")
    assert "details" not in bad.body()


def test_default_reason_and_headers() -> None:
    error = ApiError(429, "slow down", headers={"retry-after": "1"})
    assert error.reason == "TooManyRequests"
    assert error.headers == {"retry-after": "1"}
    assert ApiError(401, "Unauthorized").body() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "Unauthorized",
        "reason": "Unauthorized",
        "code": 401,
    }
    assert ApiError(418, "teapot").reason == "Unknown"
    assert str(ApiError(500, "boom")) == "boom"


def test_success_status_for_deletes() -> None:
    assert success_status("i", "ingresses", "networking.k8s.io", "u1") == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": {"name": "i", "group": "networking.k8s.io", "kind": "ingresses", "uid": "u1"},
    }
