"""Render each distinct bulletin once; personalise only its links per subscriber.

Subscribers of one profile mostly get the same items, so running the Jinja
templates for each of them (tens of thousands at national scale) repeats the
same work.  ``LinkPersonaliser`` renders a bulletin once with marker links,
then puts each subscriber's own signed links in place of the markers.  The
first time it fills a bulletin it also renders it directly and compares: if a
template ever treats a link in a way the markers do not survive (wrapping it,
say), it falls back to rendering every message in full, so readers can never
get a different email from this shortcut.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from typing import Callable

from markupsafe import escape

from .bulletin import Bulletin, Composer, Links, Rendered, ascii_html

logger = logging.getLogger(__name__)

_MARK = "https://personalise.invalid/awareness-link-"
_MARKED = re.compile(re.escape(_MARK) + r"(u|v|m|f(\d+)-([a-z-]+))")


class LinkPersonaliser:
    """One per profile and run: holds the rendered bulletins of that profile only."""

    def __init__(self, composer: Composer) -> None:
        self.composer = composer
        self.full_renders = 0            # template runs, for the benchmark's count
        self._shapes: dict[tuple[int, bool, bool, bool], tuple[Bulletin, _Template]] = {}
        self._trusted = True

    def render(self, bulletin: Bulletin, links: Links) -> Rendered:
        if not self._trusted:
            return self._direct(bulletin, links)
        key = (id(bulletin), links.view_online is not None, links.feedback is not None, links.manage is not None)
        shape = self._shapes.get(key)
        if shape is not None:
            return shape[1].fill(links)
        marked = Links(unsubscribe=_MARK + "u", view_online=_MARK + "v" if links.view_online else None,
                       feedback=_marked_feedback if links.feedback else None,
                       manage=_MARK + "m" if links.manage else None)
        template = _Template(self._direct(bulletin, marked))
        links = _same_each_time(links)   # a signed link carries its second: both renders must get the same one
        filled, direct = template.fill(links), self._direct(bulletin, links)
        if filled != direct:
            logger.warning("the bulletin templates change links in a way that cannot be personalised "
                           "after rendering; rendering each message in full")
            self._trusted = False
            return direct
        self._shapes[key] = (bulletin, template)   # the bulletin is kept so that its id() stays unique
        return filled

    def _direct(self, bulletin: Bulletin, links: Links) -> Rendered:
        self.full_renders += 1
        return self.composer.render(bulletin, links=links)


def _same_each_time(links: Links) -> Links:
    """These links with each feedback link signed once, however often it is asked for."""
    feedback = links.feedback
    if feedback is None:
        return links
    made: dict[tuple[int, str], str] = {}

    def once(item_id: int, verdict: str) -> str:
        if (item_id, verdict) not in made:
            made[item_id, verdict] = feedback(item_id, verdict)
        return made[item_id, verdict]

    return dataclasses.replace(links, feedback=once)


def _marked_feedback(item_id: int, verdict: str) -> str:
    return f"{_MARK}f{item_id}-{verdict}"


class _Template:
    """A rendered bulletin cut at its marker links once, so that each reader's copy is one join."""

    def __init__(self, rendered: Rendered) -> None:
        self.subject = rendered.subject
        self.html, self.text = _pieces(rendered.html), _pieces(rendered.text)

    def fill(self, links: Links) -> Rendered:
        made: dict[str, tuple[str, str]] = {}   # each link is signed once, though it is in both parts

        def url(m: re.Match[str]) -> tuple[str, str]:
            done = made.get(m.group(0))
            if done is None:
                plain = _link(m, links)
                done = made[m.group(0)] = (plain, ascii_html(str(escape(plain))))   # as Composer writes it
            return done

        return Rendered(subject=self.subject,
                        html="".join(p if isinstance(p, str) else url(p)[1] for p in self.html),
                        text="".join(p if isinstance(p, str) else url(p)[0] for p in self.text))


def _pieces(text: str) -> list[str | re.Match[str]]:
    out: list[str | re.Match[str]] = []
    at = 0
    for m in _MARKED.finditer(text):
        out += [text[at:m.start()], m]
        at = m.end()
    out.append(text[at:])
    return out


def _link(m: re.Match[str], links: Links) -> str:
    if m.group(1) == "u":
        return links.unsubscribe
    if m.group(1) == "v":
        return links.view_online or ""
    if m.group(1) == "m":
        return links.manage or ""
    feedback: Callable[[int, str], str] | None = links.feedback
    return feedback(int(m.group(2)), m.group(3)) if feedback else ""
