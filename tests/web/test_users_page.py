"""An administrator manages the accounts on one page: sees them all, disables (and re-enables) one, resets a
password (the new one shown once), removes one after being asked, and ticks which profiles each librarian may
tune. Every change that takes rights away logs the person out at once."""

from __future__ import annotations

import re

from awareness.store.users import add_user
from webworld import PASSWORD, Site, site  # noqa: F401 (the fixture)


def account_id(page: str, email: str) -> str:
    found = re.search(r'<th scope="row">' + re.escape(email) + r'</th>.*?action="/admin/users/(\d+)"', page, re.S)
    assert found, f"{email} not listed"
    return found.group(1)


def admin(site: Site):  # type: ignore[no-untyped-def]
    c = site.client()
    c.login("admin@example.nhs.uk")
    return c


def change(c, user_id: str, **data: str):  # type: ignore[no-untyped-def]
    return c.post(f"/admin/users/{user_id}", data={"csrf": c.csrf("/admin/users"), **data})


def test_the_users_page_lists_accounts_for_admins_only(site: Site) -> None:
    c = admin(site)
    page = c.get("/admin/users")
    assert page.status_code == 200
    assert "librarian@example.nhs.uk" in page.text and "admin@example.nhs.uk" in page.text
    assert 'href="/admin/users"' in c.get("/admin").text, "the admin page links to it"
    lib = site.client()
    lib.login("librarian@example.nhs.uk")
    assert lib.get("/admin/users").status_code == 403
    assert lib.post("/admin/users/1", data={"csrf": lib.csrf("/librarian"), "action": "disable"}).status_code == 403


def test_a_disabled_librarian_is_logged_out_and_cannot_log_in_until_enabled(site: Site) -> None:
    lib = site.client()
    lib.login("librarian@example.nhs.uk")
    assert lib.get("/librarian").status_code == 200
    c = admin(site)
    uid = account_id(c.get("/admin/users").text, "librarian@example.nhs.uk")
    r = change(c, uid, action="disable")
    assert r.status_code == 200 and "librarian@example.nhs.uk is disabled" in r.text and "Disabled" in r.text
    assert lib.get("/librarian").status_code == 303, "logged out at once"
    again = site.client()
    assert again.login("librarian@example.nhs.uk").status_code == 401
    change(c, uid, action="enable")
    assert site.client().login("librarian@example.nhs.uk").status_code == 303


def test_a_reset_password_is_shown_once_and_the_old_one_stops_working(site: Site) -> None:
    c = admin(site)
    uid = account_id(c.get("/admin/users").text, "librarian@example.nhs.uk")
    r = change(c, uid, action="reset-password")
    new = re.search(r'<code class="secret">([^<]+)</code>', r.text)
    assert new and len(new.group(1)) >= 16
    assert new.group(1) not in c.get("/admin/users").text, "shown only once"
    assert site.client().login("librarian@example.nhs.uk").status_code == 401
    assert site.client().login("librarian@example.nhs.uk", new.group(1)).status_code == 303


def test_removing_asks_first_then_the_account_is_gone(site: Site) -> None:
    c = admin(site)
    uid = account_id(c.get("/admin/users").text, "librarian@example.nhs.uk")
    asked = change(c, uid, action="remove")
    assert "Remove librarian@example.nhs.uk?" in asked.text
    assert "librarian@example.nhs.uk" in c.get("/admin/users").text, "nothing removed yet"
    done = change(c, uid, action="remove", confirm="yes")
    assert "librarian@example.nhs.uk was removed" in done.text
    assert '<th scope="row">librarian@example.nhs.uk</th>' not in done.text
    assert site.client().login("librarian@example.nhs.uk").status_code == 401


def test_rights_per_profile_are_ticked_and_unticked(site: Site) -> None:
    add_user(site.store, "newcomer@example.nhs.uk", "librarian", PASSWORD)
    newcomer = site.client()
    newcomer.login("newcomer@example.nhs.uk")
    assert newcomer.get("/librarian/ph-team").status_code == 403
    c = admin(site)
    uid = account_id(c.get("/admin/users").text, "newcomer@example.nhs.uk")
    r = change(c, uid, action="profiles", profile="ph-team")
    assert "newcomer@example.nhs.uk&#39;s profiles were saved" in r.text
    assert re.search(rf'id="grant-{uid}-ph-team" name="profile" value="ph-team" checked', r.text)
    assert newcomer.get("/librarian/ph-team").status_code == 200
    change(c, uid, action="profiles")
    assert newcomer.get("/librarian/ph-team").status_code == 403


def test_an_admin_cannot_lock_themselves_or_the_service_out(site: Site) -> None:
    c = admin(site)
    page = c.get("/admin/users").text
    me = account_id(page, "admin@example.nhs.uk")
    r = change(c, me, action="disable")
    assert r.status_code == 409 and "you cannot disable your own account" in r.text
    assert change(c, me, action="remove", confirm="yes").status_code == 409
    assert c.get("/admin").status_code == 200, "still logged in"
