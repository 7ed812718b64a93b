"""An instance checked against a compiled profile (`structure.Node`): the rules of profiling.

Cardinality at every element (nested ones inside each repetition of their parent), `fixed[x]`
and `pattern[x]` (profiling.html#fixed, #pattern), required bindings to the product's value sets,
Reference targets, slices (profiling.html#slicing: members told apart by their discriminators,
counted against each slice's min/max, checked against the slice's own rules) and the FHIRPath
invariants. Extensions whose type names a product extension definition are checked against it.

Every violation is one issue whose `expression` is where it is, e.g.
`CarePlan.activity[1].detail.performer`; choice elements are named by their JSON name
(`valueBoolean`), like `validation/base.py` does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from patientkontrakt.fhir.registry import CHOICE_TYPE_NAMES, COMPLEX_TYPE_NAMES
from patientkontrakt.outcomes import Issue
from patientkontrakt.validation import invariants
from patientkontrakt.validation.structure import Constant, Discriminator, Node
from patientkontrakt.validation.terminology import Terminology

_MAX_PROFILE_DEPTH = 8


@dataclass
class Context:
    """What checking one resource needs besides the rule tree, and the issues found."""

    resource: dict[str, Any]
    terminology: Terminology
    profile_root: Callable[[str], tuple[str, Node] | None]
    """A profile URL to (its name, its rule tree), for elements typed with a product profile."""
    profile: str
    issues: list[Issue] = field(default_factory=list)
    depth: int = 0

    def add(self, code: str, path: str, message: str) -> None:
        """Record one issue at `path`."""
        self.issues.append(Issue(code, f"{path}: {message}", expression=(path,)))


@dataclass(frozen=True)
class Item:
    """One value of an element in the instance: its JSON key and where it is."""

    key: str
    value: Any
    path: str


def check_resource(root: Node, body: dict[str, Any], context: Context) -> list[Issue]:
    """The issues of `body` against the profile whose rule tree is `root`."""
    _check_item(root, Item(root.name, body, root.path), context)
    return _unique(context.issues)


def _unique(issues: list[Issue]) -> list[Issue]:
    """Without repeats: a slice repeats its base element's rules, which may fail alike."""
    seen: set[tuple[str, tuple[str, ...]]] = set()
    out: list[Issue] = []
    for issue in issues:
        key = (issue.diagnostics, issue.expression)
        if key not in seen:
            seen.add(key)
            out.append(issue)
    return out


def _check_item(node: Node, item: Item, context: Context) -> None:
    if node.constant is not None and not matches(node.constant, item.value):
        what = "the fixed value" if node.constant.kind == "fixed" else "the pattern"
        context.add("value", item.path, f"does not match {what} required by {context.profile}")
    if node.binding is not None:
        _check_binding(node.binding, item, context)
    if node.target_types is not None and isinstance(item.value, dict):
        _check_target(node.target_types, item, context)
    for invariant in node.invariants:
        if not invariants.holds(invariant, item.value, node.fhirpath_type, context.resource):
            context.add("invariant", item.path, f"{invariant.key}: {invariant.human}")
    for url in node.type_profiles:
        _check_type_profile(url, item, context)
    if node.children and isinstance(item.value, dict):
        _check_children(node, item, context)


def _check_type_profile(url: str, item: Item, context: Context) -> None:
    found = context.profile_root(url)
    if found is None or context.depth >= _MAX_PROFILE_DEPTH or not isinstance(item.value, dict):
        return
    name, root = found
    outer = context.profile
    context.profile, context.depth = name, context.depth + 1
    try:
        _check_item(root, item, context)
    finally:
        context.profile, context.depth = outer, context.depth - 1


def _check_children(node: Node, parent: Item, context: Context) -> None:
    obj: dict[str, Any] = parent.value
    for child in node.children.values():
        items = list(_items(child, obj, parent.path, context))
        count = len(items) or _extension_only(child, obj)
        where = f"{parent.path}.{child.json_name}"
        if count < child.min:
            context.add(
                "required",
                where,
                f"at least {child.min} required by {context.profile}, found {count}",
            )
        if child.max is not None and count > child.max:
            allowed = "not allowed" if child.max == 0 else f"at most {child.max} allowed"
            context.add("structure", where, f"{allowed} by {context.profile}, found {count}")
        for item in items:
            _check_item(child, item, context)
        if child.slices:
            _check_slices(child, items, where, context)


