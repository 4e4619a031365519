"""sources.yaml: the places Awareness gathers from, read, checked and added to.

The file is a YAML list of sources (or a mapping whose ``sources:`` key
holds the list), each with ``id``, ``name``, ``kind`` (feed or spider),
``url``, ``tags`` and ``every``.  Spiders may carry extra settings of their
own; a feed may also have ``site`` (its home page).

``opml_import`` appends a feed reader's OPML export to the file as text, so
the comments and order the librarian keeps in it survive.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import Any, Sequence
from urllib.parse import urlsplit

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails
from yaml.nodes import MappingNode, Node, SequenceNode

from ..core import netguard
from . import yamlpos
from ..core.errors import SourcesError, SourcesFileError
from ..core.models import SPIDER_SETTINGS, Source
from .spider_config import check_spider_entry

logger = logging.getLogger(__name__)

FEED_SETTINGS = [*(f for f in Source.model_fields if f not in SPIDER_SETTINGS), "site"]
_DEFAULT_EVERY = Source.model_fields["every"].default
_IDS = "use lower case letters, digits, - and _"
_HOW_TO_START = ("create it with one entry per feed, e.g.\n"
                 "- id: nice-news\n  name: NICE news\n  url: https://www.nice.org.uk/news/feed\n"
                 "  tags: [guidance]\n"
                 "or import your feed reader's OPML export with: awareness sources import-opml FILE")


# ---------------------------------------------------------------- reading

def load_sources(path: Path, *, fetch_allow: Sequence[str] | None = None) -> list[Source]:
    """Every source in sources.yaml; raises SourcesError on the first problem.

    With ``fetch_allow`` (the setting) a URL on a private or loopback address
    not allowed by it is a problem too (netguard.check_literal).
    """
    sources, errors = check_sources(path, fetch_allow=fetch_allow)
    if errors:
        raise errors[0]
    return sources


def usable_sources(path: Path, *, fetch_allow: Sequence[str] | None = None,
                   ) -> tuple[list[Source], list[SourcesError]]:
    """The sources a run can gather, and the entries it must skip and report (issue 16).

    One bad entry (malformed, refused by the fetch guard, a duplicate) never
    stops the others; only a file that cannot be read as a list of sources
    at all raises SourcesFileError.
    """
    sources, errors = check_sources(path, fetch_allow=fetch_allow)
    for error in errors:
        if isinstance(error, SourcesFileError):
            raise error
    return sources, [_with_advice(e) for e in errors]


def _with_advice(error: SourcesError) -> SourcesError:
    """The problem as reported in runs, `sources list`, the admin page and the health mail."""
    return SourcesError(error.path, error.line, f"{error.problem} (skipped until fixed: edit the entry, then "
                        "check with `awareness sources list`)")


def check_sources(path: Path, *, fetch_allow: Sequence[str] | None = None,
                  ) -> tuple[list[Source], list[SourcesError]]:
    """Every valid source and every problem in the file, in line order."""
    path = Path(path)
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return [], [SourcesFileError(where, None, f"the sources file does not exist; {_HOW_TO_START}")]
    except UnicodeDecodeError as e:
        return [], [SourcesFileError(where, None, f"the file is not UTF-8 text ({e.reason}); save it as UTF-8")]
    try:
        parsed = yamlpos.parse(text)
    except yamlpos.YamlSyntaxError as e:
        return [], [SourcesFileError(where, e.line, e.problem)]
    errors = [SourcesError(where, line, f"'{key}' is set twice (first on line {first}); keep one")
              for line, key, first in yamlpos.duplicate_keys(parsed.node)]
    entries, list_node, problem = _entry_list(parsed)
    if problem:
        errors.append(SourcesFileError(where, problem[0], problem[1]))
    sources: list[Source] = []
    first_id: dict[str, int] = {}
    first_url: dict[str, tuple[str, int]] = {}
    items = list_node.value if isinstance(list_node, SequenceNode) else []
    for index, (entry, node) in enumerate(zip(entries, items)):
        source, problems = _check_entry(entry, node, index)
        errors.extend(SourcesError(where, line, msg) for line, msg in problems)
        if source is None:
            continue
        id_line = yamlpos.locate(node, ["id"]) or yamlpos.line_of(node)
        if source.id in first_id:
            errors.append(SourcesError(where, id_line, f"the source id '{source.id}' is used twice (first on line "
                                       f"{first_id[source.id]}); give each source its own id"))
            continue
        refused = fetch_refusal(source.url, fetch_allow)
        if refused:
            errors.append(SourcesError(where, yamlpos.locate(node, ["url"]), f"source '{source.id}': {refused}"))
            continue
        key = url_key(source.url)
        if key in first_url:
            other, line = first_url[key]
            errors.append(SourcesError(where, yamlpos.locate(node, ["url"]), f"source '{source.id}': this url is "
                                       f"already listed as '{other}' (line {line}); list each feed once"))
            continue
        first_id[source.id] = id_line
        first_url[key] = (source.id, id_line)
        sources.append(source)
    errors.sort(key=lambda e: e.line or 0)
    return sources, errors


def _entry_list(parsed: yamlpos.Parsed) -> tuple[list[Any], Node | None, tuple[int | None, str] | None]:
    """The list of entries and its node, whichever of the two layouts the file uses."""
    data, root = parsed.data, parsed.node
    if data is None:
        return [], None, None
    if isinstance(data, dict) and isinstance(root, MappingNode):
        extra = [k for k in data if k != "sources"]
        if extra:
            return [], None, (yamlpos.locate(root, [str(extra[0])], key=True),
                              f"unknown setting '{extra[0]}': the file should be a list of sources, "
                              "or hold that list under 'sources:'")
        data, root = data.get("sources"), yamlpos.node_at(root, ["sources"])
        if data is None:
            return [], None, None
    if not isinstance(data, list) or not isinstance(root, SequenceNode):
        line = yamlpos.line_of(root) if root is not None else 1
        return [], None, (line, "sources.yaml should be a list of sources, each starting with '- id:'")
    return data, root, None


def _check_entry(entry: Any, node: Node, index: int) -> tuple[Source | None, list[tuple[int | None, str]]]:
    line = yamlpos.line_of(node)
    if not isinstance(entry, dict):
        return None, [(line, f"source {index + 1} must be a set of settings (id:, url: …), "
                             f"not {yamlpos.shown(entry)}")]
    label = f"source '{entry['id']}'" if isinstance(entry.get("id"), str) else f"source {index + 1}"
    problems: list[tuple[int | None, str]] = []
    if entry.get("kind", "feed") == "feed":
        for key in entry:
            if key not in FEED_SETTINGS:
                hint = yamlpos.suggest(str(key), FEED_SETTINGS) or f"; feeds know {', '.join(FEED_SETTINGS)}"
                problems.append((yamlpos.locate(node, [str(key)], key=True), f"{label}: unknown setting '{key}'{hint}"))
    elif entry.get("kind") == "spider":
        problems.extend(check_spider_entry(entry, node, label))
    every = entry.get("every")
    try:
        source = Source.model_validate(entry)
    except ValidationError as e:
        problems.extend(_translate(d, node, label, entry) for d in e.errors())
        return None, problems
    if source.every <= timedelta(0):
        problems.append((yamlpos.locate(node, ["every"]), f"{label}: every must be longer than zero "
                         f"(got {yamlpos.shown(every)})"))
    return (None if problems else source), problems


def _translate(d: ErrorDetails, node: Node, label: str, entry: dict[str, Any]) -> tuple[int | None, str]:
    loc = list(d["loc"])
    kind, value = d["type"], d.get("input")
    line = yamlpos.locate(node, loc)
    name = str(loc[0]) if loc else ""
    got = f" (got {yamlpos.shown(value)})"
    if kind == "missing" and name == "id":
        hint = yamlpos.slug(str(entry.get("name") or "")) or "nice-news"
        return line, f"{label} has no 'id'; add a short one such as 'id: {hint}'"
    if kind == "missing":
        return line, f"{label} has no '{name}'" + ("; add the address of its feed or page" if name == "url" else "")
    if name == "id" and kind == "string_pattern_mismatch":
        return line, f"source id {yamlpos.shown(value)} must {_IDS} — try '{yamlpos.slug(str(value)) or 'source'}'"
    if name == "url" and kind == "value_error":
        return line, f"{label}: url {yamlpos.shown(value)} is not a web address; it must start with http:// or https://"
    if name == "kind":
        return line, f"{label}: kind must be feed or spider{got}"
    if name == "every" and kind == "value_error":
        return line, f"{label}: every {yamlpos.shown(value)} is not a duration; write a number and a unit, e.g. 30m, 6h, 1d"
    if name == "tags" and len(loc) == 1:
        return line, f"{label}: 'tags' must be a list: write tags: [first, second]"
    if len(loc) == 2 and kind == "string_type":
        return line, f"{label}: each entry of '{name}' must be text{got}; put it in quotes"
    if kind == "string_type":
        return line, f"{label}: '{name}' must be text{got}"
    message = str(d["ctx"]["error"]) if kind == "value_error" and "ctx" in d else d["msg"]
    return line, f"{label}: {name}: {message}{got}"


def fetch_refusal(url: str, fetch_allow: Sequence[str] | None) -> str | None:
    """Why a source URL may never be fetched (netguard, without DNS), or None."""
    if fetch_allow is None:
        return None
    networks, hosts = netguard.split_allow(fetch_allow)
    try:
        netguard.check_literal(url, allow_networks=networks, allow_hosts=hosts)
    except netguard.BlockedAddress as e:
        return f"refused {url}: {e}"
    return None


def url_key(url: str) -> str:
    """A feed URL as compared for duplicates: scheme, host case and a trailing slash ignored."""
    parts = urlsplit(url.strip())
    key = parts.netloc.lower() + parts.path.rstrip("/")
    return key + ("?" + parts.query if parts.query else "")


# ---------------------------------------------------------------- writing

def format_every(every: timedelta) -> str:
    """A duration the way a person would write it in sources.yaml: '30m', '6h', '1d'."""
    seconds = int(every.total_seconds())
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def dump_source_yaml(source: Source, indent: int = 0) -> str:
    """One source as a sources.yaml list entry ('- id: …'), defaults left out, indented by ``indent``."""
    entry: dict[str, Any] = {"id": source.id}
    if source.name:
        entry["name"] = source.name
    if source.kind != "feed":
        entry["kind"] = source.kind
    entry["url"] = source.url
    entry.update(source.model_extra or {})
    if source.tags:
        entry["tags"] = list(source.tags)
    if source.every != _DEFAULT_EVERY:
        entry["every"] = format_every(source.every)
    text = yaml.dump(entry, Dumper=_EntryDumper, sort_keys=False, allow_unicode=True,
                     default_flow_style=False, width=10**6)
    pad = " " * indent
    lines = text.splitlines(keepends=True)
    return "".join(pad + ("- " if i == 0 else "  ") + line for i, line in enumerate(lines))


class _EntryDumper(yaml.SafeDumper):
    """Safe dumping, with lists (tags) kept on one line: tags: [a, b]."""


_EntryDumper.add_representer(
    list, lambda dumper, value: dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=True))
