"""Pages for readers (no login): a profile's page and subscription, confirm,
unsubscribe, topic choice, feedback, and the archive with its downloads.

Every link from an email carries a signed token (tokens.py) with an opaque id.
Nothing changes on a GET: a feedback link opens a page whose button (a POST)
casts the vote, because mail scanners open every link in a mail; unsubscribing needs a POST (RFC 8058 one-click, or the landing page's
button) so that link scanners cannot unsubscribe anyone.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..deliver import archive, archive_search, closing, frequency, manage, subscriptions
from . import exports
from ..deliver.transport import open_transport
from ..core.errors import DeliveryError
from ..match.feedback import record_feedback
from ..deliver.sendlimits import may_send_confirmation
from ..store.schema import utcnow
from ..deliver.tokens import FEEDBACK_PATH, OLD_FEEDBACK_PATH, BadToken, ExpiredToken
from .core import Web

logger = logging.getLogger(__name__)

VERDICT_WORDS = {"useful": "useful", "not-relevant": "not relevant"}


def routes(web: Web) -> list[Route]:
    # ------------------------------------------------------------ profile pages

    async def home(request: Request) -> Response:
        return web.render(request, "home.html.j2", profiles=web.profiles())

    async def profile_page(request: Request) -> Response:
        profile = web.profile_or_404(request.path_params["profile_id"])
        return web.render(request, "profile.html.j2", profile=profile,
                          bulletins=archive.list_pages(web.store, profile.id, limit=5), error=None, email="")

    async def subscribe(request: Request) -> Response:
        profile = web.profile_or_404(request.path_params["profile_id"])
        form = await web.checked_form(request)
        email = str(form.get("email", "")).strip()
        known = {t.id for t in profile.topics}
        topics = [t for t in form.getlist("topic") if t in known]
        if not subscriptions.valid_email(email):
            return web.render(request, "profile.html.j2", status=400, profile=profile, email=email,
                              bulletins=archive.list_pages(web.store, profile.id, limit=5),
                              error="Enter an email address in the correct format, like name@example.nhs.uk")
        if len(topics) == len(known):
            topics = []   # every topic, including any the librarian adds later
        days = int(subscriptions.CONFIRM_MAX_AGE / timedelta(days=1))
        client = request.client.host if request.client else "unknown"
        if not await run_in_threadpool(may_send_confirmation, web.store, email, client):
            # issue 15: past the limit nothing is sent, and the page reads exactly as when it is
            logger.warning("a confirmation email for %s was not sent: too many for the address or client",
                           profile.id)
            return web.render(request, "check_email.html.j2", profile=profile, email=email, days=days)
        ref = subscriptions.request_subscription(web.store, profile_id=profile.id, email=email, topics=topics)
        url = subscriptions.confirm_url(web.settings, web.signer, profile.id, ref)
        message = subscriptions.confirmation_message(web.settings, web.composer, profile, email, url)
        try:
            await run_in_threadpool(_send_one, web, message)
        except DeliveryError as e:
            logger.error("confirmation email to a new subscriber of %s failed: %s", profile.id, e)
            subscriptions.forget_pending(web.store, ref)
            return web.message(request, "We could not send the confirmation email",
                               "Nothing has been changed. Please try again in a few minutes.", status=503)
        return web.render(request, "check_email.html.j2", profile=profile, email=email, days=days)

    # ------------------------------------------------------------ confirm

    def read_confirm(request: Request) -> tuple[str, str]:
        try:
            return web.signer.read_confirm(request.path_params["token"])
        except ExpiredToken:
            raise HTTPException(410, "This confirmation link has expired. Subscribe again to get a new one.")
        except BadToken:
            raise HTTPException(400, "This confirmation link is not valid. Check that you copied all of it, "
                                     "or subscribe again.")

    async def confirm_page(request: Request) -> Response:
        profile_id, _ = read_confirm(request)
        profile = web.profile_or_404(profile_id)
        return web.render(request, "confirm.html.j2", profile=profile, done=None)

    async def confirm_post(request: Request) -> Response:
        profile_id, ref = read_confirm(request)
        await web.checked_form(request)
        profile = web.profile_or_404(profile_id)
        done = subscriptions.confirm(web.store, ref, profile_id)
        manage = None
        if done is not None:
            key = subscriptions.subscriber_key(web.store, done.subscriber_id)
            manage = f"/preferences/{web.signer.unsubscribe_token(profile_id, done.subscriber_id, key)}"
        return web.render(request, "confirm.html.j2", profile=profile, done=done is not None, manage=manage)

    # ------------------------------------------------------------ unsubscribe and topic choice

    def read_unsubscribe(request: Request) -> tuple[str, int]:
        """(profile, subscriber id); the id is 0 (nobody) when the link's subscriber has gone (issue 15)."""
        try:
            link = web.signer.read_subscriber_link(request.path_params["token"])
        except BadToken:
            raise HTTPException(400, "This unsubscribe link is not valid. Check that you copied all of it, "
                                     "or reply to the bulletin and ask to be taken off the list.")
        return link.profile_id, subscriptions.link_holder(web.store, link) or 0

    async def unsubscribe_page(request: Request) -> Response:
        profile_id, subscriber_id = read_unsubscribe(request)
        profile = web.profile_or_404(profile_id)
        subscribed = subscriptions.is_subscribed(web.store, profile_id, subscriber_id)
        return web.render(request, "unsubscribe.html.j2", profile=profile, subscribed=subscribed, done=False,
                          token=request.path_params["token"])

    async def unsubscribe_post(request: Request) -> Response:
        # RFC 8058: the mail client POSTs "List-Unsubscribe=One-Click" with no cookies; the signed
        # token in the address is the authority, so no CSRF token is asked for here.
        profile_id, subscriber_id = read_unsubscribe(request)
        profile = web.profile_or_404(profile_id)
        subscriptions.unsubscribe(web.store, profile_id, subscriber_id)
        return web.render(request, "unsubscribe.html.j2", profile=profile, subscribed=False, done=True,
                          token=request.path_params["token"])

    async def preferences(request: Request) -> Response:
        profile_id, subscriber_id = read_unsubscribe(request)
        profile = web.profile_or_404(profile_id)
        if not subscriptions.is_subscribed(web.store, profile_id, subscriber_id):
            return web.message(request, "You are not subscribed",
                               f"This address is not subscribed to {profile.name}.", status=404)
        saved = False
        if request.method == "POST":
            form = await web.checked_form(request)
            known = {t.id for t in profile.topics}
            topics = [t for t in form.getlist("topic") if t in known]
            if not topics:
                return web.render(request, "preferences.html.j2", status=400, profile=profile, chosen=set(),
                                  saved=False, token=request.path_params["token"],
                                  error="Choose at least one topic, or unsubscribe instead.")
            subscriptions.set_topics(web.store, subscriber_id, [] if set(topics) == known else topics)
            saved = True
        chosen = subscriptions.chosen_topics(web.store, subscriber_id) or {t.id for t in profile.topics}
        return web.render(request, "preferences.html.j2", profile=profile, chosen=chosen, saved=saved,
                          token=request.path_params["token"], error=None)

    async def manage_page(request: Request) -> Response:
        _, subscriber_id = read_unsubscribe(request)
        profiles = web.profiles()
        left, saved = None, None
        if request.method == "POST":
            form = await web.checked_form(request)
            if form.get("action") == "leave-all":
                left = manage.leave_all(web.store, subscriber_id, profiles)
            elif form.get("action") == "save":
                saved = manage.set_frequency(web.store, subscriber_id, profiles, str(form.get("profile", "")),
                                             str(form.get("frequency", "")), form.get("paused") == "yes")
                if saved is None:
                    raise HTTPException(400, "That choice could not be saved: choose one of the frequencies "
                                             "shown for a bulletin this address receives.")
        found = manage.subscriptions_of(web.store, subscriber_id, profiles)
        links = {s.profile_id: web.signer.unsubscribe_token(s.profile_id, s.subscriber_id,
                                                            subscriptions.subscriber_key(web.store, s.subscriber_id))
                 for s in found}
        return web.render(request, "manage.html.j2", subscriptions=found, links=links, left=left, saved=saved,
                          labels=frequency.LABELS)

    # ------------------------------------------------------------ feedback

    def read_feedback(request: Request) -> tuple[str, int, int, str]:
        try:
            return web.signer.read_feedback(request.path_params["token"])
        except ExpiredToken:
            raise HTTPException(410, "This feedback link has expired; thank you all the same.")
        except BadToken:
            raise HTTPException(400, "This feedback link is not valid. Check that you copied all of it.")

    async def feedback_page(request: Request) -> Response:
        # Mail scanners (Safe Links, Mimecast, Proofpoint) open every link in a mail: a GET only asks.
        # Whatever else the address carries (?next=, ?url=...) is ignored: this page never redirects.
        profile_id, _, item_id, verdict = read_feedback(request)
        profile = web.profile_or_404(profile_id)
        items = web.store.get_items([item_id])
        if not items:
            raise HTTPException(404, "That item is no longer held.")
        return web.render(request, "feedback.html.j2", profile=profile, item=items[0],
                          verdict=VERDICT_WORDS[verdict], done=False)

    async def feedback_post(request: Request) -> Response:
        profile_id, subscriber_id, item_id, verdict = read_feedback(request)
        await web.checked_form(request)
        profile = web.profile_or_404(profile_id)
        items = web.store.get_items([item_id])
        if not items:
            raise HTTPException(404, "That item is no longer held.")
        record_feedback(web.store, profile_id=profile_id, topic_id=None, item_id=item_id,   # its matched topic
                        subscriber_id=subscriber_id, verdict=verdict.replace("-", "_"))
        return web.render(request, "feedback.html.j2", profile=profile, item=items[0],
                          verdict=VERDICT_WORDS[verdict], done=True)

    # ------------------------------------------------------------ archive and downloads

    async def bulletin_list(request: Request) -> Response:
        profile = web.profile_or_404(request.path_params["profile_id"])
        query = request.query_params.get("q", "").strip()[:200]
        found = await run_in_threadpool(archive_search.search, web.store, profile.id, query) if query else None
        return web.render(request, "bulletins.html.j2", profile=profile, query=query, found=found,
                          bulletins=archive.list_pages(web.store, profile.id))

    def page_or_404(request: Request) -> archive.ArchivedBulletin:
        page = archive.get_page(web.store, int(request.path_params["page_id"]))
        if page is None or page.profile_id != request.path_params["profile_id"]:
            raise HTTPException(404, "There is no such bulletin in the archive.")
        return page

    async def bulletin_page(request: Request) -> Response:
        page = page_or_404(request)
        return web.render(request, "bulletin.html.j2", page=page)

    async def bulletin_ris(request: Request) -> Response:
        page = page_or_404(request)
        return Response(exports.bulletin_ris(page), media_type="application/x-research-info-systems",
                        headers={"Content-Disposition": f'attachment; filename="{exports.file_stem(page)}.ris"'})

    async def bulletin_csv(request: Request) -> Response:
        page = page_or_404(request)
        return Response(exports.bulletin_csv(page), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{exports.file_stem(page)}.csv"'})

    async def feed(request: Request) -> Response:
        ctx = web.context()
        profile = web.profile_or_404(request.path_params["profile_id"])
        body = exports.profile_atom(ctx, profile, base_url=web.base, now=utcnow())
        return Response(body, media_type="application/atom+xml; charset=utf-8")

    async def closing_feed(request: Request) -> Response:
        profile = web.profile_or_404(request.path_params["profile_id"])
        now = utcnow()
        found = await run_in_threadpool(closing.upcoming, web.store, profile, today=now.date())
        body = closing.closing_ics(profile, found, base_url=web.base, now=now)
        return Response(body, media_type="text/calendar; charset=utf-8",
                        headers={"Content-Disposition": f'inline; filename="{profile.id}-closing.ics"'})

    return [
        Route("/", home),
        Route("/p/{profile_id}/closing.ics", closing_feed),
        Route("/profiles/{profile_id}", profile_page),
        Route("/profiles/{profile_id}/subscribe", subscribe, methods=["POST"]),
        Route("/profiles/{profile_id}/bulletins", bulletin_list),
        Route("/profiles/{profile_id}/bulletins/{page_id:int}", bulletin_page),
        Route("/profiles/{profile_id}/bulletins/{page_id:int}.ris", bulletin_ris),
        Route("/profiles/{profile_id}/bulletins/{page_id:int}.csv", bulletin_csv),
        Route("/profiles/{profile_id}/feed.atom", feed),
        Route("/confirm/{token}", confirm_page, methods=["GET"]),
        Route("/confirm/{token}", confirm_post, methods=["POST"]),
        Route("/unsubscribe/{token}", unsubscribe_page, methods=["GET"]),
        Route("/unsubscribe/{token}", unsubscribe_post, methods=["POST"]),
        Route("/preferences/{token}", preferences, methods=["GET", "POST"]),
        Route("/manage/{token}", manage_page, methods=["GET", "POST"]),
        *(Route(path + "{token}", view, methods=[method])   # the short path, and the one older emails carry
          for path in (FEEDBACK_PATH, OLD_FEEDBACK_PATH)
          for view, method in ((feedback_page, "GET"), (feedback_post, "POST"))),
    ]


def _send_one(web: Web, message: object) -> None:
    transport = open_transport(web.settings)
    try:
        transport.send(message)  # type: ignore[arg-type]
    finally:
        transport.close()
