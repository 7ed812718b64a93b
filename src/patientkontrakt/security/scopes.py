"""SMART scopes: what a token's `scope` claim lets the caller do, per context and resource type.

Grammar (SMART App Launch 2, scopes-and-launch-context.html):

    ( "patient" | "user" | "system" ) "/" ( ResourceType | "*" ) "." permissions [ "?" query ]

where `permissions` is a non-empty subset of `cruds` written in that order (v2), or one of the
v1 words `read` (= `rs`), `write` (= `cud`) and `*` (= `cruds`).

Decisions, all of them narrowing, never widening:

- Scopes that are not resource scopes (`openid`, `fhirUser`, `profile`, `launch`,
  `launch/patient`, `offline_access`, `online_access`, anything an identity provider adds) are
  ignored: they grant no access to data.
- A resource scope that does not follow the grammar (unknown context, out-of-order or repeated
  letters such as `.sr` or `.dus`, an unknown v1 word, a resource type that is not a FHIR type
  name) is ignored and kept in `ScopeSet.ignored`, so a typo can only take access away.
- A scope narrowed by search parameters (`patient/Observation.rs?category=laboratory`) is parsed
  and kept with its `query`, but grants nothing: this server does not yet apply such constraints
  to what it returns, and granting the scope without its query would widen it.
- `patient/` scopes grant only in patient context, `user/` only in user context and `system/`
  only in system context. The context is the principal's (`Principal.context`: a `patient`
  claim makes it patient, else a `fhirUser` makes it user, else system), so a token carrying
  both `user/` and `system/` scopes uses only those of its own context.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, get_args

ScopeContext = Literal["patient", "user", "system"]
Permission = Literal["c", "r", "u", "d", "s"]

PERMISSIONS = "cruds"
"""Every permission letter, in the order SMART v2 requires."""

_CONTEXTS: frozenset[str] = frozenset(get_args(ScopeContext))
_V1_WORDS = {"read": "rs", "write": "cud", "*": "cruds"}
_V2_LETTERS = re.compile(r"c?r?u?d?s?")
_RESOURCE_TYPE = re.compile(r"\*|[A-Z][A-Za-z]{1,63}")


@dataclass(frozen=True)
class Scope:
    """One resource scope of a token."""

    context: ScopeContext
    resource_type: str
    """A FHIR resource type, or `*` for every type."""
    permissions: frozenset[str]
    """Letters of `cruds`."""
    text: str
    """The scope as the token wrote it."""
    query: str | None = None
    """The search-parameter constraint after `?`, if any; such a scope grants nothing yet."""

    def grants(self, context: str, resource_type: str, permission: str) -> bool:
        """True when this scope alone allows `permission` on `resource_type` in `context`."""
        return (
            self.query is None
            and self.context == context
            and self.resource_type in ("*", resource_type)
            and permission in self.permissions
        )


def parse_scope(text: str) -> Scope | None:
    """The resource scope written as `text`, or None when it is not a well-formed one."""
    body, mark, query = text.partition("?")
    context, slash, rest = body.partition("/")
    if not slash or context not in _CONTEXTS:
        return None
    resource_type, dot, permissions = rest.rpartition(".")
    if not dot or not _RESOURCE_TYPE.fullmatch(resource_type):
        return None
    letters = _V1_WORDS.get(permissions)
    if letters is None:
        if not permissions or not _V2_LETTERS.fullmatch(permissions):
            return None
        letters = permissions
    if mark and not query:
        return None
    return Scope(
        context=context,  # type: ignore[arg-type]  # checked against _CONTEXTS above
        resource_type=resource_type,
        permissions=frozenset(letters),
        text=text,
        query=query or None,
    )


def _looks_like_a_resource_scope(text: str) -> bool:
    """`context/...` or `Type.permissions`: a resource scope, if a malformed one."""
    context, slash, _ = text.partition("/")
    return (bool(slash) and context in _CONTEXTS) or "." in text


class ScopeSet:
    """The parsed `scope` claim of one token."""

    __slots__ = ("ignored", "other", "scopes")

    def __init__(
        self,
        scopes: Iterable[Scope] = (),
        *,
        ignored: Iterable[str] = (),
        other: Iterable[str] = (),
    ) -> None:
        self.scopes: tuple[Scope, ...] = tuple(scopes)
        """The resource scopes that were understood."""
        self.ignored: tuple[str, ...] = tuple(ignored)
        """Resource-like scopes that were malformed and grant nothing."""
        self.other: tuple[str, ...] = tuple(other)
        """Scopes that are not about resources (`openid`, `launch/patient`, ...)."""

    @classmethod
    def parse(cls, text: str) -> ScopeSet:
        """Scopes from a space-separated `scope` claim; never raises (see the module doc)."""
        scopes: list[Scope] = []
        ignored: list[str] = []
        other: list[str] = []
        for word in dict.fromkeys(text.split()):  # drop repeats, keep order
            scope = parse_scope(word)
            if scope is not None:
                scopes.append(scope)
            elif _looks_like_a_resource_scope(word):
                ignored.append(word)
            else:
                other.append(word)
        return cls(scopes, ignored=ignored, other=other)

    def allows(self, context: ScopeContext, resource_type: str, permission: Permission) -> bool:
        """True when some scope grants `permission` on `resource_type` in `context`."""
        return any(s.grants(context, resource_type, permission) for s in self.scopes)

    def resource_types(self, context: ScopeContext, permission: Permission) -> set[str] | None:
        """The types `permission` is granted on in `context`; None means every type (`*`)."""
        types: set[str] = set()
        for scope in self.scopes:
            if scope.grants(context, scope.resource_type, permission):
                if scope.resource_type == "*":
                    return None
                types.add(scope.resource_type)
        return types

    def __str__(self) -> str:
        """Every scope of the claim, space-separated, for audit records."""
        return " ".join([*(s.text for s in self.scopes), *self.ignored, *self.other])

    def __repr__(self) -> str:
        return f"ScopeSet.parse({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ScopeSet):
            return NotImplemented
        return (self.scopes, self.ignored, self.other) == (other.scopes, other.ignored, other.other)

    def __hash__(self) -> int:
        return hash((self.scopes, self.ignored, self.other))


_INTERACTION_LETTERS: dict[str, Permission] = {
    "read": "r",
    "vread": "r",
    "search": "s",
    "create": "c",
    "update": "u",
    "patch": "u",
    "delete": "d",
    "operation": "r",
}


def permission_for(interaction: str, instance: bool) -> Permission:
    """The permission letter a FHIR interaction needs.

    read and vread need `r`, search `s`, create `c`, update and patch `u`, delete `d`, and an
    operation `r` (operations that write check their writes separately). History needs `r` on
    one instance (`Type/id/_history`) and `s` for a type or the whole system, since those list
    resources the caller has not named. Batch and transaction have no letter: each entry is
    checked as the request it holds.
    """
    if interaction == "history":
        return "r" if instance else "s"
    try:
        return _INTERACTION_LETTERS[interaction]
    except KeyError:
        raise ValueError(f"no SMART permission for interaction {interaction!r}") from None
