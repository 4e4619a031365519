"""The web app goes by the profiles in force, as the scheduler does: after a librarian's edit breaks
a profile file, its last good version stays up on the web (not a 404), while the scheduler keeps
sending it (issue 18: one load_in_force() for the pipeline, the scheduler and the web)."""

from __future__ import annotations

from webworld import Site, site  # noqa: F401 (the fixture)


def test_a_broken_profile_edit_leaves_the_last_good_version_on_the_public_page(site: Site) -> None:
    c = site.client()
    before = c.get("/profiles/ph-team")
    assert before.status_code == 200 and "Frailty and older people" in before.text
    path = site.root / "profiles" / "ph-team.yaml"
    path.write_text(path.read_text().replace("lookback_days: 14", "lookback_days: fourteen"))   # the typo

    after = c.get("/profiles/ph-team")
    assert after.status_code == 200, "a broken edit must not take the team's page down"
    assert "Frailty and older people" in after.text and "Maternity and perinatal care" in after.text
    assert "ph-team" in {p.id for p in site.app.state.web.profiles()}

    path.write_text(path.read_text().replace("lookback_days: fourteen", "lookback_days: 14")
                    .replace("Frailty and older people", "Frailty, falls and older people"))   # fixed, and edited
    fixed = c.get("/profiles/ph-team")
    assert fixed.status_code == 200 and "Frailty, falls and older people" in fixed.text, "the fixed file wins"


def test_a_broken_new_profile_with_no_good_version_is_not_shown(site: Site) -> None:
    (site.root / "profiles" / "new-team.yaml").write_text("id: new-team\nname: New\ntopics: not-a-list\n")
    c = site.client()
    assert c.get("/profiles/new-team").status_code == 404, "nothing good was ever saved: nothing stands in"
    assert c.get("/profiles/ph-team").status_code == 200, "the other profiles are untouched"
