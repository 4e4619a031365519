"""What every page handler needs: the settings, the store, the Jinja environment,
the signer, who is logged in, and the CSRF check.

Profiles and sources are re-read for each request that needs them, so a
librarian's saved edit (or one made in the file) shows at once.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from ..deliver.bulletin import Composer, day_label, plural
from ..config.settings import Settings
from ..core.localtime import local
from ..core.models import Profile
from ..context import Context
from ..store.lastgood import load_in_force
from ..store.store import Store
from ..deliver.tokens import Signer
from ..store.users import User, granted_profiles, may_tune, session_user

CSRF_COOKIE = "aw_csrf"
SESSION_COOKIE = "aw_session"


@dataclass
class Web:
    settings: Settings
    store: Store
    composer: Composer
    signer: Signer

    @property
    def secure_cookies(self) -> bool:
        return self.settings.base_url.startswith("https://")

    @property
    def base(self) -> str:
        return self.settings.base_url.rstrip("/")

    # ------------------------------------------------------------ profiles

    def context(self) -> Context:
        """A pipeline context over the shared store, with what is in force now: the profiles as they
        are on disk, and the last good version of one a broken edit left unreadable (as the scheduler)."""
        in_force = load_in_force(self.settings, self.store, keep_sources=[])
        return Context.of(self.settings, self.store, in_force, composer=self.composer, signer=self.signer)

    def profiles(self) -> list[Profile]:
        return self.context().profiles

    def profile_or_404(self, profile_id: str) -> Profile:
        for p in self.profiles():
            if p.id == profile_id:
                return p
        raise HTTPException(404, f"There is no profile called '{profile_id}'.")

    # ------------------------------------------------------------ who

    def user(self, request: Request) -> User | None:
        found = session_user(self.store, request.cookies.get(SESSION_COOKIE, ""))
        return found[0] if found else None

    def require(self, request: Request, role: str = "librarian") -> User:
        """The logged-in user, or a redirect to the login page; admins may do what librarians do."""
        user = self.user(request)
        if user is None:
            raise HTTPException(303, headers={"Location": f"/login?next={request.url.path}"})
        if role == "admin" and not user.is_admin:
            raise HTTPException(403, "This page is for administrators.")
        return user

    def may_tune(self, user: User, profile: Profile) -> bool:
        return may_tune(user, profile.id, profile.owner, granted_profiles(self.store, user))

    def require_profile(self, request: Request, profile_id: str) -> tuple[User, Profile]:
        """The logged-in user and the profile, when this user may tune it (issue 15); else 403."""
        user = self.require(request)
        profile = self.profile_or_404(profile_id)
        if not self.may_tune(user, profile):
            raise HTTPException(403, f"You cannot tune '{profile.name}': ask an administrator to give you this "
                                     f"profile (awareness users grant {user.email} {profile.id}).")
        return user, profile

    # ------------------------------------------------------------ CSRF

    def browser_nonce(self, request: Request) -> str:
        """The browser's CSRF cookie value, made on first sight (set by the response hook)."""
        nonce = request.cookies.get(CSRF_COOKIE) or request.scope.get("aw.new_nonce")
        if not nonce:
            nonce = secrets.token_urlsafe(24)
            request.scope["aw.new_nonce"] = nonce
        return nonce

    async def checked_form(self, request: Request) -> FormData:
        """The posted form, after the CSRF check (400 with no state change when it fails)."""
        form = await request.form()
        token = str(form.get("csrf", ""))
        nonce = request.cookies.get(CSRF_COOKIE, "")
        if not self.signer.check_csrf(nonce, token):
            raise HTTPException(400, "This form had expired or did not come from this site. "
                                     "Go back, reload the page and try again.")
        return form

    # ------------------------------------------------------------ rendering

    def render(self, request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        context.setdefault("user", self.user(request))
        context.update(request=request, csrf=self.signer.csrf_token(self.browser_nonce(request)),
                       plural=plural, day=day_label, zone=self.settings.timezone,
                       local=lambda when, fmt="%d %b %Y %H:%M": local(when, self.settings.timezone, fmt))
        html = self.composer.env.get_template(f"web/{template}").render(context)
        response = HTMLResponse(html, status_code=status)
        self.set_nonce_cookie(request, response)
        return response

    def set_nonce_cookie(self, request: Request, response: Response) -> None:
        new = request.scope.get("aw.new_nonce")
        if new:
            response.set_cookie(CSRF_COOKIE, new, httponly=True, samesite="lax", secure=self.secure_cookies,
                                path="/")

    def message(self, request: Request, title: str, text: str, status: int = 200) -> HTMLResponse:
        return self.render(request, "message.html.j2", status=status, title=title, text=text)


def see_other(path: str) -> RedirectResponse:
    """A redirect after POST, only ever to a path on this site."""
    if not path.startswith("/") or path.startswith("//") or "\\" in path:
        path = "/"
    return RedirectResponse(path, status_code=303)
