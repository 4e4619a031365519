"""The profile editor's form: a topic's terms, exclusions, examples and threshold, written back into the YAML.

The file stays the source of truth and stays the librarian's.  ruamel.yaml's
round-trip loader says where each topic's keys are (line and column); only the
lines of a value the form changed are rewritten, in the file's own layout (a
flow list wrapped under its bracket, a block list of quoted examples), so
every comment, blank line, key order and untouched value stays byte for byte.
A key the form empties is taken out, one it fills goes after the topic's other
match keys.  The result is read back and compared; should the splice ever not
give exactly the values asked for, ruamel.yaml's own round-trip dump is used.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

import yaml as pyyaml

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from ..core.models import Profile

LIST_KEYS = ("terms", "exclude", "examples")
_ORDER = ("id", "title", "description", "terms", "exclude", "examples", "threshold")


@dataclass
class TopicEdit:
    terms: list[str]
    exclude: list[str]
    examples: list[str]
    threshold: float | None


@dataclass
class FormResult:
    edits: dict[str, TopicEdit] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)       # in words, naming the topic and the field


def _lines(value: Any) -> list[str]:
    """One entry per line; blank lines and stray spaces dropped, the order kept, repeats once."""
    out: list[str] = []
    for line in str(value or "").replace("\r\n", "\n").split("\n"):
        line = " ".join(line.split())
        if line and line not in out:
            out.append(line)
    return out


def read_form(profile: Profile, form: Mapping[str, Any]) -> FormResult:
    """The form's fields (``<topic>.terms``, ``.exclude``, ``.examples``, ``.threshold``) per topic."""
    result = FormResult()
    for topic in profile.topics:
        raw = str(form.get(f"{topic.id}.threshold", "") or "").strip()
        threshold = None
        if raw:
            try:
                threshold = float(raw)
            except ValueError:
                threshold = -1.0
            if not 0.0 <= threshold <= 1.0:
                result.errors.append(f"{topic.title}: the threshold must be a number from 0 to 1, such as 0.2 "
                                     f"(it was '{raw}'); leave it empty for the usual one")
                continue
        result.edits[topic.id] = TopicEdit(terms=_lines(form.get(f"{topic.id}.terms")),
                                           exclude=_lines(form.get(f"{topic.id}.exclude")),
                                           examples=_lines(form.get(f"{topic.id}.examples")), threshold=threshold)
    return result


WIDTH = 100                         # where a rewritten flow list wraps


def _yaml() -> YAML:
    yaml = YAML()                   # round trip
    yaml.preserve_quotes = True
    yaml.width = 4096               # never re-wrap a long description or example
    return yaml


def apply(text: str, edits: dict[str, TopicEdit]) -> str:
    """The profile file's text with these topics' match fields replaced; everything else as it was."""
    data = _yaml().load(text)
    out = _splice(text, data, edits)
    if not _gives(out, text, edits):
        out = _round_trip(data, edits)
    return out


def _round_trip(data: Any, edits: dict[str, TopicEdit]) -> str:
    for topic in data.get("topics") or []:
        edit = edits.get(str(topic.get("id")))
        if edit is not None:
            for key in LIST_KEYS:
                values = getattr(edit, key)
                if values or key == "terms":
                    topic[key] = CommentedSeq(values)
                else:
                    topic.pop(key, None)
            if edit.threshold is None:
                topic.pop("threshold", None)
            else:
                topic["threshold"] = edit.threshold
    stream = io.StringIO()
    _yaml().dump(data, stream)
    return stream.getvalue()


def _gives(new: str, old: str, edits: dict[str, TopicEdit]) -> bool:
    """Whether ``new`` reads as ``old`` with exactly these edits made."""
    try:
        after, before = pyyaml.safe_load(new), pyyaml.safe_load(old)
    except pyyaml.YAMLError:
        return False
    for topic in before.get("topics") or []:
        edit = edits.get(str(topic.get("id")))
        if edit is None:
            continue
        for key in LIST_KEYS:
            topic.pop(key, None)
            if getattr(edit, key) or key == "terms":
                topic[key] = getattr(edit, key)
        topic.pop("threshold", None)
        if edit.threshold is not None:
            topic["threshold"] = edit.threshold
    return bool(after == before)


# ------------------------------------------------------------------ the splice

def _splice(text: str, data: Any, edits: dict[str, TopicEdit]) -> str:
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    topics = data.get("topics") or []
    top = list(data.keys())
    after = top[top.index("topics") + 1] if "topics" in top and top.index("topics") + 1 < len(top) else None
    topics_end = data.lc.key(after)[0] if after is not None else len(lines)
    changes: list[tuple[int, int, list[str]]] = []       # (first line, line after the last, new lines)
    for n, topic in enumerate(topics):
        edit = edits.get(str(topic.get("id")))
        if edit is None:
            continue
        end = topics.lc.item(n + 1)[0] if n + 1 < len(topics) else topics_end
        changes += _topic_changes(lines, topic, end, edit)
    # From the bottom up, so earlier line numbers stay right; keys added at one place keep their order.
    for _, (start, stop, new) in sorted(enumerate(changes), key=lambda c: (c[1][0], c[1][1], c[0]), reverse=True):
        lines[start:stop] = new
    return "".join(lines)


