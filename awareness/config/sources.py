"""sources.yaml: the places Awareness gathers from, read, checked and added to.

The file is a YAML list of sources (or a mapping whose ``sources:`` key
holds the list), each with ``id``, ``name``, ``kind`` (feed or spider),
``url``, ``tags`` and ``every``.  Spiders may carry extra settings of their
own; a feed may also have ``site`` (its home page).

``import_opml`` appends a feed reader's OPML export to the file as text, so
the comments and order the librarian keeps in it survive.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Sequence
from urllib.parse import urlsplit
from xml.parsers import expat

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ..core import netguard
from . import yamlpos
from ..core.errors import SourcesError, SourcesFileError
from ..core.models import ID_PATTERN, SPIDER_SETTINGS, Source
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
        refused = _refused(source.url, fetch_allow)
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


def _refused(url: str, fetch_allow: Sequence[str] | None) -> str | None:
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


# ------------------------------------------------------------------- OPML

@dataclass
class OpmlFeed:
    """One feed outline in an OPML file, with the titles of the folders above it as tags."""

    title: str
    url: str
    site: str
    tags: list[str] = field(default_factory=list)
    line: int = 0


class _Refused(Exception):
    pass


def read_opml(path: Path) -> list[OpmlFeed]:
    """The feed outlines of an OPML 1.0/2.0 file, in order.

    Parsed with expat directly so that any DOCTYPE (and with it any entity
    declaration: "billion laughs", external entities) is refused before it
    can do harm; OPML never needs one.
    """
    where = str(path)
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise SourcesError(where, None, "there is no such OPML file") from None
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    feeds: list[OpmlFeed] = []
    folders: list[str | None] = []
    seen: dict[str, Any] = {"root": None, "body": False}

    def refuse(*_: Any) -> None:
        raise _Refused()

    def start(name: str, attrs: dict[str, str]) -> None:
        if seen["root"] is None:
            seen["root"] = name
        if name == "body":
            seen["body"] = True
        if name != "outline":
            return
        a = {k.lower(): v.strip() for k, v in attrs.items()}
        title = a.get("title") or a.get("text") or ""
        if a.get("xmlurl"):
            tags = [yamlpos.slug(f) for f in folders if f] + _category_tags(a.get("category", ""))
            feeds.append(OpmlFeed(title=title, url=a["xmlurl"], site=a.get("htmlurl", ""),
                                  tags=[t for i, t in enumerate(tags) if t and t not in tags[:i]],
                                  line=parser.CurrentLineNumber))
            folders.append(None)
        else:
            folders.append(title)

    def end(name: str) -> None:
        if name == "outline" and folders:
            folders.pop()

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        parser.Parse(data, True)
    except _Refused:
        raise SourcesError(where, parser.CurrentLineNumber, "refused: the file declares a DOCTYPE or entities, "
                           "which OPML never needs and which can be used to attack the reader; "
                           "export the OPML again from your feed reader") from None
    except expat.ExpatError as e:
        raise SourcesError(where, e.lineno, f"this is not well-formed XML ({expat.ErrorString(e.code)}); "
                           "export the OPML again from your feed reader") from None
    if seen["root"] != "opml" or not seen["body"]:
        raise SourcesError(where, 1, f"this is not an OPML file (it starts with <{seen['root']}>, "
                           "not <opml> with a <body>)")
    return feeds


def _category_tags(category: str) -> list[str]:
    """OPML 2.0 category="/Health/Policy,/News" → ['health', 'policy', 'news']."""
    return [yamlpos.slug(part) for path in category.split(",") for part in path.split("/") if part.strip()]


def import_opml(opml_path: Path, sources_path: Path, *, fetch_allow: Sequence[str] | None = None,
                ) -> tuple[list[Source], list[str]]:
    """Append the OPML file's feeds to sources.yaml; returns (sources added, messages for the user).

    Feeds whose URL is already in sources.yaml are skipped (and said so);
    a feed listed in several OPML folders is added once with all their tags.
    The existing text of sources.yaml is kept as it is; the file is created
    when missing.  Nothing is written when nothing is new.
    """
    opml_path, sources_path = Path(opml_path), Path(sources_path)
    feeds = read_opml(opml_path)
    original = sources_path.read_text(encoding="utf-8") if sources_path.exists() else None
    existing: list[Source] = []
    indent = 0
    if original is not None:
        existing, errors = check_sources(sources_path)
        if errors:
            e = errors[0]
            raise SourcesError(e.path, e.line, f"{e.problem} (fix sources.yaml before importing)")
        indent = _append_indent(sources_path, original)
    known_urls = {url_key(s.url): s.id for s in existing}
    taken = {s.id for s in existing}
    messages: list[str] = []
    planned: dict[str, OpmlFeed] = {}
    for feed in feeds:
        label = f"'{feed.title}'" if feed.title else feed.url
        if not re.match(r"^https?://[^/\s]+", feed.url, re.I):
            messages.append(f"skipped {label} (line {feed.line}): {feed.url} is not an http(s) address")
            continue
        refused = _refused(feed.url, fetch_allow)
        if refused:
            messages.append(f"skipped {label} (line {feed.line}): {refused}")
            continue
        key = url_key(feed.url)
        if key in known_urls:
            messages.append(f"skipped {label}: already in {sources_path.name} as '{known_urls[key]}'")
            continue
        if key in planned:
            planned[key].tags += [t for t in feed.tags if t not in planned[key].tags]
            messages.append(f"{feed.url} is listed more than once in {opml_path.name}; added once with all its tags")
            continue
        planned[key] = feed
    added = []
    for feed in planned.values():
        source_id = _unique_id(feed, taken)
        taken.add(source_id)
        extra = {"site": feed.site} if feed.site and feed.site != feed.url else {}
        added.append(Source(id=source_id, name=feed.title, url=feed.url, tags=tuple(feed.tags), **extra))
    if not added:
        messages.append(f"nothing new to add to {sources_path}")
        return [], messages
    _write(sources_path, original, opml_path, added, indent, expected=len(existing) + len(added))
    messages.append(f"added {len(added)} source{'s' if len(added) != 1 else ''} to {sources_path}")
    logger.info("imported %d sources from %s into %s", len(added), opml_path, sources_path)
    return added, messages


def _unique_id(feed: OpmlFeed, taken: set[str]) -> str:
    base = yamlpos.slug(feed.title) or yamlpos.slug(urlsplit(feed.url).hostname or "") or "feed"
    if not re.match(ID_PATTERN, base):
        base = "feed-" + base
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def _append_indent(path: Path, text: str) -> int:
    """Where a new '- id:' line must start for the file's list to continue."""
    parsed = yamlpos.parse(text)
    root = parsed.node
    if isinstance(root, MappingNode):
        root = yamlpos.node_at(root, ["sources"])
        if isinstance(root, ScalarNode):
            if root.value == "" and root.style is None:
                return 2                                    # 'sources:' with nothing under it yet
            raise SourcesError(str(path), yamlpos.line_of(root), "'sources:' has a value; leave it empty so "
                               "imported sources can be added under it")
    if root is None:
        return 0
    if isinstance(root, SequenceNode) and not root.flow_style:
        return root.start_mark.column
    raise SourcesError(str(path), yamlpos.line_of(root), "the list of sources is written in [ … ] style; write "
                       "each source on its own lines starting with '- id:' so imported ones can be appended")


def _write(path: Path, original: str | None, opml_path: Path, added: list[Source], indent: int,
           expected: int) -> None:
    """Append the new entries, check the result still loads, and replace the file in one step."""
    if original is None:
        head = ("# Sources Awareness gathers from: one entry per feed (kind: feed) or spider (kind: spider).\n"
                "# Settings: id, name, kind, url, tags, every (how often to check, e.g. 30m, 6h, 1d).\n")
    else:
        head = original if original.endswith("\n") or not original else original + "\n"
    block = f"\n{' ' * indent}# Imported from {opml_path.name} on {date.today().isoformat()}\n"
    block += "".join(dump_source_yaml(s, indent) for s in added)
    new_text = head + block
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(new_text)
        result, errors = check_sources(Path(tmp))
        if errors or len(result) != expected:
            raise SourcesError(str(path), None, "importing would have broken the file, so nothing was written "
                               f"({errors[0].problem if errors else 'entries went missing'}); please report this")
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
