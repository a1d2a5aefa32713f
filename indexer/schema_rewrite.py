"""The STIX 2.1 JSON schemas rewritten so that a valid object raises no exception inside them.

fastjsonschema compiles `not` and each failing `anyOf` branch into a raise caught a line later.
The STIX schemas use them on every object (custom-property types, reserved property names, the
refs a sighting may not point at): a valid indicator raised 20 exceptions, a third of its
validation time. Each rule below swaps one such construct for an equivalent that is checked
without raising. Every rule is exact (the same objects pass and fail); only the wording of a
failure changes, and a failure is worded by the validator compiled from the original schemas
(validate._schema_failure). tests/indexer/test_schema_rewrite.py checks the rules one by one and
the two validators' verdicts on a corpus.
"""

from __future__ import annotations

import re
from typing import Any

# Enum values that need no escaping in a regular expression.
_PLAIN_WORD = re.compile(r"^[a-z0-9-]+$")


def exception_free(node: Any) -> Any:
    """`node` (a schema or any part of it) with every rule applied, bottom up; a new object."""
    if isinstance(node, list):
        return [exception_free(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: exception_free(value) for key, value in node.items()}
    merged = _merged_types(node.get("anyOf"))
    if merged is not None:
        del node["anyOf"]
        node.setdefault("allOf", []).append(merged)
    replacement = _without_not(node.get("not"))
    if replacement is not None:
        del node["not"]
        node.setdefault("allOf", []).append(replacement)
    return node


def _merged_types(branches: Any) -> dict[str, Any] | None:
    """anyOf [{type: array, minItems: n}, {type: string}, ...] (the schemas' rule for a custom
    property) is {type: [array, string, ...], minItems: n}: minItems only ever applies to arrays,
    and each branch asks nothing but its type."""
    if not isinstance(branches, list) or not branches:
        return None
    types: list[str] = []
    merged: dict[str, Any] = {}
    for branch in branches:
        if not isinstance(branch, dict) or not isinstance(branch.get("type"), str):
            return None
        if set(branch) - {"type", "minItems"} or ("minItems" in branch and branch["type"] != "array"):
            return None
        if branch["type"] in types:
            return None
        types.append(branch["type"])
        if "minItems" in branch:
            merged["minItems"] = branch["minItems"]
    return {"type": types, **merged}


def _without_not(negated: Any) -> dict[str, Any] | None:
    """An equivalent of {not: negated} that raises nothing when it holds, or None."""
    if not isinstance(negated, dict):
        return None
    keys = set(negated)
    if keys == {"required"} and _single_keys([negated]):
        # not {required: [k]}: an object without k (`required` ignores what is not an object,
        # so `not` refuses it, hence the type)
        return {"type": "object", "properties": {negated["required"][0]: False}}
    if keys == {"anyOf"} and isinstance(negated["anyOf"], list) and _single_keys(negated["anyOf"]):
        # not {anyOf: [{required: [a]}, {required: [b]}]}: an object with neither a nor b
        return {"type": "object", "properties": {branch["required"][0]: False for branch in negated["anyOf"]}}
    if keys == {"enum"} and _plain_words(negated["enum"]):
        # not {enum: [w, ...]}: a string other than these (a non-string matches no enum of
        # strings, so it passes both; `pattern` ignores non-strings). fastjsonschema reads `$`
        # as the end of the string.
        return {"pattern": "^(?!(?:" + "|".join(negated["enum"]) + ")$)"}
    if keys == {"pattern"} and isinstance(negated["pattern"], str) and _anchored(negated["pattern"]):
        # not {pattern: ^P}: a string where ^P does not match (a non-string fails `not`, since
        # it passes any pattern, hence the type). ^P can only match at the start, so a
        # lookahead at the start is the whole search.
        return {"type": "string", "pattern": "^(?!(?:" + negated["pattern"] + "))"}
    return None


def _anchored(pattern: str) -> bool:
    """Whether a regular expression can only match at the start of the string: it begins with
    ^ and has no | outside parentheses ("^(statement)|(tlp)$" also matches "...tlp")."""
    if not pattern.startswith("^"):
        return False
    depth, in_class, escaped = 0, False, False
    for char in pattern:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            return False
    return depth == 0 and not in_class


def _single_keys(branches: list[Any]) -> bool:
    return all(
        isinstance(branch, dict)
        and set(branch) == {"required"}
        and isinstance(branch["required"], list)
        and len(branch["required"]) == 1
        and isinstance(branch["required"][0], str)
        for branch in branches
    )


def _plain_words(values: Any) -> bool:
    return (
        isinstance(values, list)
        and bool(values)
        and all(isinstance(v, str) and _PLAIN_WORD.match(v) for v in values)
    )
