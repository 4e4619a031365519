"""The text of the document an item links to: HTML main text or the first pages of a PDF.

Many listings and some feeds give only a title.  Reading the document itself
lets matching work on substance and gives readers a summary.  Documents are
fetched once, through the same guarded, size- and time-capped fetcher as
feeds (``awareness.gather.fetch``); HTML goes through trafilatura's main-text
extractor (menus, cookie banners and footers left out), PDF through pypdf,
first pages only.
"""

from __future__ import annotations

import io
import logging
import re
from dataclasses import replace
from typing import Iterable

from ..config.settings import Settings
from ..core.errors import FetchError
from .fetch import FetchRequest, fetch_all
from ..core.models import FetchResult

logger = logging.getLogger(__name__)

MAX_BYTES = 5_000_000        # a document larger than this is not read
TIMEOUT_S = 20.0             # overall deadline per document
PDF_PAGES = 5                # first pages of a PDF
TEXT_CHARS = 20_000          # stored text cap
THIN_WORDS = 8               # a summary shorter than this is "thin": fetch the document

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"“‘'(])")
_BOILERPLATE = re.compile(
    r"\b(cookies?|javascript|skip to (main )?content|sign in|log ?in|subscribe|newsletter|share (this|on)|"
    r"print this page|all rights reserved|copyright|©|privacy (policy|notice)|accept (all|analytics)|"
    r"back to top|breadcrumb|you are here|menu|search this site|is this page useful)\b", re.I)


def is_thin(summary: str) -> bool:
    """No summary, or less than a sentence of one."""
    return len((summary or "").split()) < THIN_WORDS


def fetch_documents(urls: Iterable[str], settings: Settings) -> dict[str, FetchResult | FetchError]:
    """Each URL fetched once, concurrently, capped at MAX_BYTES and TIMEOUT_S (or tighter settings)."""
    wanted = list(dict.fromkeys(urls))
    if not wanted:
        return {}
    tight = replace(settings, fetch_max_bytes=min(settings.fetch_max_bytes, MAX_BYTES),
                    fetch_timeout=min(settings.fetch_timeout, TIMEOUT_S))
    results = fetch_all([FetchRequest(source_id="fulltext", url=u) for u in wanted], tight)
    return dict(zip(wanted, results))


def extract(content: bytes, content_type: str = "", url: str = "") -> str:
    """The main text of an HTML page or the first pages of a PDF; '' when there is none."""
    if not content:
        return ""
    kind = content_type.split(";")[0].strip().lower()
    if kind == "application/pdf" or content[:5] == b"%PDF-" or url.lower().endswith(".pdf"):
        return _pdf_text(content)
    if kind and not ("html" in kind or kind.startswith("text/")):
        return ""
    return _html_text(content)


def _pdf_text(content: bytes) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(content))
        pages = []
        for page in reader.pages[:PDF_PAGES]:
            pages.append(page.extract_text() or "")
            if sum(map(len, pages)) > TEXT_CHARS:
                break
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as e:
        logger.info("could not read the PDF: %s", e)
        return ""
    return _tidy("\n".join(pages), lines_are_paragraphs=False)


def _html_text(content: bytes) -> str:
    import trafilatura

    try:
        text = trafilatura.extract(content, include_comments=False, include_tables=False,
                                   include_links=False, include_images=False, favor_precision=True) or ""
    except Exception as e:  # trafilatura wraps lxml; a hostile page must not stop enrichment
        logger.info("could not extract the page's text: %s", e)
        return ""
    return _tidy(text)


def _tidy(text: str, *, lines_are_paragraphs: bool = True) -> str:
    """One paragraph per line, capped; a PDF's lines (broken mid-sentence) are joined, hyphenation undone."""
    if not lines_are_paragraphs:
        text = re.sub(r"(\w)-\n(\w)", r"\1\2", text)
        text = " ".join(text.split())
    paragraphs = [" ".join(p.split()) for p in text.splitlines()]
    return "\n".join(p for p in paragraphs if p)[:TEXT_CHARS]


def lead_sentences(text: str, sentences: int = 3, limit: int = 500) -> str:
    """The first meaningful sentences: no menus, cookie notices, headings or page furniture."""
    chosen: list[str] = []
    for paragraph in (text or "").splitlines():
        for sentence in _SENTENCE.split(" ".join(paragraph.split())):
            words = sentence.split()
            if len(words) < 4 or not re.search(r"[.!?]$", sentence) or _BOILERPLATE.search(sentence):
                continue
            if sum(c.isdigit() for c in sentence) > len(sentence) / 4:
                continue   # a table row or reference list, not prose
            chosen.append(sentence)
            if len(chosen) >= sentences or sum(map(len, chosen)) >= limit:
                return _cap(" ".join(chosen), limit)
    return _cap(" ".join(chosen), limit)


def _cap(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit]
    end = max(cut.rfind(". "), cut.rfind("! "), cut.rfind("? "))
    return cut[:end + 1] if end > limit // 2 else cut.rsplit(" ", 1)[0] + "…"
