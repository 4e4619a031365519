"""How well a profile picks out the items a librarian says belong to it.

Backs ``awareness evaluate PROFILE ITEMS.jsonl``: no config, database or
network, just a profile and a file of labelled items, one JSON object a line::

    {"id": "a1", "title": "...", "summary": "...", "labels": ["frailty"]}

Labels are topic ids of the profile, or "profile/topic" so that one labelled
file can serve every profile (labels of other profiles are dropped).  The
matcher's IDF is fitted on the records themselves, so the result does not
depend on what happens to be in a database.  Alongside the matcher, the
keyword baseline (any topic term present, as written) shows what the TF-IDF
matching adds, and the stemmed-keyword reference (each term, Snowball-stemmed,
found anywhere in title or summary) what it adds over a stemmer alone.

With ``feedback`` (``--feedback FILE``), the records of FILE are a librarian's first
judgements; any of them also in the scored file (same id, or same title and summary)
are left out of the scoring, so "the first 5 judged items of each topic" can be given
from the very file being scored.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from .classify import Example, Matcher, keyword_baseline, stemmed_baseline
from ..core.errors import _FileLineError
from ..core.models import Profile

logger = logging.getLogger(__name__)


class LabelledDataError(_FileLineError, ValueError):
    """A labelled items file has a line that cannot be used (names the file and line)."""


def load_labelled(path: Path) -> list[dict[str, Any]]:
    """The records of a JSON-lines file, checked; blank lines are skipped."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise LabelledDataError(str(path), None, f"cannot read the labelled items: {e}") from e
    records: list[dict[str, Any]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise LabelledDataError(str(path), number, f"not valid JSON ({e.msg} at column {e.colno}); "
                                    "each line must be one JSON object") from None
        records.append(_checked(record, str(path), number))
    return records


def _checked(record: object, path: str, line: int) -> dict[str, Any]:
    def bad(problem: str) -> LabelledDataError:
        return LabelledDataError(path, line, problem)

    if not isinstance(record, dict):
        raise bad('expected a JSON object like {"title": "...", "summary": "...", "labels": [...]}')
    if not isinstance(record.get("title"), str):
        raise bad('missing "title" (a string)')
    if not isinstance(record.get("summary", ""), str):
        raise bad('"summary" must be a string')
    if "labels" not in record:
        raise bad('missing "labels": a list of topic ids, [] when the item belongs nowhere')
    labels = record["labels"]
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise bad(f'"labels" must be a list of topic ids like ["falls"] (got {json.dumps(labels)})')
    return {"id": str(record.get("id", f"line {line}")), "title": record["title"],
            "summary": record.get("summary", ""), "labels": labels}


def _own_labels(profile: Profile, labels: list[str], unknown: set[str]) -> set[str]:
    """This profile's topic ids among an item's labels ("topic" or "profile/topic")."""
    topic_ids = {t.id for t in profile.topics}
    own: set[str] = set()
    for label in labels:
        owner, _, topic = label.rpartition("/")
        if owner and owner != profile.id:
            continue
        if topic in topic_ids:
            own.add(topic)
        else:
            unknown.add(label)
    return own


def _metrics(topic_ids: list[str], truth: list[set[str]], predicted: list[set[str]]) -> dict[str, Any]:
    per_topic: dict[str, dict[str, float | int]] = {}
    for topic in topic_ids:
        tp = sum(topic in t and topic in p for t, p in zip(truth, predicted))
        fp = sum(topic not in t and topic in p for t, p in zip(truth, predicted))
        fn = sum(topic in t and topic not in p for t, p in zip(truth, predicted))
        per_topic[topic] = {**_prf(tp, fp, fn), "support": tp + fn, "tp": tp, "fp": fp, "fn": fn}
    tp, fp, fn = (sum(int(row[k]) for row in per_topic.values()) for k in ("tp", "fp", "fn"))
    micro = _prf(tp, fp, fn)
    # Macro over topics the data says anything about: a topic with no labelled
    # items and no predictions has no defined F1 and would only drag the mean to 0.
    scored = [row["f1"] for row in per_topic.values() if row["tp"] or row["fp"] or row["fn"]]
    return {
        "micro_f1": micro["f1"],
        "macro_f1": sum(scored) / len(scored) if scored else 0.0,
        "micro_precision": micro["precision"],
        "micro_recall": micro["recall"],
        "per_topic": per_topic,
        "items": len(truth),
    }


def _prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def feedback_examples(profile: Profile, records: list[dict[str, Any]]) -> dict[tuple[str, str], list[Example]]:
    """Labelled records as a librarian's judgements: include for their topics, exclude for the
    topics the matcher sends them to wrongly (what "not relevant" clicks would say)."""
    texts = [(r["title"], r.get("summary", "")) for r in records]
    matcher = Matcher([profile], corpus=[f"{t}. {s}" for t, s in texts])
    decided = matcher.predict_texts(texts)
    out: dict[tuple[str, str], list[Example]] = {}
    unknown: set[str] = set()
    for row, record, (title, summary) in zip(decided, records, texts):
        own = _own_labels(profile, list(record.get("labels", [])), unknown)
        sent = {matcher.topic_keys[j][1] for j in row.nonzero()[0]}
        for topic_id in own | sent:
            out.setdefault((profile.id, topic_id), []).append((title, summary, topic_id in own))
    return out


def evaluate(profile: Profile, records: list[dict[str, Any]],
             feedback: list[dict[str, Any]] | None = None, semantic: bool = False) -> dict[str, Any]:
    """Precision, recall and F1 of the matcher and of the keyword baseline on labelled records.

    ``feedback`` (labelled records of their own, never the ones scored) are taken as
    judgements; the result then also says how each topic changed (words gained and lost)
    and what the matcher scored without them (``without_feedback``).  ``semantic`` adds the
    sentence-embedding evidence (``semantic.py``, the ``semantic`` extra).
    """
    if feedback:
        records = _without(records, feedback)
    unknown: set[str] = set()
    truth = [_own_labels(profile, list(r.get("labels", [])), unknown) for r in records]
    if unknown:
        logger.warning("profile %s has no topics %s; those labels were ignored",
                       profile.id, ", ".join(sorted(unknown)))
    texts = [(r["title"], r.get("summary", "")) for r in records]
    labelled = feedback_examples(profile, feedback) if feedback else None
    matcher = Matcher([profile], corpus=[f"{title}. {summary}" for title, summary in texts],
                      labelled=labelled, semantic=semantic)
    topic_ids = [topic_id for _, topic_id in matcher.topic_keys]
    decided = matcher.predict_texts(texts)
    predicted = [{topic_ids[j] for j in row.nonzero()[0]} for row in decided]
    baseline = [keyword_baseline(profile, title, summary) for title, summary in texts]
    result = _metrics(topic_ids, truth, predicted)
    result["baseline"] = _metrics(topic_ids, truth, baseline)
    stemmed = [stemmed_baseline(profile, title, summary) for title, summary in texts]
    result["stemmed_baseline"] = _metrics(topic_ids, truth, stemmed)
    # A topic no record is labelled with has no recall to measure: its zeros would only mislead.
    result["unlabelled_topics"] = [t for t in topic_ids if not result["per_topic"][t]["support"]]
    if labelled:
        plain = evaluate(profile, records, semantic=semantic)
        result["without_feedback"] = {k: plain[k] for k in ("micro_f1", "macro_f1", "per_topic")}
        result["feedback"] = {
            topic_id: {**matcher.topic_change(profile.id, topic_id),
                       "useful": sum(r for _, _, r in labelled.get((profile.id, topic_id), [])),
                       "not_relevant": sum(not r for _, _, r in labelled.get((profile.id, topic_id), [])),
                       "learned_model": (profile.id, topic_id) in matcher.learned_topics}
            for topic_id in topic_ids}
    return result


def _without(records: list[dict[str, Any]], given: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records not among the judged ones: a judged item is never scored."""
    ids = {str(r["id"]) for r in given if "id" in r and not str(r["id"]).startswith("line ")}
    texts = {(r["title"], r.get("summary", "")) for r in given}
    return [r for r in records
            if str(r.get("id")) not in ids and (r["title"], r.get("summary", "")) not in texts]


def format_report(result: dict[str, Any]) -> str:
    """The evaluation as an aligned table: matcher P/R/F1 per topic, baseline F1 beside it."""
    base = result["baseline"]["per_topic"]
    stem = result.get("stemmed_baseline", result["baseline"])["per_topic"]
    rows = [("topic", "support", "P", "R", "F1", "keyword F1", "stemmed F1")]
    unlabelled = set(result.get("unlabelled_topics", ()))
    for topic, m in result["per_topic"].items():
        if topic in unlabelled:
            rows.append((topic, "0", "-", "-", "-", "-", "-"))
            continue
        rows.append((topic, str(m["support"]), f"{m['precision']:.2f}", f"{m['recall']:.2f}",
                     f"{m['f1']:.2f}", f"{base[topic]['f1']:.2f}", f"{stem[topic]['f1']:.2f}"))
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]

    def line(row: tuple[str, ...]) -> str:
        return "  ".join([row[0].ljust(widths[0])] + [v.rjust(w) for v, w in zip(row[1:], widths[1:])])

    out = [line(rows[0]), "  ".join("-" * w for w in widths)]
    out.extend(line(row) for row in rows[1:])
    b = result["baseline"]
    st = result.get("stemmed_baseline", b)
    out.append("")
    out.append(f"micro  P {result['micro_precision']:.2f}  R {result['micro_recall']:.2f}  "
               f"F1 {result['micro_f1']:.2f}   (keyword baseline F1 {b['micro_f1']:.2f}, "
               f"stemmed keywords F1 {st['micro_f1']:.2f}: P {st['micro_precision']:.2f} R {st['micro_recall']:.2f})")
    out.append(f"macro  F1 {result['macro_f1']:.2f}   (keyword baseline F1 {b['macro_f1']:.2f}, "
               f"stemmed keywords F1 {st['macro_f1']:.2f})")
    out.append(f"{result['items']} labelled items")
    if unlabelled:
        out.append(f"no labelled items for {', '.join(sorted(unlabelled))}: nothing to measure there "
                   "(label some items with these topics, or export the profile's feedback with "
                   "`awareness profiles export-labels`)")
    if "feedback" in result:
        plain = result["without_feedback"]
        out.append("")
        out.append(f"with feedback: micro F1 {result['micro_f1']:.2f} (without {plain['micro_f1']:.2f}), "
                   f"macro F1 {result['macro_f1']:.2f} (without {plain['macro_f1']:.2f})")
        for topic, change in result["feedback"].items():
            if not (change["useful"] or change["not_relevant"]):
                continue
            model = ", now scored by its own model" if change["learned_model"] else ""
            out.append(f"  {topic}: {change['useful']} useful, {change['not_relevant']} not relevant{model}")
            out.append(f"    gained: {', '.join(change['gained']) or '-'}")
            out.append(f"    lost:   {', '.join(change['lost']) or '-'}")
    return "\n".join(out)
