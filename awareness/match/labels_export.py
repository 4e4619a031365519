"""A profile's readers' verdicts and librarian's include / exclude decisions as a labelled JSONL file.

The lines are what ``awareness evaluate PROFILE FILE`` reads, so a librarian can
measure an edit to a profile against what readers and staff have said::

    awareness profiles export-labels ph-team > ph-team-labels.jsonl
    awareness evaluate profiles/ph-team.yaml ph-team-labels.jsonl

Each judged item is one line; ``labels`` holds the topics it was judged relevant
to (a librarian's decision overrides readers', readers go by majority, as the
matcher learns them), ``[]`` when it was only ever judged not relevant.
``judged`` keeps every decision, relevant or not, for anyone who wants the detail.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from .feedback import labels
from ..store.store import Store


def labelled_lines(store: Store, profile_id: str) -> Iterator[str]:
    """One JSON object a line, items in id order."""
    by_topic = labels(store, profile_id)
    per_item: dict[int, dict[str, bool]] = {}
    for topic_id, items in by_topic.items():
        for item_id, relevant in items.items():
            per_item.setdefault(item_id, {})[topic_id] = relevant
    held = {i.id: i for i in store.get_items(set(per_item))} if per_item else {}
    for item_id in sorted(per_item):
        item = held.get(item_id)
        if item is None:
            continue
        judged = per_item[item_id]
        yield json.dumps({"id": str(item_id), "title": item.title, "summary": item.summary, "link": item.link,
                          "labels": sorted(t for t, relevant in judged.items() if relevant),
                          "judged": dict(sorted(judged.items()))}, ensure_ascii=False)
