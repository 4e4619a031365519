"""A feed reader's OPML export into sources.yaml: read with expat (no DOCTYPE, no entities), each
feed checked like any entry, appended to the file as text so the librarian's comments and order
survive.  (``opml_export`` writes sources.yaml back out as OPML.)
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Sequence
from urllib.parse import urlsplit
from xml.parsers import expat

from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from ..core.errors import SourcesError
from ..core.models import ID_PATTERN, Source
from . import yamlpos
from .sources import check_sources, dump_source_yaml, fetch_refusal, url_key

logger = logging.getLogger(__name__)


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
        refused = fetch_refusal(feed.url, fetch_allow)
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
