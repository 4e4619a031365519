"""Pages behind a login: librarians tune profiles, admins watch sources and runs.

Also the machine endpoints: ``POST /admin/runs`` (bearer token, JSON),
``GET /healthz`` and ``GET /metrics``.
"""

from __future__ import annotations

import hmac
import json
import logging
from datetime import timedelta
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from ..deliver import archive, subscriptions
from ..store import runlock, runlog
from ..core.errors import AwarenessError
from ..judgements import apply_to_preview, list_judgements, undo_judgement
from ..config.sources import usable_sources
from ..store.schema import utcnow
from ..store.users import authenticate, end_session, finish_login, reserve_login, start_session
from . import editor
from .guard import metrics_refusal
from .core import CSRF_COOKIE, SESSION_COOKIE, Web, see_other
from ..match.feedback import feedback_summary, record_judgement
from ..preview import preview_profile
from ..service.runs import dry_run, trigger_run
from ..store.metrics import CONTENT_TYPE, render_metrics

logger = logging.getLogger(__name__)


def _safe_next(value: str) -> str:
    """Only a path on this site: never //host or https://host."""
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/librarian"
    return value


def _items_last_week(web: Web) -> dict[str, int]:
    """New items per source over the last seven days."""
    return web.store.new_items_per_source(utcnow() - timedelta(days=7))


def _wait_words(seconds: int) -> str:
    return f"{seconds} seconds" if seconds < 90 else f"{round(seconds / 60)} minutes"


def _bearer_ok(web: Web, request: Request) -> bool:
    """The machine endpoints' check: ``Authorization: Bearer <admin_token>``."""
    token = web.settings.admin_token
    given = request.headers.get("authorization", "")
    return bool(token) and given.startswith("Bearer ") and hmac.compare_digest(given[7:].strip(), token)


