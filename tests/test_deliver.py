"""Delivery against a real SMTP server on loopback, the outbox folder, and link tokens."""

from __future__ import annotations

import email
import email.policy
import shutil
import ssl
import subprocess
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Iterator

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from awareness.deliver.bulletin import Composer, Rendered
from awareness.config.settings import Settings
from awareness.deliver.transport import OutboxTransport, SmtpTransport, open_transport
from awareness.deliver.message import build_message
from awareness.core.errors import AwarenessError, DeliveryError
from awareness.core.models import Profile
from awareness.deliver.tokens import BadToken, ExpiredToken, Signer
from conftest import need_system
from screenshot import SAMPLE_PROFILE, sample_bulletin, sample_links
from servers import LoopbackSMTPServer, _Collector, _free_port

SENDER = "Awareness <awareness@lancs-library.example.nhs.uk>"
UNSUB = "https://awareness.lancs-library.example.nhs.uk/u/TOKEN"
UNSUB_MAILTO = "mailto:unsubscribe@lancs-library.example.nhs.uk?subject=TOKEN"


@pytest.fixture(scope="module")
def rendered() -> Rendered:
    return Composer().render(sample_bulletin(), links=sample_links())


def message(rendered: Rendered, to: str = "reader@trust.example.nhs.uk",
            profile: Profile = SAMPLE_PROFILE) -> EmailMessage:
    return build_message(rendered=rendered, sender=SENDER, to=to, profile=profile,
                         list_domain="lists.lancs-library.example.nhs.uk", unsubscribe_url=UNSUB,
                         unsubscribe_mailto=UNSUB_MAILTO, message_id_domain="lancs-library.example.nhs.uk")


def lf(text: str) -> str:
    """Bodies arrive with the wire's CRLF line ends."""
    return text.replace("\r\n", "\n")


def count_connections(server: LoopbackSMTPServer) -> list[object]:
    """Record each EHLO (one per connection) through aiosmtpd's own handler hook."""
    peers: list[object] = []

    async def handle_EHLO(smtp: Any, session: Any, envelope: Any, hostname: str, responses: list[str]) -> list[str]:
        session.host_name = hostname
        peers.append(session.peer)
        return responses

    server.handler.handle_EHLO = handle_EHLO  # type: ignore[attr-defined]
    return peers


# ------------------------------------------------------------------ the message