def _items(node: Node, obj: dict[str, Any], path: str, context: Context) -> Iterator[Item]:
    """The values of `node`'s element in `obj`, one per repetition."""
    if node.is_choice:
        allowed = {t[:1].upper() + t[1:] for t in node.types}
        prefix = node.json_name
        for key, value in obj.items():
            suffix = key[len(prefix) :]
            if key.startswith(prefix) and suffix[:1].isupper() and suffix in CHOICE_TYPE_NAMES:
                if allowed and suffix not in allowed:
                    code = (
                        suffix if suffix in COMPLEX_TYPE_NAMES else suffix[:1].lower() + suffix[1:]
                    )
                    context.add(
                        "structure",
                        f"{path}.{key}",
                        f"type {code} is not allowed for {node.name} by {context.profile} "
                        f"(allowed: {', '.join(sorted(node.types))})",
                    )
                yield from _repetitions(key, value, path)
        return
    if node.name in obj:
        yield from _repetitions(node.name, obj[node.name], path)


def _repetitions(key: str, value: Any, path: str) -> Iterator[Item]:
    if isinstance(value, list):
        for index, entry in enumerate(value):
            if entry is not None:  # a null holds the place of a primitive with only extensions
                yield Item(key, entry, f"{path}.{key}[{index}]")
    else:
        yield Item(key, value, f"{path}.{key}")


def _extension_only(node: Node, obj: dict[str, Any]) -> int:
    """Repetitions of a primitive given only as `_name` (extensions, no value)."""
    companion = obj.get(f"_{node.name}")
    if isinstance(companion, list):
        return sum(1 for entry in companion if entry is not None)
    return 1 if isinstance(companion, dict) else 0


def matches(constant: Constant, value: Any) -> bool:
    """True when `value` equals a fixed value, or contains a pattern."""
    if constant.kind == "fixed":
        return bool(value == constant.value)
    return contains(value, constant.value)


