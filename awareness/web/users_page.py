"""The administrator's users page (issue 17): every account, with disable, remove (asked first),
reset password (the new one shown once) and the profiles each librarian may tune."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..store import user_admin as accounts
from ..store.users import UserError
from .core import Web

logger = logging.getLogger(__name__)


def routes(web: Web) -> list[Route]:
    def page(request: Request, *, status: int = 200, done: str | None = None, error: str | None = None,
             password: tuple[str, str] | None = None) -> Response:
        return web.render(request, "users.html.j2", status=status, accounts=accounts.list_accounts(web.store),
                          profiles=web.profiles(), done=done, error=error, password=password)

    async def users_list(request: Request) -> Response:
        web.require(request, "admin")
        return page(request)

    async def user_change(request: Request) -> Response:
        me = web.require(request, "admin")
        form = await web.checked_form(request)
        try:
            user_id = int(request.path_params["user_id"])
            account = accounts.get_account(web.store, user_id)
        except (ValueError, UserError):
            raise HTTPException(404, "There is no such account; it may have been removed already.")
        action = str(form.get("action", ""))
        try:
            if action == "disable":
                accounts.set_disabled(web.store, user_id, True, acting_id=me.id)
                done = f"{account.email} is disabled: they cannot log in, and were logged out."
            elif action == "enable":
                accounts.set_disabled(web.store, user_id, False, acting_id=me.id)
                done = f"{account.email} can log in again."
            elif action == "reset-password":
                new = accounts.reset_password(web.store, user_id)
                logger.info("%s reset the password of %s", me.email, account.email)
                return page(request, done=f"{account.email} has a new password and was logged out.",
                            password=(account.email, new))
            elif action == "remove":
                if form.get("confirm") != "yes":
                    return web.render(request, "user_remove.html.j2", account=account)
                accounts.remove_account(web.store, user_id, acting_id=me.id)
                done = f"{account.email} was removed."
            elif action == "profiles":
                known = {p.id for p in web.profiles()}
                accounts.set_profiles(web.store, user_id, [p for p in form.getlist("profile") if p in known])
                done = f"{account.email}'s profiles were saved."
            else:
                raise HTTPException(400, "Choose one of the buttons on the users page.")
        except UserError as e:
            return page(request, status=409, error=str(e))
        logger.info("%s: %s (%s)", me.email, action, account.email)
        return page(request, done=done)

    return [Route("/admin/users", users_list),
            Route("/admin/users/{user_id}", user_change, methods=["POST"])]
