"""SMART scopes: v1 and v2 syntax, wildcards, contexts, and malformed scopes never widening."""

from __future__ import annotations

import pytest

from patientkontrakt.security.scopes import PERMISSIONS, ScopeSet, parse_scope, permission_for


def granted(text: str, context: str, resource_type: str) -> str:
    """The letters of `cruds` that `text` grants on `resource_type` in `context`."""
    scopes = ScopeSet.parse(text)
    return "".join(p for p in PERMISSIONS if scopes.allows(context, resource_type, p))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("patient/CarePlan.rs", "rs"),
        ("patient/CarePlan.r", "r"),
        ("patient/CarePlan.s", "s"),
        ("patient/CarePlan.cruds", "cruds"),
        ("patient/CarePlan.cu", "cu"),
        ("patient/CarePlan.ds", "ds"),
        ("patient/CarePlan.read", "rs"),
        ("patient/CarePlan.write", "cud"),
        ("patient/CarePlan.*", "cruds"),
        ("patient/*.rs", "rs"),
        ("patient/*.read", "rs"),
        ("patient/*.*", "cruds"),
        ("patient/CarePlan.r patient/CarePlan.s", "rs"),
        ("patient/CarePlan.read patient/*.cu", "rcus"),
    ],
)
def test_v1_and_v2_permissions(text: str, expected: str) -> None:
    assert granted(text, "patient", "CarePlan") == "".join(p for p in PERMISSIONS if p in expected)


def test_a_named_type_grants_only_that_type() -> None:
    assert granted("user/CarePlan.cruds", "user", "CarePlan") == "cruds"
    assert granted("user/CarePlan.cruds", "user", "Patient") == ""
    assert granted("user/CarePlan.cruds", "user", "CarePlanX") == ""


def test_a_wildcard_grants_every_type() -> None:
    for resource_type in ("Patient", "CarePlan", "Appointment", "AuditEvent"):
        assert granted("system/*.rs", "system", resource_type) == "rs"


@pytest.mark.parametrize(
    ("text", "context"),
    [("patient/*.cruds", "patient"), ("user/*.cruds", "user"), ("system/*.cruds", "system")],
)
def test_each_context_grants_only_in_its_own_context(text: str, context: str) -> None:
    for other in ("patient", "user", "system"):
        assert granted(text, other, "Appointment") == ("cruds" if other == context else "")


def test_user_and_system_scopes_in_one_token_grant_per_context() -> None:
    scopes = "user/CarePlan.rs system/Appointment.u"
    assert granted(scopes, "user", "CarePlan") == "rs"
    assert granted(scopes, "user", "Appointment") == ""
    assert granted(scopes, "system", "Appointment") == "u"
    assert granted(scopes, "system", "CarePlan") == ""


@pytest.mark.parametrize(
    "text",
    [
        "patient/CarePlan.sr",  # out of order
        "patient/CarePlan.dus",  # out of order (the spec's own example)
        "patient/CarePlan.rr",  # repeated
        "patient/CarePlan.rx",  # unknown letter
        "patient/CarePlan.",  # no permissions
        "patient/CarePlan.READ",  # v1 words are lower case
        "patient/CarePlan.readwrite",
        "patient/CarePlan",  # no permissions at all
        "patient/.rs",  # no type
        "patient/careplan.rs",  # not a type name
        "patient/Care-Plan.rs",
        "Patient/CarePlan.rs",  # unknown context
        "practitioner/CarePlan.rs",
        "*/CarePlan.rs",
        "patient/CarePlan.rs?",  # empty query
        "CarePlan.rs",  # no context
    ],
)
def test_malformed_resource_scopes_grant_nothing_and_are_kept_as_ignored(text: str) -> None:
    scopes = ScopeSet.parse(f"{text} patient/Goal.r")
    assert parse_scope(text) is None
    assert text in scopes.ignored
    for context in ("patient", "user", "system"):
        assert granted(text, context, "CarePlan") == ""
    assert granted(f"{text} patient/Goal.r", "patient", "Goal") == "r"


@pytest.mark.parametrize(
    "text",
    [
        "openid",
        "fhirUser",
        "profile",
        "launch",
        "launch/patient",
        "launch/encounter",
        "offline_access",
        "online_access",
        "email",
    ],
)
def test_non_resource_scopes_are_ignored(text: str) -> None:
    scopes = ScopeSet.parse(f"{text} patient/Goal.rs")
    assert scopes.other == (text,)
    assert scopes.ignored == ()
    assert [s.text for s in scopes.scopes] == ["patient/Goal.rs"]


def test_a_scope_narrowed_by_a_query_is_parsed_but_grants_nothing() -> None:
    text = "patient/Observation.rs?category=laboratory"
    scope = parse_scope(text)
    assert scope is not None
    assert scope.resource_type == "Observation"
    assert scope.permissions == frozenset("rs")
    assert scope.query == "category=laboratory"
    assert granted(text, "patient", "Observation") == ""
    assert granted(f"{text} patient/Observation.r", "patient", "Observation") == "r"


def test_only_nothing_is_granted_by_an_empty_claim() -> None:
    scopes = ScopeSet.parse("   ")
    assert scopes.scopes == ()
    assert str(scopes) == ""
    assert granted("", "system", "Patient") == ""


def test_str_lists_every_scope_for_audit() -> None:
    text = "openid patient/CarePlan.rs patient/CarePlan.sr launch/patient patient/CarePlan.rs"
    scopes = ScopeSet.parse(text)
    assert set(str(scopes).split()) == {
        "openid",
        "patient/CarePlan.rs",
        "patient/CarePlan.sr",
        "launch/patient",
    }
    assert ScopeSet.parse(str(scopes)) == scopes
    assert repr(scopes).startswith("ScopeSet.parse(")


def test_resource_types_lists_what_a_permission_reaches() -> None:
    scopes = ScopeSet.parse("user/CarePlan.rs user/Goal.r system/*.rs")
    assert scopes.resource_types("user", "r") == {"CarePlan", "Goal"}
    assert scopes.resource_types("user", "s") == {"CarePlan"}
    assert scopes.resource_types("user", "c") == set()
    assert scopes.resource_types("system", "s") is None


@pytest.mark.parametrize(
    ("interaction", "instance", "letter"),
    [
        ("read", True, "r"),
        ("vread", True, "r"),
        ("search", False, "s"),
        ("history", True, "r"),
        ("history", False, "s"),
        ("create", False, "c"),
        ("update", True, "u"),
        ("patch", True, "u"),
        ("delete", True, "d"),
        ("operation", False, "r"),
        ("operation", True, "r"),
    ],
)
def test_permission_for_interactions(interaction: str, instance: bool, letter: str) -> None:
    assert permission_for(interaction, instance) == letter


def test_permission_for_an_unknown_interaction_is_an_error() -> None:
    with pytest.raises(ValueError, match="transaction"):
        permission_for("transaction", False)