def contains(value: Any, pattern: Any) -> bool:
    """True when every element of `pattern` is in `value` (profiling.html#pattern)."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(
            key in value and contains(value[key], part) for key, part in pattern.items()
        )
    if isinstance(pattern, list):
        items = value if isinstance(value, list) else [value]
        return all(any(contains(item, part) for item in items) for part in pattern)
    return bool(value == pattern)


def _check_binding(value_set: str, item: Item, context: Context) -> None:
    expansion = context.terminology.expansion(value_set)
    if expansion is None:
        return
    value = item.value
    if isinstance(value, str):
        ok = value in expansion.codes
        shown = f"the code '{value}' is not"
    elif isinstance(value, dict) and "coding" in value:
        codings = [c for c in value.get("coding", []) if isinstance(c, dict)]
        ok = any(expansion.has_coding(c.get("system"), c.get("code")) for c in codings)
        shown = "none of its codings is"
    elif isinstance(value, dict) and "code" in value:
        ok = expansion.has_coding(value.get("system"), value.get("code"))
        shown = f"the coding '{value.get('system')}|{value.get('code')}' is not"
    elif isinstance(value, dict):
        ok, shown = False, "it has no coding"  # a CodeableConcept with only text
    else:
        return
    if not ok:
        context.add(
            "code-invalid",
            item.path,
            f"{shown} in the value set {value_set}, which {context.profile} requires",
        )


def _check_target(allowed: frozenset[str], item: Item, context: Context) -> None:
    reference = item.value.get("reference")
    target = _reference_type(reference) if isinstance(reference, str) else None
    declared = item.value.get("type")
    for found in (target, declared if isinstance(declared, str) else None):
        if found is not None and found not in allowed:
            context.add(
                "structure",
                item.path,
                f"a reference to {found} is not allowed by {context.profile} "
                f"(allowed: {', '.join(sorted(allowed))})",
            )
            return


def _reference_type(reference: str) -> str | None:
    """The resource type of a literal reference (`Type/id`, `.../Type/id/_history/n`)."""
    if reference.startswith(("#", "urn:")):
        return None
    parts = reference.split("/")
    if "_history" in parts:
        parts = parts[: parts.index("_history")]
    if len(parts) < 2 or not parts[-2][:1].isupper():
        return None
    return parts[-2]


# --- slices -----------------------------------------------------------------------------------


def _check_slices(base: Node, items: list[Item], where: str, context: Context) -> None:
    counts = dict.fromkeys(base.slices, 0)
    closed = base.slicing is not None and base.slicing.rules == "closed"
    for item in items:
        chosen = next((s for s in base.slices.values() if _in_slice(base, s, item, context)), None)
        if chosen is None:
            if closed:
                context.add(
                    "structure",
                    item.path,
                    f"matches none of the slices of {base.name} and {context.profile} "
                    "allows no others",
                )
            continue
        assert chosen.slice_name is not None
        counts[chosen.slice_name] += 1
        _check_item(chosen, item, context)
    for name, count in counts.items():
        member = base.slices[name]
        if count < member.min:
            context.add(
                "required",
                where,
                f"slice '{name}': at least {member.min} required by {context.profile}, "
                f"found {count}",
            )
        if member.max is not None and count > member.max:
            context.add(
                "structure",
                where,
                f"slice '{name}': at most {member.max} allowed by {context.profile}, found {count}",
            )


def _in_slice(base: Node, member: Node, item: Item, context: Context) -> bool:
    if base.is_choice and member.slice_name and member.slice_name.startswith(base.json_name):
        return item.key == member.slice_name  # a type slice: value[x]:valueBoolean
    discriminators = base.slicing.discriminators if base.slicing else ()
    if not discriminators:
        return _conforms(member, item, context)
    for discriminator in discriminators:
        verdict = _discriminated(discriminator, member, item)
        if verdict is None:
            return _conforms(member, item, context)
        if not verdict:
            return False
    return True


def _discriminated(discriminator: Discriminator, member: Node, item: Item) -> bool | None:
    """Whether `item` is in `member` by one discriminator; None when it cannot be told."""
    path = discriminator.path
    if discriminator.type in ("value", "pattern"):
        constant = _expected(member, path)
        if constant is None:
            return None
        found = _values_at(item.value, path)
        return found is not None and any(matches(constant, value) for value in found)
    if discriminator.type == "exists":
        target = _node_at(member, path)
        found = _values_at(item.value, path)
        if target is None or found is None:
            return None
        return bool(found) == (target.min > 0)
    return None


def _expected(member: Node, path: str) -> Constant | None:
    """The fixed value or pattern a slice gives the discriminator's path."""
    if path == "$this":
        return member.constant
    target = _node_at(member, path)
    if target is not None and target.constant is not None:
        return target.constant
    if path == "url" and member.type_profiles:  # extension slices: the extension's URL
        return Constant("fixed", member.type_profiles[0])
    if member.constant is not None and isinstance(member.constant.value, dict):
        inner = _values_at(member.constant.value, path)
        if inner and len(inner) == 1:
            return Constant(member.constant.kind, inner[0])
    return None


def _node_at(member: Node, path: str) -> Node | None:
    node: Node | None = member
    for part in path.split("."):
        if node is None or not part.isidentifier():
            return None
        node = node.children.get(part) or node.children.get(f"{part}[x]")
    return node


def _values_at(value: Any, path: str) -> list[Any] | None:
    """The values at a simple dotted path (`system`, `coding.code`); None for others."""
    if path == "$this":
        return [value]
    found = [value]
    for part in path.split("."):
        if not part.isidentifier():
            return None
        step: list[Any] = []
        for current in found:
            if isinstance(current, dict) and part in current:
                child = current[part]
                step.extend(child if isinstance(child, list) else [child])
        found = step
    return found


def _conforms(member: Node, item: Item, context: Context) -> bool:
    """An item is in a slice it cannot be told in by value when it meets the slice's rules."""
    trial = Context(context.resource, context.terminology, context.profile_root, context.profile)
    _check_item(member, item, trial)
    return not trial.issues


"""R4's datatypes as they end a choice element's JSON name (`valueCodeableConcept`)."""