def routes(web: Web) -> list[Route]:
    # ------------------------------------------------------------ login

    async def login(request: Request) -> Response:
        nxt = _safe_next(request.query_params.get("next", "/librarian"))
        if request.method == "GET":
            return web.render(request, "login.html.j2", next=nxt, error=None, email="")
        form = await web.checked_form(request)
        email = str(form.get("email", "")).strip().lower()
        client = request.client.host if request.client else "unknown"
        attempt, wait = await run_in_threadpool(reserve_login, web.store, email, client)   # before argon2
        if attempt is None:
            refused = web.render(request, "login.html.j2", status=429, next=nxt, email=email,
                                 error=f"Too many failed attempts. Wait {_wait_words(wait)} and try again.")
            refused.headers["Retry-After"] = str(wait)
            return refused
        user = await run_in_threadpool(authenticate, web.store, email, str(form.get("password", "")))
        finish_login(web.store, attempt, user is not None)
        if user is None:
            return web.render(request, "login.html.j2", status=401, next=nxt, email=email,
                              error="The email address or password is not right.")
        key = start_session(web.store, user)
        nxt = _safe_next(str(form.get("next", nxt)))
        if nxt.startswith("/admin") and not user.is_admin:
            nxt = "/librarian"
        response = see_other(nxt)
        response.set_cookie(SESSION_COOKIE, key, httponly=True, samesite="strict", secure=web.secure_cookies,
                            path="/", max_age=12 * 3600)
        response.delete_cookie(CSRF_COOKIE, path="/")   # a fresh CSRF nonce after login
        logger.info("%s logged in (%s)", user.email, user.role)
        return response

    async def logout(request: Request) -> Response:
        await web.checked_form(request)
        end_session(web.store, request.cookies.get(SESSION_COOKIE, ""))
        response = see_other("/")
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    # ------------------------------------------------------------ librarian

    async def librarian(request: Request) -> Response:
        user = web.require(request)
        ctx = web.context()
        mine = [p for p in ctx.profiles if web.may_tune(user, p)]   # rights per profile (issue 15)
        return web.render(request, "librarian.html.j2", profiles=mine, problems=ctx.profile_errors)

    async def librarian_profile(request: Request) -> Response:
        _, profile = web.require_profile(request, request.path_params["profile_id"])
        ctx = web.context()
        preview = await run_in_threadpool(preview_profile, ctx, profile)
        judged = list_judgements(web.store, profile)
        preview = apply_to_preview(preview, judged)       # exclude / include show at once
        return web.render(request, "librarian_profile.html.j2", profile=profile, preview=preview,
                          judgements=judged,
                          bulletins=archive.list_pages(web.store, profile.id, limit=10),
                          feedback=feedback_summary(web.store, profile.id),
                          judged=request.query_params.get("judged"))

    async def judge(request: Request) -> Response:
        user, profile = web.require_profile(request, request.path_params["profile_id"])
        form = await web.checked_form(request)
        item_id = _named_item(form)
        topic_id = str(form.get("topic_id", ""))
        if topic_id not in {t.id for t in profile.topics}:
            raise HTTPException(400, "That topic is not in this profile.")
        include = form.get("verdict") == "include"
        record_judgement(web.store, profile_id=profile.id, topic_id=topic_id, item_id=item_id, include=include,
                         who=user.email)
        return see_other(f"/librarian/{profile.id}?judged={item_id}#item-{item_id}-{topic_id}")

    async def undo(request: Request) -> Response:
        _, profile = web.require_profile(request, request.path_params["profile_id"])
        form = await web.checked_form(request)
        item_id = _named_item(form)
        undo_judgement(web.store, profile_id=profile.id, topic_id=str(form.get("topic_id", "")), item_id=item_id)
        return see_other(f"/librarian/{profile.id}?judged={item_id}#judgements")

    async def edit(request: Request) -> Response:
        _, profile = web.require_profile(request, request.path_params["profile_id"])
        if request.method == "GET":
            text = editor.read(profile)
            return web.render(request, "editor.html.j2", profile=profile, text=text, errors=[], diff=None,
                              saved=request.query_params.get("saved"))
        form = await web.checked_form(request)
        text = str(form.get("yaml", "")).replace("\r\n", "\n")
        result = await run_in_threadpool(editor.check, web.context(), profile, text)
        if result.errors or form.get("action") != "save":
            return web.render(request, "editor.html.j2", status=400 if result.errors else 200, profile=profile,
                              text=text, errors=result.errors, diff=result.diff, saved=None)
        editor.save(profile, text)
        return see_other(f"/librarian/{profile.id}/edit?saved=1")

    # ------------------------------------------------------------ admin

    async def admin(request: Request) -> Response:
        web.require(request, "admin")
        ctx = web.context()
        runlock.mark_interrupted(web.store)     # a run whose process died says so (issue 16)
        counts = {p.id: subscriptions.subscriber_count(web.store, p) for p in ctx.profiles}
        try:
            _, skipped = usable_sources(web.settings.sources, fetch_allow=web.settings.fetch_allow)
        except AwarenessError as e:
            skipped = [e]
        return web.render(request, "admin.html.j2", profiles=ctx.profiles, counts=counts,
                          sources=web.store.source_states(), runs=runlog.list_runs(web.store, last=20),
                          week=_items_last_week(web), skipped=skipped,
                          started=request.query_params.get("started"))

    async def admin_run(request: Request) -> Response:
        """Run now: first a page that asks for confirmation and offers a dry run; then the run itself."""
        user = web.require(request, "admin")
        form = await web.checked_form(request)
        profile = str(form.get("profile", "")) or None
        target = web.profile_or_404(profile) if profile else None
        choice = str(form.get("confirm", ""))
        ctx = web.context()
        chosen = [target] if target else ctx.profiles
        if choice not in ("run", "dry-run"):
            counts = {p.id: subscriptions.subscriber_count(web.store, p) for p in chosen}
            return web.render(request, "admin_confirm.html.j2", profile=target, chosen=chosen, counts=counts,
                              report=None)
        try:
            if choice == "dry-run":
                report = await run_in_threadpool(lambda: dry_run(web.settings, force=True, profile=profile,
                                                                 source=None, wait=0))
                return web.render(request, "admin_confirm.html.j2", profile=target, chosen=chosen, counts={},
                                  report=report)
            run_id = await run_in_threadpool(lambda: trigger_run(web.settings, profile=profile, trigger="web",
                                                                 who=user.email))
        except runlock.RunInProgress as e:
            return web.message(request, "Another run is in progress", str(e), status=409)
        return see_other(f"/admin?started={run_id}")

    async def admin_run_details(request: Request) -> Response:
        """GET /admin/runs/{id}: what one run did, per source and per profile (JSON with the bearer token)."""
        try:
            run_id = int(request.path_params["run_id"])
        except ValueError:
            raise HTTPException(404, "There is no such run.")
        if _bearer_ok(web, request):
            record = runlog.get_run(web.store, run_id)
            if record is None:
                return JSONResponse({"error": f"no run {run_id}"}, status_code=404)
            return JSONResponse({**record.as_json(), "details": record.details})
        web.require(request, "admin")
        runlock.mark_interrupted(web.store)
        record = runlog.get_run(web.store, run_id)
        if record is None:
            raise HTTPException(404, f"There is no run {run_id}.")
        return web.render(request, "admin_run.html.j2", run=record)

    # ------------------------------------------------------------ machine endpoints

    async def runs_api(request: Request) -> Response:
        if not _bearer_ok(web, request):
            return JSONResponse({"error": "a valid 'Authorization: Bearer <admin_token>' header is needed"},
                                status_code=401, headers={"WWW-Authenticate": "Bearer"})
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            return JSONResponse({"error": "the body must be JSON"}, status_code=400)
        if not isinstance(body, dict) or set(body) - {"profile", "source"}:
            return JSONResponse({"error": "the body may only have 'profile' and 'source'"}, status_code=400)
        profile, source = body.get("profile"), body.get("source")
        ctx = web.context()
        if profile is not None and profile not in {p.id for p in ctx.profiles}:
            return JSONResponse({"error": f"no profile '{profile}'"}, status_code=404)
        if source is not None and source not in {s.id for s in ctx.sources}:
            return JSONResponse({"error": f"no source '{source}'"}, status_code=404)
        try:
            run_id = await run_in_threadpool(lambda: trigger_run(web.settings, profile=profile, source=source,
                                                                 trigger="web", who="admin API"))
        except AwarenessError as e:
            return JSONResponse({"error": str(e)}, status_code=409)
        return JSONResponse({"run": run_id}, status_code=202, headers={"Location": f"/admin/runs/{run_id}"})

    async def healthz(request: Request) -> Response:
        try:
            web.store.source_states([])
        except Exception as e:  # the database is unreachable: say so, do not crash
            return JSONResponse({"status": "error", "error": type(e).__name__}, status_code=503)
        return JSONResponse({"status": "ok"})

    async def metrics(request: Request) -> Response:
        refused = metrics_refusal(web.settings, request)   # a token, or this host only (issue 15)
        if refused is not None:
            return refused
        return PlainTextResponse(render_metrics(web.store), media_type=CONTENT_TYPE)

    return [
        Route("/login", login, methods=["GET", "POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/librarian", librarian),
        Route("/librarian/{profile_id}", librarian_profile),
        Route("/librarian/{profile_id}/judge", judge, methods=["POST"]),
        Route("/librarian/{profile_id}/undo", undo, methods=["POST"]),
        Route("/librarian/{profile_id}/edit", edit, methods=["GET", "POST"]),
        Route("/admin", admin),
        Route("/admin/run", admin_run, methods=["POST"]),
        Route("/admin/runs", runs_api, methods=["POST"]),
        Route("/admin/runs/{run_id}", admin_run_details),
        Route("/healthz", healthz),
        Route("/metrics", metrics),
    ]


def _named_item(form: FormData) -> int:
    """The item a librarian's include / exclude / undo form names, or a 400 saying none was."""
    try:
        return int(str(form.get("item_id", "")))
    except ValueError:
        raise HTTPException(400, "No item was named.")
