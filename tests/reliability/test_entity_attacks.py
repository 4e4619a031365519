"""Item 6: entity attacks parse quickly, in bounded memory, and touch no file and no network.

The parsing runs in a child process with an address-space limit (RLIMIT_AS),
so an expansion that escaped would kill the child instead of the test run;
an audit hook in the child records every file open and socket call made
while the hostile documents are parsed; a loopback listener counts the
connections an external entity or DTD might make; a secret file on disk must
never appear in the output.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import FIXTURES

CHILD = textwrap.dedent("""\
    import io, json, resource, sys, time
    from datetime import datetime, timezone
    import feedparser
    from awareness.core.errors import ParseError
    from awareness.gather.parse import parse_feed

    cases = json.load(open(sys.argv[1]))
    docs = {name: open(path, "rb").read() for name, path in cases.items()}
    now = datetime.now(timezone.utc)
    # Warm up with harmless documents in the same encodings, so that lazy imports are done
    # before recording starts: whatever opens a file from now on was caused by a hostile document.
    benign = b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY nhs "NHS">]><rss version="2.0"><channel>' \\
             b'<title>t</title><item><title>&nhs;</title><link>https://e.org/1</link></item></channel></rss>'
    plain = benign.replace(b'<!DOCTYPE rss [<!ENTITY nhs "NHS">]>', b"").replace(b"&nhs;", b"NHS")   # the fast path
    for body in (benign, benign.decode().replace('version="1.0"?', 'version="1.0" encoding="utf-16"?').encode("utf-16"),
                 plain):
        parse_feed("warm", "https://e.org/", body, now=now)
        feedparser.parse(io.BytesIO(body), sanitize_html=False)

    vm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmSize:")) * 1024
    limit = vm + 256 * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    status = open("/proc/self/status")   # opened before the audit hook: reading our own peak is no event
    events = []
    def hook(event, args):
        if event in ("open", "os.open") or event.startswith(("socket.", "urllib.", "http.client.", "subprocess.")):
            events.append([event, repr(args[0])[:200]])
    sys.addaudithook(hook)

    out = {}
    for name, body in docs.items():
        started = time.perf_counter()
        try:
            feed = parse_feed("attack", "https://attacker.example/feed", body, now=now)
            verdict = {"outcome": "parsed", "titles": [i.title for i in feed.items],
                       "summaries": [i.summary for i in feed.items]}
        except ParseError as e:
            verdict = {"outcome": "refused", "problem": e.problem}
        verdict["seconds"] = time.perf_counter() - started
        if name.startswith(("external", "xinclude")):   # behind our guard: feedparser alone reads nothing either
            raw = feedparser.parse(io.BytesIO(body), sanitize_html=False)
            verdict["raw_text"] = json.dumps([[e.get("title", ""), e.get("summary", "")] for e in raw.entries])
        out[name] = verdict
    out["_events"] = events
    # VmHWM: this process image's own peak (ru_maxrss would carry the forking pytest worker's peak across exec)
    status.seek(0)
    out["_maxrss_mb"] = next(int(l.split()[1]) for l in status.read().splitlines() if l.startswith("VmHWM:")) / 1024
    out["_limit_mb"] = limit / 1024 / 1024
    print(json.dumps(out))
