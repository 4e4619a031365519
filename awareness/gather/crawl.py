"""Run the spiders for sources without feeds, in a child process, and keep their health.

Scrapy's Twisted reactor cannot be started twice in one process, and the
CLI, the scheduler and the tests all want to crawl more than once; so each
crawl runs ``python -m awareness.gather.crawl JOB RESULT`` and reads back what every
spider found.  The spiders store their items themselves (the item pipeline
in ``spiders/pipelines.py``: same normalisation and deduplication as feeds);
what comes back is each source's health: pages read, entries seen, items
new, warnings (a selector that matched nothing) and the error that stopped it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator, Sequence

import sqlalchemy as sa

from .feeds import GatherReport
from ..config.settings import Settings
from ..core.models import Source
from ..config.spider_config import spider_settings
from ..store.store import Store
from ..store.schema import item_sources, utcnow

logger = logging.getLogger(__name__)

CRAWL_DEADLINE_S = 1800.0   # the whole child process; each spider also stops after SPIDER_DEADLINE_S
SPIDER_DEADLINE_S = 900
_overrides: dict[str, Any] = {}


@dataclass
class CrawlResult:
    source_id: str
    pages: int = 0
    entries: int = 0
    new: int = 0
    known: int = 0
    stopped_at_known: bool = False
    warnings: list[str] = field(default_factory=list)
    error: str | None = None


@contextlib.contextmanager
def override_settings(**values: Any) -> Iterator[None]:
    """Scrapy settings for crawls inside this block (tests and the local demo: no polite delay)."""
    saved = dict(_overrides)
    _overrides.update(values)
    try:
        yield
    finally:
        _overrides.clear()
        _overrides.update(saved)


# ------------------------------------------------------------------ parent side

def crawl_into_store(store: Store, settings: Settings, chosen: Sequence[Source], *, now: datetime | None = None,
                     report: GatherReport | None = None) -> GatherReport:
    """Crawl these spider sources and record each one's health on the store (into ``report``, if given)."""
    now = now or utcnow()
    report = report if report is not None else GatherReport()
    if not chosen:
        return report
    report.sources += len(chosen)
    results = crawl_sources(settings, chosen, known=known_links(store, [s.id for s in chosen]))
    for source in chosen:
        result = results[source.id]
        if result.error and not result.pages:
            report.failed += 1
            report.errors[source.id] = result.error
            report.outcomes[source.id] = {"outcome": "failed", "new": 0, "error": result.error}
            store.record_failure(source.id, now=now, every=source.every, error=result.error)
            continue
        warnings = ([result.error] if result.error else []) + result.warnings
        store.record_success(source.id, now=now, every=source.every, etag=None, last_modified=None,
                             warning="; ".join(warnings) or None)
        report.fetched += 1
        report.new_items += result.new
        report.outcomes[source.id] = {"outcome": "ok", "new": result.new}
        logger.info("%s: %d pages, %d entries, %d new%s", source.id, result.pages, result.entries, result.new,
                    " (stopped at entries already gathered)" if result.stopped_at_known else "")
    return report


def known_links(store: Store, source_ids: Sequence[str]) -> dict[str, list[str]]:
    """What each source gathered before (its guids: a spider's guid is the entry's link)."""
    out: dict[str, list[str]] = {s: [] for s in source_ids}
    with store.engine.connect() as conn:
        for r in conn.execute(sa.select(item_sources.c.source_id, item_sources.c.guid)
                              .where(item_sources.c.source_id.in_(list(source_ids)))):
            out[r.source_id].append(r.guid)
    return out


def crawl_sources(settings: Settings, chosen: Sequence[Source], *, known: dict[str, list[str]] | None = None,
                  timeout: float = CRAWL_DEADLINE_S) -> dict[str, CrawlResult]:
    """Run each source's spider in one child process; every source gets a result, even if the child dies."""
    job = {
        "database_url": settings.database_url,
        "user_agent": settings.user_agent,
        "fetch_allow": list(settings.fetch_allow),
        "max_bytes": settings.fetch_max_bytes,
        "timeout": settings.fetch_timeout,
        "log_level": logging.getLogger("awareness").getEffectiveLevel(),
        "overrides": dict(_overrides),
        "sources": [{**spider_settings(s), "known": (known or {}).get(s.id, [])} for s in chosen],
    }
    with tempfile.TemporaryDirectory(prefix="awareness-crawl-") as tmp:
        job_path, out_path = Path(tmp) / "job.json", Path(tmp) / "result.json"
        job_path.write_text(json.dumps(job), encoding="utf-8")
        env = dict(os.environ)
        project = Path(__file__).resolve().parents[2]
        if (project / "spiders" / "scrapy.cfg").exists():   # a checkout: make sure `spiders` imports
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(project), env.get("PYTHONPATH")]))
        problem = None
        try:
            done = subprocess.run([sys.executable, "-m", "awareness.gather.crawl", str(job_path), str(out_path)],
                                  env=env, timeout=timeout, stdin=subprocess.DEVNULL)
            if done.returncode != 0:
                problem = f"the crawl process failed (exit status {done.returncode}); see the log above"
        except subprocess.TimeoutExpired:
            problem = f"the crawl did not finish within {timeout:g} s and was stopped"
        raw: dict[str, Any] = {}
        if out_path.exists():
            raw = json.loads(out_path.read_text(encoding="utf-8"))
    results = {}
    for source in chosen:
        got = raw.get(source.id)
        results[source.id] = CrawlResult(**got) if got else CrawlResult(source.id, error=problem or "the spider "
                                                                         "did not run; see the log")
    return results


# ------------------------------------------------------------------ child side

def _child(job_path: Path, out_path: Path) -> int:
    from scrapy.crawler import CrawlerProcess
    from scrapy.settings import Settings as ScrapySettings

    job = json.loads(job_path.read_text(encoding="utf-8"))
    settings = ScrapySettings()
    settings.setmodule("spiders.settings", priority="project")
    settings.setdict({
        "USER_AGENT": job["user_agent"],
        "AWARENESS_FETCH_ALLOW": job["fetch_allow"],
        "AWARENESS_DATABASE_URL": job["database_url"],
        "DOWNLOAD_MAXSIZE": int(job["max_bytes"]),
        "DOWNLOAD_TIMEOUT": float(job["timeout"]),
        "CLOSESPIDER_TIMEOUT": SPIDER_DEADLINE_S,
        "LOG_ENABLED": False,
        **job.get("overrides", {}),
    }, priority="cmdline")
    process = CrawlerProcess(settings)
    _child_logging(int(job.get("log_level", logging.INFO)))
    crawlers = {}
    results: dict[str, dict[str, Any]] = {}
    for source in job["sources"]:
        try:
            spider_cls = process.spider_loader.load(source["spider"])
        except KeyError:
            results[source["id"]] = asdict(CrawlResult(source["id"], error=f"there is no spider '{source['spider']}'"))
            continue
        crawler = process.create_crawler(spider_cls)
        crawlers[source["id"]] = crawler
        process.crawl(crawler, source=source, known=source.get("known", []))
    if crawlers:
        process.start()
    for source_id, crawler in crawlers.items():
        health = dict(getattr(crawler.spider, "health", None) or {"error": "the spider did not start"})
        results[source_id] = asdict(CrawlResult(source_id, **health))
    out_path.write_text(json.dumps(results), encoding="utf-8")
    return 0


def _child_logging(level: int) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("scrapy", "twisted", "py.warnings", "filelock", "asyncio"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING) if level > logging.DEBUG else logging.INFO)


if __name__ == "__main__":
    sys.exit(_child(Path(sys.argv[1]), Path(sys.argv[2])))