def test_bulletin_arrives_as_multipart_alternative_with_list_headers(
        smtp_server: LoopbackSMTPServer, rendered: Rendered) -> None:
    with SmtpTransport(smtp_server.url) as transport:
        transport.send(message(rendered))
    [got] = smtp_server.messages
    assert smtp_server.handler.envelopes == [("awareness@lancs-library.example.nhs.uk",
                                              ["reader@trust.example.nhs.uk"])]
    assert got.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in got.iter_parts()] == ["text/plain", "text/html"]
    assert lf(got.get_body(("html",)).get_content()) == rendered.html
    assert lf(got.get_body(("plain",)).get_content()) == rendered.text
    assert got["From"] == SENDER
    assert got["To"] == "reader@trust.example.nhs.uk"
    assert got["Subject"] == "Lancashire Public Health — current awareness, 9–16 Nov 2026 (8 items)"
    assert parsedate_to_datetime(got["Date"]).tzinfo is not None
    assert got["Message-ID"].startswith("<") and got["Message-ID"].endswith("@lancs-library.example.nhs.uk>")
    assert got["List-Id"].strip() == "Lancashire Public Health <lancs-ph.lists.lancs-library.example.nhs.uk>"
    assert got["List-Unsubscribe"] == f"<{UNSUB}>, <{UNSUB_MAILTO}>"
    assert got["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert got["Auto-Submitted"] == "auto-generated"
    assert got["Precedence"] == "bulk"
    assert got["Reply-To"] == "Priya Shah <priya.shah@lancs-library.example.nhs.uk>"


def test_accents_dashes_and_pounds_survive_the_trip(smtp_server: LoopbackSMTPServer) -> None:
    team = Profile(id="sante", name="Équipe santé — Preston, £ & pence", owner="Zoë Brontë <zoe@trust.example.nhs.uk>",
                   topics=[{"id": "t", "title": "Café culture", "terms": ["café"]}])
    r = Rendered(subject="Équipe santé — £5 bulletin", html="<p>Café — £5</p>", text="Café — £5\n")
    with SmtpTransport(smtp_server.url) as transport:
        transport.send(build_message(rendered=r, sender="Bibliothèque <lib@trust.example.nhs.uk>",
                                     to="zoë@trust.example.nhs.uk".replace("ë", "e"), profile=team,
                                     list_domain="lists.example", unsubscribe_url=UNSUB,
                                     unsubscribe_mailto="unsub@lists.example", message_id_domain="x.example"))
    [got] = smtp_server.messages
    assert got["Subject"] == "Équipe santé — £5 bulletin"
    assert got["From"].addresses[0].display_name == "Bibliothèque"
    assert got["Reply-To"].addresses[0].display_name == "Zoë Brontë"
    assert "Équipe santé" in got["List-Id"] and got["List-Id"].endswith("<sante.lists.example>")
    assert got["List-Unsubscribe"] == f"<{UNSUB}>, <mailto:unsub@lists.example>"
    assert lf(got.get_body(("plain",)).get_content()) == "Café — £5\n"
    assert lf(got.get_body(("html",)).get_content()) == "<p>Café — £5</p>\n"


def test_each_part_travels_in_the_shortest_encoding_every_server_takes(smtp_server: LoopbackSMTPServer) -> None:
    """ASCII in lines of at most 998 bytes goes as it is (7bit); a longer line or other characters
    are quoted-printable or 8bit, and every part reads back the same (issue 19)."""
    long_line = "<p>" + "word " * 400 + "</p>"          # 2,007 bytes: more than a 7bit line may hold
    parts = {"ascii": ("<p>Caf&eacute; &mdash; &pound;5, a=b</p>", "7bit"),
             "long": (long_line, "quoted-printable"), "utf8": ("<p>Café — £5</p>", "8bit")}
    for html, _ in parts.values():
        with SmtpTransport(smtp_server.url) as transport:
            transport.send(message(Rendered(subject="s", html=html, text="Plain text.\n")))
    for (html, encoding), got, raw in zip(parts.values(), smtp_server.messages, smtp_server.handler.raw):
        part = got.get_body(("html",))
        assert part["Content-Transfer-Encoding"] == encoding, html[:20]
        assert lf(part.get_content()) == html + "\n"
        assert got.get_body(("plain",))["Content-Transfer-Encoding"] == "7bit"
    assert b"a=b" in smtp_server.handler.raw[0] and b"=3D" not in smtp_server.handler.raw[0]


# ------------------------------------------------------------------ SMTP transport

def test_many_messages_go_over_one_connection(smtp_server: LoopbackSMTPServer, rendered: Rendered) -> None:
    peers = count_connections(smtp_server)
    with SmtpTransport(smtp_server.url) as transport:
        for n in range(4):
            transport.send(message(rendered, to=f"reader{n}@trust.example.nhs.uk"))
    assert [m["To"] for m in smtp_server.messages] == [f"reader{n}@trust.example.nhs.uk" for n in range(4)]
    assert len(peers) == 1


def test_a_dropped_connection_is_reopened_once(smtp_server: LoopbackSMTPServer, rendered: Rendered) -> None:
    peers = count_connections(smtp_server)
    with SmtpTransport(smtp_server.url) as transport:
        transport.send(message(rendered, to="first@trust.example.nhs.uk"))
        smtp_server.stop()       # the server restarts between two messages
        smtp_server.start()
        transport.send(message(rendered, to="second@trust.example.nhs.uk"))
    assert [m["To"] for m in smtp_server.messages] == ["first@trust.example.nhs.uk", "second@trust.example.nhs.uk"]
    assert len(peers) == 2


def test_an_unreachable_server_is_a_delivery_error_naming_host_and_port(
        smtp_server: LoopbackSMTPServer, rendered: Rendered) -> None:
    smtp_server.stop()
    transport = SmtpTransport(smtp_server.url, timeout=5)
    with pytest.raises(DeliveryError) as err:
        transport.send(message(rendered))
    assert f"127.0.0.1:{smtp_server.port}" in str(err.value)
    assert "nothing was marked sent" in str(err.value)
    transport.close()


def test_a_server_that_goes_away_mid_run_is_a_delivery_error(smtp_server: LoopbackSMTPServer,
                                                               rendered: Rendered) -> None:
    with SmtpTransport(smtp_server.url, timeout=5) as transport:
        transport.send(message(rendered))
        smtp_server.stop()
        with pytest.raises(DeliveryError, match=f"could not connect to the mail server 127.0.0.1:{smtp_server.port}"):
            transport.send(message(rendered))


def test_a_refused_recipient_is_named_and_the_connection_carries_on(
        smtp_server: LoopbackSMTPServer, rendered: Rendered) -> None:
    smtp_server.handler.refuse_rcpt.add("gone@trust.example.nhs.uk")
    with SmtpTransport(smtp_server.url) as transport:
        with pytest.raises(DeliveryError) as err:
            transport.send(message(rendered, to="gone@trust.example.nhs.uk"))
        assert "gone@trust.example.nhs.uk" in str(err.value) and "550" in str(err.value)
        transport.send(message(rendered, to="here@trust.example.nhs.uk"))
    assert [m["To"] for m in smtp_server.messages] == ["here@trust.example.nhs.uk"]


def test_refuse_all_is_a_delivery_error(smtp_server: LoopbackSMTPServer, rendered: Rendered) -> None:
    smtp_server.handler.refuse_all = True
    with SmtpTransport(smtp_server.url) as transport:
        with pytest.raises(DeliveryError, match="refused the recipient reader@trust.example.nhs.uk"):
            transport.send(message(rendered))
    assert smtp_server.messages == []


# ------------------------------------------------------------------ TLS and login

@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    need_system("openssl", shutil.which("openssl") is not None)
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return cert, key


def _login(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = getattr(auth_data, "login", b"") == b"librarian" and getattr(auth_data, "password", b"") == b"s3cret"
    return AuthResult(success=ok, handled=False)   # handled=False: aiosmtpd answers 535 itself


@pytest.fixture(params=["smtp+starttls", "smtps"])
def tls_server(request: pytest.FixtureRequest, certificate: tuple[Path, Path]) -> Iterator[tuple[str, int, _Collector]]:
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(*certificate)
    handler, port = _Collector(), _free_port()
    options: dict[str, Any] = dict(authenticator=_login)
    if request.param == "smtps":
        # aiosmtpd only counts STARTTLS as TLS for auth_require_tls; here the whole session is TLS.
        controller = Controller(handler, hostname="127.0.0.1", port=port, ssl_context=server_ctx,
                                auth_require_tls=False, **options)
    else:
        controller = Controller(handler, hostname="127.0.0.1", port=port, tls_context=server_ctx,
                                require_starttls=True, **options)
    controller.start()
    yield request.param, port, handler
    controller.stop()


def test_tls_and_login(tls_server: tuple[str, int, _Collector], certificate: tuple[Path, Path],
                       rendered: Rendered) -> None:
    scheme, port, handler = tls_server
    trust = ssl.create_default_context(cafile=str(certificate[0]))
    with SmtpTransport(f"{scheme}://librarian@127.0.0.1:{port}", "s3cret", tls_context=trust) as transport:
        transport.send(message(rendered))
    assert [m["To"] for m in handler.messages] == ["reader@trust.example.nhs.uk"]

    with pytest.raises(DeliveryError, match="refused the login for 'librarian'.*AWARENESS_SMTP_PASSWORD"):
        SmtpTransport(f"{scheme}://librarian@127.0.0.1:{port}", "wrong", tls_context=trust,
                      timeout=5).send(message(rendered))


def test_an_untrusted_certificate_is_refused(tls_server: tuple[str, int, _Collector], rendered: Rendered) -> None:
    scheme, port, handler = tls_server
    with pytest.raises(DeliveryError, match=f"127.0.0.1:{port}"):
        SmtpTransport(f"{scheme}://librarian@127.0.0.1:{port}", "s3cret", timeout=5).send(message(rendered))
    assert handler.messages == []


# ------------------------------------------------------------------ outbox

def test_outbox_writes_an_eml_and_an_html_preview(tmp_path: Path, rendered: Rendered) -> None:
    outbox = tmp_path / "var" / "outbox"
    sent = [message(rendered, to="a@trust.example.nhs.uk"), message(rendered, to="b@trust.example.nhs.uk")]
    with OutboxTransport(outbox) as transport:
        for m in sent:
            transport.send(m)
    emls = sorted(outbox.glob("*.eml"))
    assert len(emls) == 2 and sorted(p.name for p in outbox.iterdir()) == sorted(
        [p.name for p in emls] + [p.with_suffix(".html").name for p in emls])   # no temp files left
    assert all(p.name.split("-", 1)[1] in ("lancs-ph-1.eml", "lancs-ph-2.eml") for p in emls)
    for path, original in zip(emls, sent):
        back = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        for header in ("From", "To", "Subject", "Date", "Message-ID", "List-Id", "List-Unsubscribe",
                       "List-Unsubscribe-Post", "Auto-Submitted", "Precedence"):
            assert back[header].strip() == original[header], header   # a folded header unfolds to the same
        assert back.get_body(("html",)).get_content() == rendered.html
        assert path.with_suffix(".html").read_text(encoding="utf-8") == rendered.html


def test_an_outbox_that_cannot_be_written_is_a_delivery_error(tmp_path: Path, rendered: Rendered) -> None:
    blocker = tmp_path / "outbox"
    blocker.write_text("a file where the folder should be")
    with pytest.raises(DeliveryError, match=str(blocker)):
        OutboxTransport(blocker).send(message(rendered))


def test_open_transport_picks_the_outbox_without_an_smtp_url(tmp_path: Path) -> None:
    assert isinstance(open_transport(Settings(outbox=tmp_path)), OutboxTransport)
    smtp = open_transport(Settings(outbox=tmp_path, smtp_url="smtp+starttls://me@mail.example:2525",
                                   smtp_password="pw"))
    assert isinstance(smtp, SmtpTransport) and (smtp.where, smtp.user, smtp.password) == (
        "mail.example:2525", "me", "pw")


# ------------------------------------------------------------------ tokens

def test_tokens_round_trip_and_carry_no_address() -> None:
    signer = Signer("k" * 32)
    unsub = signer.unsubscribe_token("lancs-ph", 42)
    assert signer.read_unsubscribe(unsub) == ("lancs-ph", 42)
    fb = signer.feedback_token("lancs-ph", 42, 101, "not-relevant")
    assert signer.read_feedback(fb) == ("lancs-ph", 42, 101, "not-relevant")
    confirm = signer.confirm_token("lancs-ph", "reader@trust.example.nhs.uk")
    assert signer.read_confirm(confirm) == ("lancs-ph", "reader@trust.example.nhs.uk")


def test_a_token_works_only_for_its_purpose_and_its_secret() -> None:
    signer = Signer("k" * 32)
    unsub = signer.unsubscribe_token("lancs-ph", 42)
    with pytest.raises(BadToken):
        signer.read_feedback(unsub)
    with pytest.raises(BadToken):
        Signer("other" * 8).read_unsubscribe(unsub)
    with pytest.raises(BadToken, match="unsubscribe link is not valid"):
        signer.read_unsubscribe(unsub[:-2] + ("A" if unsub[-2] != "A" else "B") + unsub[-1])
    with pytest.raises(ValueError):
        signer.feedback_token("lancs-ph", 42, 101, "meh")
    assert issubclass(BadToken, AwarenessError)


def test_feedback_and_confirm_links_expire_but_unsubscribe_links_do_not() -> None:
    signer = Signer("k" * 32)
    with pytest.raises(ExpiredToken, match="expired"):
        signer.read_feedback(signer.feedback_token("p", 1, 2, "useful"), max_age=-1)
    with pytest.raises(ExpiredToken):
        signer.read_confirm(signer.confirm_token("p", "a@b.example"), max_age=-1)
    assert signer.read_unsubscribe(signer.unsubscribe_token("p", 1)) == ("p", 1)


def test_feedback_links_in_emails_sent_before_compact_tokens_still_work() -> None:
    signer = Signer("k" * 32)
    old = signer._feedback.dumps(["lancs-ph", 42, 101, "useful"])   # the itsdangerous format of earlier emails
    assert signer.read_feedback(old) == ("lancs-ph", 42, 101, "useful")
    new = signer.feedback_token("lancs-ph", 42, 101, "useful")
    assert len(new) < len(old) * 0.6, "a bulletin carries 100 of these"
    with pytest.raises(BadToken):
        signer.read_feedback(new.replace(".u.", ".n."))
    with pytest.raises(BadToken):
        Signer("other" * 8).read_feedback(new)


def test_once_one_connection_cannot_reach_the_server_the_others_stop_knocking() -> None:
    from awareness.deliver.parallel import ParallelSender
    tries: list[object] = []

    def send(transport: object, message: EmailMessage) -> None:
        tries.append(message)
        raise DeliveryError("could not connect to the mail server", unreachable=True, temporary=True)

    sender = ParallelSender(lambda: OutboxTransport("/nonexistent"), send, connections=4)
    try:
        first = sender.submit(EmailMessage())
        with pytest.raises(DeliveryError):
            first.result()
        later = [sender.submit(EmailMessage()) for _ in range(5)]
        for done in later:
            with pytest.raises(DeliveryError):
                done.result()
    finally:
        sender.close()
    assert len(tries) == 1, "nothing more was tried after the server could not be reached"
