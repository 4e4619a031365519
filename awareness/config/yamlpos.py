"""YAML with line numbers: so errors in hand-written files can say where.

PyYAML's ``safe_load`` throws the positions away.  Here the same safe
loader composes the node tree once and constructs the data from it, so a
pydantic error ``loc`` such as ``('topics', 2, 'threshold')`` can be turned
back into the line a librarian has to fix.  Only ``SafeLoader`` is used.
"""

from __future__ import annotations

import difflib
import json
import logging
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

logger = logging.getLogger(__name__)


class YamlSyntaxError(Exception):
    """The text is not YAML; ``line`` is 1-based (None when unknown)."""

    def __init__(self, line: int | None, problem: str) -> None:
        self.line = line
        self.problem = problem
        super().__init__(f"line {line}: {problem}" if line else problem)


@dataclass(frozen=True)
class Parsed:
    """A YAML document as data and as the node tree it came from."""

    node: Node | None
    data: Any


# PyYAML's wording, followed by what a person can actually do about it.
_HINTS = (
    ("found character '\\t'", "indent with spaces, not tabs"),
    ("mapping values are not allowed here",
     "a value contains ': ' or a line is indented wrongly; put the value in quotes"),
    ("could not find expected ':'", "a line is missing its ':' after the setting name"),
    ("did not find expected key", "a line is indented differently from the lines around it"),
    ("did not find expected '-' indicator", "a list item is indented differently from the ones before it"),
    ("found undefined alias", "a '*' starts a value; put the value in quotes"),
    ("found unexpected end of stream", "a quote or bracket is opened but never closed"),
    ("but found '<stream end>'", "a quote or bracket is opened but never closed"),
    ("found character '@' that cannot start any token", "a value starts with '@'; put it in quotes"),
    ("found character '`' that cannot start any token", "a value starts with '`'; put it in quotes"),
)


class _NoAliasLoader(yaml.SafeLoader):
    """The safe loader, refusing aliases (``*name``, ``<<: *name``).

    Nested aliases expand quadratically or worse ("billion laughs"): a profile of a
    few lines became a gigabyte in the web editor and a minute of CPU (issue 15).
    Nobody needs them in a profile or a sources list, so they are refused as soon
    as one is read, before anything is expanded."""

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise YamlSyntaxError(event.start_mark.line + 1,
                                  f"'*{event.anchor}' repeats another part of the file (a YAML alias); aliases "
                                  "are not allowed here: write the values out in full (if the '*' is meant as "
                                  "text, put the value in quotes)")
        return super().compose_node(parent, index)  # type: ignore[no-any-return]


def parse(text: str) -> Parsed:
    """Compose and construct one YAML document with the safe loader (aliases refused)."""
    loader = _NoAliasLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        raise YamlSyntaxError(mark.line + 1 if mark else None, _explain(e)) from None
    except yaml.YAMLError as e:
        raise YamlSyntaxError(None, f"this is not valid YAML: {e}") from None
    finally:
        loader.dispose()
    return Parsed(node, data)


def _explain(e: yaml.MarkedYAMLError) -> str:
    problem = str(e.problem or e.context or "the YAML is not valid")
    if "expected a single document" in str(e.context or ""):
        return "the file holds more than one YAML document ('---'); keep one per file"
    for needle, hint in _HINTS:
        if needle in problem or needle in str(e.context or ""):
            return f"this is not valid YAML ({problem}): {hint}"
    return f"this is not valid YAML: {problem}"


def line_of(node: Node) -> int:
    return node.start_mark.line + 1


def _key_text(key: Node) -> Any:
    return key.value if isinstance(key, ScalarNode) else None


def child(node: Node | None, part: str | int) -> tuple[Node, Node] | None:
    """The (key node, value node) of ``part`` in a mapping, or (item, item) in a sequence."""
    if isinstance(node, MappingNode) and isinstance(part, str):
        found = None
        for key, value in node.value:
            if _key_text(key) == part:
                found = (key, value)       # the last one wins, as in safe_load
        return found
    if isinstance(node, SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        item = node.value[part]
        return (item, item)
    return None


def locate(root: Node | None, loc: Sequence[str | int], *, key: bool = False) -> int | None:
    """The line of the node at ``loc``; the nearest enclosing node's when it is missing.

    With ``key=True`` the line of the key itself (for "unknown setting" errors).
    """
    if root is None:
        return None
    node = root
    found_key: Node | None = None
    for part in loc:
        pair = child(node, part)
        if pair is None:
            return line_of(node)
        found_key, node = pair
    if key and found_key is not None:
        return line_of(found_key)
    return line_of(node)


def node_at(root: Node | None, loc: Sequence[str | int]) -> Node | None:
    node = root
    for part in loc:
        pair = child(node, part)
        if pair is None:
            return None
        node = pair[1]
    return node


def walk(root: Node | None) -> Iterator[Node]:
    """Every node once, even when aliases share them (no exponential walk)."""
    seen: set[int] = set()
    stack = [root] if root is not None else []
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        yield node
        if isinstance(node, MappingNode):
            for k, v in reversed(node.value):
                stack.extend((v, k))
        elif isinstance(node, SequenceNode):
            stack.extend(reversed(node.value))


def duplicate_keys(root: Node | None) -> list[tuple[int, str, int]]:
    """(line, key, first line) for each key repeated within one mapping.

    ``safe_load`` silently keeps the last value, which hides half of what a
    person wrote; we report it instead.
    """
    found = []
    for node in walk(root):
        if not isinstance(node, MappingNode):
            continue
        first: dict[Any, int] = {}
        for key, _ in node.value:
            text = _key_text(key)
            if text is None or key.tag == "tag:yaml.org,2002:merge":
                continue
            if text in first:
                found.append((line_of(key), str(text), first[text]))
            else:
                first[text] = line_of(key)
    return sorted(found)


def shown(value: Any, limit: int = 60) -> str:
    """A value as it should appear in an error message: strings in double quotes."""
    if isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
    elif value is None:
        text = "nothing"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (dict, list, tuple)):
        text = "a list" if isinstance(value, (list, tuple)) else "a set of settings"
    else:
        text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def suggest(word: str, choices: Iterable[str]) -> str:
    """' — did you mean 'x'?' when a close choice exists, else ''."""
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f" — did you mean '{close[0]}'?" if close else ""


def slug(text: str, limit: int = 40) -> str:
    """Lower-case letters, digits and '-', as ids and tags must be."""
    text = re.sub(r"['\u2019]", "", text)          # King's Fund → kings-fund, not king-s-fund
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    s = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    if len(s) > limit:
        cut = s[:limit]
        s = cut.rsplit("-", 1)[0] if "-" in cut[limit // 2:] else cut
    return s.strip("-")
