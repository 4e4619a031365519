"""The profile editor's form view: per topic its terms, exclusions, examples and threshold (issue 17).

The form is written into the profile file by ``topic_form.apply`` (comments and
layout kept), then checked, previewed and saved exactly as the YAML view's edits
are (``editor.check`` and ``editor.save``), so both views obey one rule.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..config import topic_form
from ..core.models import Profile
from . import editor
from .core import Web, see_other


def _values(profile: Profile) -> dict[str, dict[str, str]]:
    return {t.id: {"terms": "\n".join(t.terms), "exclude": "\n".join(t.exclude), "examples": "\n".join(t.examples),
                   "threshold": "" if t.threshold is None else f"{t.threshold:g}"} for t in profile.topics}


def _submitted(profile: Profile, form: Any) -> dict[str, dict[str, str]]:
    return {t.id: {k: str(form.get(f"{t.id}.{k}", "") or "") for k in ("terms", "exclude", "examples", "threshold")}
            for t in profile.topics}


def routes(web: Web) -> list[Route]:
    async def topics(request: Request) -> Response:
        _, profile = web.require_profile(request, request.path_params["profile_id"])
        if request.method == "GET":
            return web.render(request, "topics.html.j2", profile=profile, values=_values(profile), errors=[],
                              diff=None, saved=request.query_params.get("saved"))
        form = await web.checked_form(request)
        values = _submitted(profile, form)
        read = topic_form.read_form(profile, form)
        if read.errors:
            return web.render(request, "topics.html.j2", status=400, profile=profile, values=values,
                              errors=read.errors, diff=None, saved=None)
        text = topic_form.apply(editor.read(profile), read.edits)
        result = await run_in_threadpool(editor.check, web.context(), profile, text)
        if result.errors or form.get("action") != "save":
            return web.render(request, "topics.html.j2", status=400 if result.errors else 200, profile=profile,
                              values=values, errors=result.errors, diff=result.diff, saved=None)
        editor.save(profile, text)
        return see_other(f"/librarian/{profile.id}/topics?saved=1")

    return [Route("/librarian/{profile_id}/topics", topics, methods=["GET", "POST"])]
