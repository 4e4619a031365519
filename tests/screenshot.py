"""Screenshots of rendered HTML with Debian's headless Chromium, and a sample bulletin.

    python tests/screenshot.py            # writes docs/bulletin.png from the sample bulletin

Playwright drives the system Chromium (``/usr/bin/chromium``); it never downloads
a browser.  ``read_png`` decodes Chromium's screenshots without Pillow so the
tests can look at pixels.
"""

from __future__ import annotations

import struct
import sys
import zlib
from datetime import date, datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from awareness.deliver.bulletin import Bulletin, Composer, Links, build_bulletin  # noqa: E402
from awareness.core.models import Match, Profile, StoredItem  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def screenshot_html(html: str, out: Path, width: int = 800, executable: str = CHROMIUM) -> Path:
    """Render ``html`` at ``width`` CSS pixels and save a full-page PNG to ``out``."""
    from playwright.sync_api import sync_playwright

    out.parent.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": 600})
            # Offline: a bulletin must not need anything from the network to look right.
            page.route("**/*", lambda route: route.abort())
            page.set_content(html, wait_until="load")
            page.screenshot(path=str(out), full_page=True)
        finally:
            browser.close()
    return out


def read_png(path: Path) -> tuple[int, int, list[bytes]]:
    """(width, height, rows of RGB bytes) for an 8-bit RGB/RGBA non-interlaced PNG."""
    data = path.read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path} is not a PNG")
    pos, idat, width = 8, b"", 0
    height = depth = colour = interlace = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
    if depth != 8 or colour not in (2, 6) or interlace:
        raise ValueError(f"{path}: only 8-bit RGB/RGBA non-interlaced PNGs are read here")
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        ftype, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if ftype == 1:
                line[i] = (line[i] + a) & 0xFF
            elif ftype == 2:
                line[i] = (line[i] + b) & 0xFF
            elif ftype == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 0xFF
        prev = line
        rows.append(bytes(line) if bpp == 3 else bytes(v for j, v in enumerate(line) if j % 4 != 3))
    return width, height, rows


# ------------------------------------------------------------------ a realistic sample

def _at(day: int, hour: int = 9) -> datetime:
    return datetime(2026, 11, day, hour, 0, tzinfo=timezone.utc)


SAMPLE_PROFILE = Profile(
    id="lancs-ph",
    name="Lancashire Public Health",
    owner="Priya Shah <priya.shah@lancs-library.example.nhs.uk>",
    max_items=20,
    topics=[
        {"id": "frailty", "title": "Frailty and falls", "terms": ["frailty", "falls", "older people"]},
        {"id": "inequalities", "title": "Health inequalities", "terms": ["deprivation", "inequalities"]},
        {"id": "tobacco", "title": "Smoking and vaping", "terms": ["smoking", "vaping", "tobacco"]},
    ],
)

SAMPLE_SOURCES = {
    "nice": "NICE",
    "ukhsa": "UK Health Security Agency",
    "kingsfund": "The King's Fund",
    "bmj": "BMJ Open",
    "cochrane": "Cochrane Library",
    "ohid": "Office for Health Improvement and Disparities",
}

