"""A librarian edits a topic's terms, exclusions, examples and threshold in a form instead of YAML; the check
shows what the change would do, and saving changes only those lines of the file: its comments, order and
every other line stay as the librarian wrote them."""

from __future__ import annotations

import difflib
import re

import yaml

from awareness.config.topic_form import TopicEdit, apply
from conftest import example_profile_paths
from webworld import PROFILE, Site, site  # noqa: F401 (the fixture)

COMMENTED = ("# The public health team's profile: tuned by Lee.\n" + PROFILE).replace(
    "    terms: [maternity, midwifery, perinatal, antenatal, postnatal]\n",
    "    terms: [maternity, midwifery, perinatal, antenatal, postnatal]   # from the team's away day\n"
    "    # no threshold: the usual one suits this topic\n")


def form_of(page: str) -> dict[str, str]:
    """The form's fields as the browser would send them."""
    fields = dict(re.findall(r'<input[^>]*name="([^"]+)" value="([^"]*)"', page))
    fields.update({k: v for k, v in re.findall(r'<textarea[^>]*name="([^"]+)"[^>]*>([^<]*)</textarea>', page)})
    return {k: v.replace("&#39;", "'").replace("&amp;", "&") for k, v in fields.items()}


def changed_lines(before: str, after: str) -> list[str]:
    return [line for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def test_a_term_added_in_the_form_is_previewed_then_saved_changing_only_that_line(site: Site) -> None:
    path = site.root / "profiles" / "ph-team.yaml"
    path.write_text(COMMENTED)
    c = site.client()
    c.login("librarian@example.nhs.uk")
    page = c.get("/librarian/ph-team/topics")
    assert page.status_code == 200 and "Maternity and perinatal care" in page.text
    fields = form_of(page.text)
    assert fields["maternity.terms"].split("\n") == ["maternity", "midwifery", "perinatal", "antenatal", "postnatal"]
    assert fields["frailty.threshold"] == ""

    fields["maternity.terms"] += "\ncar parking"
    fields["action"] = "check"
    checked = c.post("/librarian/ph-team/topics", data=fields)
    assert checked.status_code == 200
    assert "would be added" in checked.text and "Hospital car parking procurement framework renewed" in checked.text
    assert path.read_text() == COMMENTED, "checking changes nothing"

    fields["action"] = "save"
    saved = c.post("/librarian/ph-team/topics", data=fields)
    assert saved.status_code == 303 and saved.headers["location"] == "/librarian/ph-team/topics?saved=1"
    after = path.read_text()
    assert changed_lines(COMMENTED, after) == [
        "-    terms: [maternity, midwifery, perinatal, antenatal, postnatal]   # from the team's away day",
        "+    terms: [maternity, midwifery, perinatal, antenatal, postnatal, car parking]   # from the team's away day",
    ], changed_lines(COMMENTED, after)
    assert "# The public health team's profile: tuned by Lee." in after
    assert "# no threshold: the usual one suits this topic" in after
    assert list((site.root / "profiles" / ".history").iterdir()), "the old version is kept"
    assert "Saved." in c.get("/librarian/ph-team/topics?saved=1").text
    preview = c.get("/librarian/ph-team").text
    maternity = preview.split("Maternity and perinatal care", 1)[1]
    assert "Hospital car parking procurement framework renewed" in maternity


def test_exclusions_examples_and_a_threshold_are_added_where_they_belong(site: Site) -> None:
    path = site.root / "profiles" / "ph-team.yaml"
    path.write_text(COMMENTED)
    c = site.client()
    c.login("librarian@example.nhs.uk")
    fields = form_of(c.get("/librarian/ph-team/topics").text)
    fields.update({"frailty.exclude": "veterinary\nfalls short", "frailty.examples": "Falls clinics: what works",
                   "frailty.threshold": "0.3", "action": "save"})
    assert c.post("/librarian/ph-team/topics", data=fields).status_code == 303
    after = path.read_text()
    frailty = yaml.safe_load(after)["topics"][0]
    assert frailty["exclude"] == ["veterinary", "falls short"] and frailty["examples"] == ["Falls clinics: what works"]
    assert frailty["threshold"] == 0.3
    keys = [line.strip().split(":")[0] for line in after.split("- id: frailty", 1)[1].split("- id: maternity")[0]
            .splitlines() if re.match(r"^\s{4}\w", line)]
    assert keys == ["title", "description", "terms", "exclude", "examples", "threshold"]
    assert after.count("# ") == COMMENTED.count("# "), "every comment kept"


def test_a_bad_threshold_is_refused_naming_the_topic_and_nothing_is_saved(site: Site) -> None:
    path = site.root / "profiles" / "ph-team.yaml"
    path.write_text("\n".join(line for line in PROFILE.splitlines() if "Maternity services, midwifery" not in line) + "\n")
    before = path.read_text()
    c = site.client()
    c.login("librarian@example.nhs.uk")
    fields = form_of(c.get("/librarian/ph-team/topics").text)
    fields.update({"maternity.threshold": "lots", "action": "save"})
    r = c.post("/librarian/ph-team/topics", data=fields)
    assert r.status_code == 400
    assert "Maternity and perinatal care: the threshold must be a number from 0 to 1" in r.text
    assert "lots" in r.text, "what was typed stays in the form"
    fields.update({"maternity.threshold": "", "maternity.terms": "", "action": "save"})
    r = c.post("/librarian/ph-team/topics", data=fields)   # a topic left with nothing to match on
    assert r.status_code == 400 and "ph-team.yaml:" in r.text
    assert "topic &#39;maternity&#39; needs terms, a description or examples" in r.text
    assert path.read_text() == before


def test_the_form_needs_rights_to_the_profile(site: Site) -> None:
    from awareness.store.users import add_user
    from webworld import PASSWORD
    add_user(site.store, "other@example.nhs.uk", "librarian", PASSWORD)
    c = site.client()
    c.login("other@example.nhs.uk")
    assert c.get("/librarian/ph-team/topics").status_code == 403


def test_unchanged_topics_give_every_example_profile_back_byte_for_byte() -> None:
    for path in example_profile_paths():
        text = path.read_text(encoding="utf-8")
        data = yaml.safe_load(text)
        same = {t["id"]: TopicEdit(t.get("terms", []), t.get("exclude", []), t.get("examples", []), t.get("threshold"))
                for t in data["topics"]}
        assert apply(text, same) == text, path.name
        first = data["topics"][0]
        edited = apply(text, {first["id"]: TopicEdit(first.get("terms", []) + ["a new term"], [], [], None)})
        assert yaml.safe_load(edited)["topics"][0]["terms"][-1] == "a new term"
        lost = [line for line in changed_lines(text, edited) if line.startswith("-") and line.lstrip("- ").startswith("#")]
        assert not lost, f"{path.name}: comments lost: {lost}"
