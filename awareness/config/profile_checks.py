"""Checks on a profile that keep a bad value out of mail headers, matching and the schedule.

``awareness profiles check`` used to pass a name with a line break (which then
crashed ``awareness run`` in the mail builder, and could add headers), an owner
that is not one address, terms that are only punctuation, and schedules that
never fire, like ``0 8 31 2 *`` (issue 15).  Each is reported at its line.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from email.utils import getaddresses
from typing import Any, Callable

from yaml.nodes import Node, SequenceNode

from . import yamlpos
from ..core.mailheaders import UnsafeHeader, check_header_text

MAX_NAME = 200
NEVER_AFTER = timedelta(days=8 * 366)      # a 29 February comes round within eight years
_ADDRESS = re.compile(r"^[^@\s,;<>()\[\]\\\"]+@[^@\s,;<>()\[\]\\\"]+\.[^@\s,;<>()\[\]\\\"]+$")

Err = Callable[[int | None, str], Any]


def header_problems(root: Node, data: dict[str, Any], err: Err) -> list[Any]:
    """The name and owner go into Subject, List-Id, From/Reply-To: one line of text, one address."""
    errors = []
    name = data.get("name")
    if isinstance(name, str):
        line = yamlpos.locate(root, ["name"])
        try:
            check_header_text(name, "name")
            if not name.strip():
                errors.append(err(line, "name: is empty; give the bulletin a name readers will recognise"))
            elif len(name) > MAX_NAME:
                errors.append(err(line, f"name: is {len(name)} characters long; keep it under {MAX_NAME}"))
        except UnsafeHeader as e:
            errors.append(err(line, f"{e}: write the name on one line"))
    owner = data.get("owner")
    if isinstance(owner, str) and owner.strip():
        line = yamlpos.locate(root, ["owner"])
        try:
            check_header_text(owner, "owner")
            found = getaddresses([owner])
            if len(found) != 1 or not _ADDRESS.match(found[0][1]) or owner.count("@") != 1:
                errors.append(err(line, f"owner: {yamlpos.shown(owner)} is not one email address; write it like "
                                  "'Lee Librarian <lee.librarian@example.nhs.uk>'"))
        except UnsafeHeader as e:
            errors.append(err(line, f"{e}: write the owner on one line"))
    subscribers = yamlpos.node_at(root, ["subscribers"])
    if isinstance(data.get("subscribers"), list) and isinstance(subscribers, SequenceNode):
        for address, node in zip(data["subscribers"], subscribers.value):
            if isinstance(address, str) and re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", address) \
                    and not _ADDRESS.match(address):
                errors.append(err(yamlpos.line_of(node), f"subscribers: {yamlpos.shown(address)} is not one email "
                                  "address (it contains , ; < > quotes or brackets); list each address on its own"))
    return errors


def term_problems(root: Node, data: dict[str, Any], err: Err) -> list[Any]:
    """A term with no letter or digit matches nothing a reader would call a match."""
    errors = []
    topics = data.get("topics")
    if not isinstance(topics, list):
        return errors
    for t, topic in enumerate(topics):
        if not isinstance(topic, dict):
            continue
        for field in ("terms", "exclude"):
            values = topic.get(field)
            if not isinstance(values, list):
                continue
            for i, term in enumerate(values):
                if isinstance(term, str) and not any(c.isalnum() for c in term):
                    line = yamlpos.locate(root, ["topics", t, field, i]) or yamlpos.locate(root, ["topics", t, field])
                    what = "is empty" if not term.strip() else "has no letters or digits"
                    errors.append(err(line, f"topic '{topic.get('id', t + 1)}': {field}: "
                                      f"{yamlpos.shown(term)} {what}; remove it or write a word"))
    return errors


def never_fires(trigger: Any, now: datetime | None = None) -> bool:
    """True for a schedule no calendar date satisfies (31 February, 31 April and June ...)."""
    now = now or datetime.now(timezone.utc)
    trigger.end_date = now + NEVER_AFTER
    try:
        return trigger.get_next_fire_time(None, now) is None
    finally:
        trigger.end_date = None