def _regions(lines: list[str], topic: CommentedMap, end: int) -> dict[str, tuple[int, int]]:
    """key -> (first line, line after its value), trailing blank and comment lines left outside."""
    keys = list(topic.keys())
    out = {}
    for i, key in enumerate(keys):
        start = topic.lc.key(key)[0]
        stop = topic.lc.key(keys[i + 1])[0] if i + 1 < len(keys) else end
        while stop > start + 1 and (not lines[stop - 1].strip() or lines[stop - 1].lstrip().startswith("#")):
            stop -= 1
        out[key] = (start, stop)
    return out


def _topic_changes(lines: list[str], topic: CommentedMap, end: int,
                   edit: TopicEdit) -> list[tuple[int, int, list[str]]]:
    regions = _regions(lines, topic, end)
    col = topic.lc.key(next(iter(topic.keys())))[1]
    changes = []
    wanted: dict[str, Any] = {k: getattr(edit, k) for k in LIST_KEYS}
    wanted["threshold"] = edit.threshold
    for key, value in wanted.items():
        old = topic.get(key)
        empty = value is None or (value == [] and key != "terms")
        if key in topic and empty:
            changes.append((*regions[key], []))
            continue
        if empty or (old is not None and _same(old, value)):
            continue
        if key in topic:
            start, stop = regions[key]
            prefix = lines[start][:topic.lc.key(key)[1]]
            new = _render(key, value, old, prefix, col, lines[start])
            comment = re.search(r"\]([ \t]+#.*)$", lines[stop - 1].rstrip("\n"))
            if comment and new and new[-1].rstrip("\n").endswith("]"):   # a flow list's own comment stays
                new[-1] = new[-1].rstrip("\n") + comment.group(1) + "\n"
            changes.append((start, stop, new))
        else:
            before = [k for k in _ORDER[:_ORDER.index(key)] if k in regions]
            at = max((regions[k][1] for k in before), default=regions[next(iter(regions))][1])
            changes.append((at, at, _render(key, value, None, " " * col, col, "")))
    return changes


def _same(old: Any, value: Any) -> bool:
    if isinstance(value, list):
        return [str(v) for v in old] == value
    return bool(old == value)


def _render(key: str, value: Any, old: Any, prefix: str, col: int, old_line: str) -> list[str]:
    if key == "threshold":
        kept = re.match(r"^(\s*(?:- )?threshold:\s*)\S+(.*)$", old_line.rstrip("\n")) if old_line else None
        if kept:
            return [f"{kept.group(1)}{value!r}{kept.group(2)}\n"]
        return [f"{prefix}threshold: {value!r}\n"]
    flow = old.fa.flow_style() if isinstance(old, CommentedSeq) else key != "examples"
    if flow or not value:
        return _flow(key, value, prefix, col)
    dash = old.lc.item(0)[1] - 2 if isinstance(old, CommentedSeq) and len(old) else col + 2
    return [f"{prefix}{key}:\n"] + [f"{' ' * dash}- {_quoted(v)}\n" for v in value]


def _flow(key: str, values: list[str], prefix: str, col: int) -> list[str]:
    """``key: [a, b, c]``, wrapped before WIDTH with the items lined up under the first."""
    head = f"{key}: ["
    if not values:
        return [f"{prefix}{key}: []\n"]
    items = [_plain(v) for v in values]
    rows, row = [], ""
    for i, item in enumerate(items):
        piece = item + ("," if i < len(items) - 1 else "]")
        if row and col + len(head) + len(row) + 1 + len(piece) > WIDTH:
            rows.append(row)
            row = piece
        else:
            row = f"{row} {piece}" if row else piece
    rows.append(row)
    pad = " " * (col + len(head))
    return [f"{prefix}{head}{rows[0]}\n"] + [f"{pad}{r}\n" for r in rows[1:]]


_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9 &'/.+()-]*")


def _plain(value: str) -> str:
    """A flow item as written by hand when YAML reads it back as the same text; quoted otherwise."""
    if _PLAIN.fullmatch(value) and not value.endswith(" "):
        try:
            if pyyaml.safe_load(f"[{value}]") == [value]:
                return value
        except pyyaml.YAMLError:
            pass
    return _quoted(value)


def _quoted(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)    # a JSON string is a YAML double-quoted scalar
