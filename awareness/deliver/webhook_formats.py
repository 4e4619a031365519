"""The bulletin's summary as a Microsoft Teams or Slack incoming-webhook message (issue 17, point 8).

Both carry the subject, each topic's items as links to the documents' own
addresses, and a link to the whole bulletin on the web.  Teams takes an
Adaptive Card in a ``message`` (the Workflows "post to a channel when a webhook
request is received" shape); Slack takes Block Kit ``blocks`` with a plain
``text`` fallback.  Both limit sizes, so long bulletins are cut with a count
of what was left out; the web page has everything.
"""

from __future__ import annotations

import json
from typing import Any

from .bulletin import Bulletin, safe_url, subject_for

SLACK_SECTION_CHARS = 2900      # Slack: a section's text may not pass 3000 characters
SLACK_MAX_BLOCKS = 48           # Slack: 50 blocks a message
TEAMS_MAX_ITEMS = 100           # Teams: a card must stay under about 28 KB


def payload(bulletin: Bulletin, fmt: str, view_url: str | None) -> bytes:
    """The JSON body to POST for ``fmt`` ("teams" or "slack")."""
    body = _teams(bulletin, view_url) if fmt == "teams" else _slack(bulletin, view_url)
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


def _entries(bulletin: Bulletin) -> list[tuple[str, list[tuple[str, str]]]]:
    """(topic title, [(item title, url)]) per section, only items with a web address."""
    out = []
    for section in bulletin.sections:
        links = [(" ".join(e.item.title.split()), safe_url(e.item.link)) for e in section.entries]
        out.append((section.topic.title, [(t, u) for t, u in links if u]))
    return [(title, links) for title, links in out if links]


# ------------------------------------------------------------------ Slack

def _slack_text(text: str) -> str:
    """Slack's mrkdwn needs only these three escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_url(url: str) -> str:
    return url.replace("|", "%7C").replace(">", "%3E").replace("<", "%3C")


def _slack(bulletin: Bulletin, view_url: str | None) -> dict[str, Any]:
    subject = subject_for(bulletin)
    blocks: list[dict[str, Any]] = [{"type": "header", "text": {"type": "plain_text", "text": subject[:150]}}]
    left_out = 0
    for title, links in _entries(bulletin):
        text = f"*{_slack_text(title)}*"
        for item_title, url in links:
            line = f"\n• <{_slack_url(url)}|{_slack_text(item_title)}>"
            if len(text) + len(line) > SLACK_SECTION_CHARS or len(blocks) >= SLACK_MAX_BLOCKS:
                left_out += 1
                continue
            text += line
        if len(blocks) < SLACK_MAX_BLOCKS:
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text}})
    footer = []
    if left_out:
        footer.append(f"{left_out} more in the full bulletin.")
    if view_url:
        footer.append(f"<{_slack_url(view_url)}|View the whole bulletin>")
    if footer:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": " ".join(footer)}]})
    return {"text": subject, "blocks": blocks, "unfurl_links": False}


# ------------------------------------------------------------------ Teams

def _md_text(text: str) -> str:
    """An item title inside [..](..): brackets would end the link early."""
    return text.replace("[", "(").replace("]", ")")


def _md_url(url: str) -> str:
    return url.replace("(", "%28").replace(")", "%29").replace(" ", "%20")


def _teams(bulletin: Bulletin, view_url: str | None) -> dict[str, Any]:
    subject = subject_for(bulletin)
    body: list[dict[str, Any]] = [{"type": "TextBlock", "text": subject, "weight": "Bolder", "size": "Large",
                                   "wrap": True}]
    shown = 0
    for title, links in _entries(bulletin):
        room = max(0, TEAMS_MAX_ITEMS - shown)
        if not room:
            break
        body.append({"type": "TextBlock", "text": title, "weight": "Bolder", "wrap": True, "spacing": "Medium"})
        body.append({"type": "TextBlock", "wrap": True,
                     "text": "\n".join(f"- [{_md_text(t)}]({_md_url(u)})" for t, u in links[:room])})
        shown += len(links[:room])
    card: dict[str, Any] = {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard",
                            "version": "1.4", "body": body}
    if view_url:
        card["actions"] = [{"type": "Action.OpenUrl", "title": "View the whole bulletin", "url": view_url}]
    return {"type": "message", "summary": subject,
            "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None,
                             "content": card}]}