_SAMPLE = [
    # (id, day, sources, title, summary, [(topic, score, terms)])
    (101, 13, ["nice"], "Falls in older people: assessing risk and prevention — updated quality standard",
     "The updated quality standard covers identifying older people at risk of falling, multifactorial "
     "risk assessment after a fall, and strength and balance training. It adds a statement on "
     "medication review for people taking drugs associated with falls. Commissioners should use it "
     "to plan local falls prevention services.",
     [("frailty", 0.71, ("falls", "older people"))]),
    (102, 12, ["bmj", "cochrane"], "Community exercise programmes and hospital admissions in frail older "
     "adults: a cluster randomised trial",
     "A trial across 48 general practices found that a 24-week group exercise programme reduced "
     "emergency admissions among people with moderate frailty by 14%. Benefits were largest in the "
     "most deprived areas, where uptake was supported by community link workers.",
     [("frailty", 0.64, ("frailty", "older people")), ("inequalities", 0.41, ("deprivation",))]),
    (103, 10, ["kingsfund"], "Ageing well at home: what integrated care systems are learning",
     "Case studies from five systems show how proactive care for people living with frailty is "
     "being organised between primary care, community services and the voluntary sector.",
     [("frailty", 0.52, ("frailty",))]),
    (104, 14, ["ohid"], "Fingertips update: inequalities in life expectancy by deprivation decile, 2023 to 2025",
     "The gap in life expectancy between the most and least deprived areas of England widened to 10.2 "
     "years for men and 8.1 years for women. The North West has the largest gap of any region.",
     [("inequalities", 0.77, ("inequalities", "deprivation"))]),
    (105, 11, ["kingsfund"], "Tackling health inequalities through anchor institutions",
     "How NHS trusts are using their role as employers, purchasers and landowners to improve health in "
     "their local communities, with examples from Lancashire and South Cumbria.",
     [("inequalities", 0.58, ("inequalities",))]),
    (106, 15, ["ukhsa", "ohid"], "Youth vaping: new survey data on e-cigarette use among 11 to 15 year olds",
     "One in five 11 to 15 year olds reported having tried vaping, up from one in six two years ago. "
     "Disposable products remain the most common device. The report sets out the evidence behind the "
     "forthcoming restrictions on flavours and point-of-sale displays.",
     [("tobacco", 0.81, ("vaping",))]),
    (107, 12, ["cochrane"], "Electronic cigarettes for smoking cessation: living systematic review update",
     "High-certainty evidence that nicotine e-cigarettes increase quit rates compared with nicotine "
     "replacement therapy. The review now includes 90 studies and over 29,000 participants.",
     [("tobacco", 0.74, ("smoking", "vaping"))]),
    (108, 9, ["nice"], "Tobacco: treating dependence — recommendations on stop smoking services in pregnancy",
     "Updated recommendations on opt-out referral to stop smoking support for pregnant women, and on "
     "financial incentives to help them quit.",
     [("tobacco", 0.49, ("tobacco", "smoking")), ("inequalities", 0.33, ("inequalities",))]),
]


# What enrichment (issue 3) tells about some of them: type, organisation, a consultation's closing date.
_DETAILS: dict[int, dict[str, object]] = {
    101: {"pub_type": "guidance", "organisation": "NICE"},
    102: {"pub_type": "research article", "organisation": "BMJ Open"},
    104: {"pub_type": "statistics", "organisation": "Office for Health Improvement and Disparities"},
    108: {"pub_type": "consultation", "organisation": "NICE", "closes": date(2026, 12, 14)},
}


def sample_matched() -> list[tuple[StoredItem, list[Match]]]:
    out = []
    for item_id, day, sources, title, summary, matches in _SAMPLE:
        slug = "-".join(w for w in title.lower().replace(":", "").replace(",", "").split()[:6] if w.isascii())
        item = StoredItem(id=item_id, guid=f"urn:sample:{item_id}", link=f"https://www.example.org/{slug}",
                          title=title, summary=summary, published=_at(day), first_seen=_at(day, 10),
                          authors=[], tags=[], sources=sources, **_DETAILS.get(item_id, {}))
        out.append((item, [Match(item_id, "lancs-ph", t, s, terms) for t, s, terms in matches]))
    return out


def sample_bulletin() -> Bulletin:
    return build_bulletin(SAMPLE_PROFILE, sample_matched(), SAMPLE_SOURCES,
                          period_start=_at(9, 8), period_end=_at(16, 8))


def sample_links(feedback: bool = True) -> Links:
    base = "https://awareness.lancs-library.example.nhs.uk"
    return Links(
        unsubscribe=f"{base}/u/TOKEN",
        view_online=f"{base}/b/lancs-ph/2026-11-16",
        feedback=(lambda item_id, verdict: f"{base}/f/{item_id}/{verdict}") if feedback else None,
    )


def main() -> None:
    rendered = Composer().render(sample_bulletin(), links=sample_links())   # as sent: feedback links and a web version
    out = screenshot_html(rendered.html, ROOT / "docs" / "bulletin.png", width=760)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