""")


def lol_doctype(levels: int = 9) -> str:
    decls = ['<!ENTITY lol "lol">'] + [f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
                                       for i in range(1, levels + 1)]
    return "<!DOCTYPE rss [" + "".join(decls) + "]>"


def feed(doctype: str, title: str, prefix: str = "", encoding: str = "utf-8") -> bytes:
    text = (f'<?xml version="1.0" encoding="{encoding}"?>{prefix}{doctype}<rss version="2.0"><channel>'
            f"<title>Attack</title><item><title>{title}</title><link>https://attacker.example/1</link>"
            f"<description>{title}</description></item></channel></rss>")
    return text.encode(encoding)


def test_entity_attacks_finish_fast_in_bounded_memory_and_touch_no_file_or_network(tmp_path: Path) -> None:
    from servers import CountingListener as Listener   # the shared counting loopback listener

    listener = Listener()
    secret = tmp_path / "secret.txt"
    secret.write_text("PATIENT-RECORDS-SECRET")
    remote = f"http://127.0.0.1:{listener.port}"
    docs = {
        "billion-laughs": (FIXTURES / "feeds" / "billion_laughs.xml").read_bytes(),
        "billion-laughs-after-a-70kB-comment": feed(lol_doctype(), "&lol9;", prefix="<!--" + "x" * 70_000 + "-->"),
        "billion-laughs-in-utf-16": feed(lol_doctype(), "&lol9;", encoding="utf-16"),
        "quadratic-one-big-entity": feed('<!DOCTYPE rss [<!ENTITY a "' + "a" * 100_000 + '">]>', "&a;" * 20_000),
        "quadratic-under-the-length-limit": feed('<!DOCTYPE rss [<!ENTITY a "' + "a" * 1000 + '">]>', "&a;" * 20_000),
        "external-entity-file": feed(f'<!DOCTYPE rss [<!ENTITY s SYSTEM "file://{secret}">]>', "x &s; y"),
        "external-entity-fixture": (FIXTURES / "feeds" / "external_entity.xml").read_bytes(),
        "external-entity-http": feed(f'<!DOCTYPE rss [<!ENTITY s SYSTEM "{remote}/entity">]>', "x &s; y"),
        "external-parameter-entity": feed(f'<!DOCTYPE rss [<!ENTITY % p SYSTEM "{remote}/p.dtd"> %p;]>', "x"),
        "external-dtd": feed(f'<!DOCTYPE rss SYSTEM "{remote}/evil.dtd">', "x &s; y"),
        "external-dtd-file": feed(f'<!DOCTYPE rss PUBLIC "-//x//y" "file://{secret}">', "x"),
        "xinclude": feed("", f'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file://{secret}" '
                             'parse="text"/>'),
    }
    cases = {}
    for name, body in docs.items():
        path = tmp_path / f"{name}.xml"
        path.write_bytes(body)
        cases[name] = str(path)
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    try:
        child = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "cases.json")], capture_output=True,
                               text=True, timeout=60)
    finally:
        listener.close()
    assert child.returncode == 0, f"the parsing child died (memory limit?): {child.stderr[-2000:]}"
    out = json.loads(child.stdout)

    assert out["_events"] == [], f"files or sockets were touched: {out['_events']}"
    assert listener.accepted == 0, "an external entity or DTD was fetched"
    assert out["_maxrss_mb"] < out["_limit_mb"]
    for name in docs:
        verdict = out[name]
        assert verdict["seconds"] < 2.0, f"{name} took {verdict['seconds']:.1f} s"
        assert "PATIENT-RECORDS-SECRET" not in json.dumps(verdict), f"{name} leaked the file"
        assert "lollollol" not in json.dumps(verdict) and "a" * 5000 not in json.dumps(verdict), f"{name} expanded"
        if name.startswith(("billion", "quadratic", "external-entity", "external-parameter")):
            assert verdict["outcome"] == "refused", (name, verdict)
            assert "entity attack" in verdict["problem"]
        else:   # harmless once nothing external is read: parsed, with the reference left unexpanded
            assert verdict["outcome"] in ("parsed", "refused")
    assert "billion-laughs" in out["billion-laughs-in-utf-16"]["problem"]
    assert "quadratic" in out["quadratic-under-the-length-limit"]["problem"]


@pytest.mark.parametrize("body", [b"/etc/passwd", b"file:///etc/passwd", b"http://127.0.0.1:1/feed.xml"])
def test_a_body_that_names_a_file_or_url_is_never_opened(body: bytes) -> None:
    from datetime import datetime, timezone

    from awareness.core.errors import ParseError
    from awareness.gather.parse import parse_feed
    with pytest.raises(ParseError, match="not a feed"):
        parse_feed("s", "https://e.org/", body, now=datetime.now(timezone.utc))
