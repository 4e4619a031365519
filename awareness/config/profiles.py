"""Team profiles: the YAML files librarians write, read and checked.

Every problem is reported as ``file:line: what is wrong`` in the words of
the person who edits the file.  ``check_profiles`` collects every problem in
every file (for ``awareness profiles check``); ``load_profiles`` stops at the
first one (for the service, which must not run on a half-valid profile).

Schedules are five-field cron expressions, read as cron reads them (day of
week 0 or 7 is Sunday) and handed to APScheduler's ``CronTrigger``.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, Sequence

from pydantic import ValidationError
from pydantic_core import ErrorDetails
from yaml.nodes import MappingNode, Node, SequenceNode

from . import profile_checks, yamlpos
from .schedule import cron_trigger, time_zones
from ..core.errors import ProfileError
from ..core.localtime import DEFAULT_ZONE
from ..core.models import ID_PATTERN, Profile, Source, Topic

logger = logging.getLogger(__name__)

PROFILE_SETTINGS = [name for name in Profile.model_fields if name != "path"]
TOPIC_SETTINGS = list(Topic.model_fields)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_IDS = "use lower case letters, digits, - and _"
_LIST_FIELDS = {"terms", "exclude", "examples", "subscribers", "sources"}


# ---------------------------------------------------------------- loading

def load_profile(path: Path) -> Profile:
    """One profile file, or the first problem in it as a ProfileError."""
    profile, errors = _check_file(Path(path))
    if errors:
        raise errors[0]
    assert profile is not None
    return profile


def load_profiles(directory: Path) -> list[Profile]:
    """Every profile in a folder (*.yaml, *.yml, by name); raises on the first problem."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ProfileError(str(directory), None, "the profiles folder does not exist; create it and put "
                           "one YAML file per team in it (see profiles/ in the Awareness repository)")
    profiles, errors = check_profiles([directory])
    if errors:
        raise errors[0]
    if not profiles:
        logger.warning("no profiles in %s: no bulletins will be made", directory)
    return profiles


def profile_files(paths: Sequence[Path]) -> list[Path]:
    """The files named, with a folder standing for its *.yaml and *.yml files."""
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files.extend(sorted(f for f in p.iterdir() if f.suffix in (".yaml", ".yml")
                                and f.is_file() and not f.name.startswith(".")))
        else:
            files.append(p)
    return files


def check_profiles(paths: Sequence[Path], sources: Sequence[Source] | None = None,
                   ) -> tuple[list[Profile], list[ProfileError]]:
    """Every valid profile and every problem in every file (folders mean their YAML files).

    With ``sources`` given, a profile's ``sources:`` entries are also checked
    against the known source ids and tags.
    """
    profiles: list[Profile] = []
    errors: list[ProfileError] = []
    owner_of: dict[str, Profile] = {}
    for path in profile_files(paths):
        profile, problems = _check_file(path)
        errors.extend(problems)
        if profile is None:
            continue
        if profile.id in owner_of:
            errors.append(ProfileError(str(path), _id_line(path), f"the profile id '{profile.id}' is also used by "
                                       f"{owner_of[profile.id].path}; give each profile its own id "
                                       "(set 'id:' or rename one of the files)"))
            continue
        if sources is not None:
            try:
                profile_sources(profile, list(sources))
            except ProfileError as e:
                errors.append(e)
                continue
        owner_of[profile.id] = profile
        profiles.append(profile)
    return profiles, errors


def profile_sources(profile: Profile, sources: list[Source]) -> list[Source]:
    """The sources a profile reads: those whose id or one of whose tags it names (all when it names none).

    An entry that is neither a source id nor a tag raises ProfileError (at
    its line in the profile file when the file can be read), because a typo
    here silently starves a bulletin.
    """
    if profile.sources is None:
        return list(sources)
    known = {s.id for s in sources} | {t for s in sources for t in s.tags}
    unknown = [entry for entry in profile.sources if entry not in known]
    if unknown:
        entry = unknown[0]
        line = _entry_line(profile.path, entry)
        more = f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""
        raise ProfileError(profile.path or profile.id, line,
                           f"sources: '{entry}' is neither a source id nor a tag in sources.yaml"
                           f"{yamlpos.suggest(entry, known)}{more}")
    wanted = set(profile.sources)
    return [s for s in sources if s.id in wanted or wanted.intersection(s.tags)]


# ------------------------------------------------------------- one file

def _check_file(path: Path) -> tuple[Profile | None, list[ProfileError]]:
    where = str(path)

    def err(line: int | None, problem: str) -> ProfileError:
        return ProfileError(where, line, problem)

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, [err(None, "there is no such profile file")]
    except UnicodeDecodeError as e:
        return None, [err(None, f"the file is not UTF-8 text ({e.reason}); save it as UTF-8")]
    except OSError as e:
        return None, [err(None, f"cannot read the file: {e.strerror}")]
    try:
        parsed = yamlpos.parse(text)
    except yamlpos.YamlSyntaxError as e:
        return None, [err(e.line, e.problem)]
    root, data = parsed.node, parsed.data
    if data is None:
        return None, [err(None, "the file is empty; a profile needs at least 'name:' and 'topics:'")]
    if not isinstance(data, dict) or not isinstance(root, MappingNode):
        return None, [err(1, "a profile is a set of settings (name:, schedule:, topics: …), not "
                          + ("a list" if isinstance(data, list) else yamlpos.shown(data)))]

    errors = [err(line, f"'{key}' is set twice (first on line {first}); keep one")
              for line, key, first in yamlpos.duplicate_keys(root)]
    data = dict(data)
    if "path" in data:
        errors.append(err(yamlpos.locate(root, ["path"], key=True), "unknown setting 'path' — the file's own "
                          "location is used; remove this line"))
        del data["path"]
    if "id" not in data:
        data["id"] = path.stem
        if not re.match(ID_PATTERN, path.stem):
            errors.append(err(1, f"the file name '{path.name}' is used as the profile id but ids must {_IDS}: "
                              f"rename it to '{_suggest_id(path.stem)}{path.suffix}' or add "
                              f"'id: {_suggest_id(path.stem)}'"))
            data["id"] = _suggest_id(path.stem)
    errors.extend(_pre_checks(root, data, err))
    data["path"] = where
    profile: Profile | None = None
    try:
        profile = Profile.model_validate(data)
    except ValidationError as e:
        for detail in e.errors():
            translated = _translate(detail, data, root)
            if translated is not None:
                errors.append(err(*translated))
    errors.sort(key=lambda e: e.line or 0)
    return (profile if not errors else None), errors


def _pre_checks(root: Node, data: dict[str, Any], err: Any) -> list[ProfileError]:
    """Problems pydantic would report one at a time, or in the wrong place."""
    errors = []
    schedule = data.get("schedule")
    if isinstance(schedule, str):
        tz = data.get("timezone", DEFAULT_ZONE)
        try:
            if profile_checks.never_fires(cron_trigger(schedule, tz if tz in time_zones() else "UTC")):
                errors.append(err(yamlpos.locate(root, ["schedule"]), f'schedule "{schedule}" never fires: no '
                                  "month has that day (e.g. 31 February); choose a day every month has"))
        except ValueError as e:
            errors.append(err(yamlpos.locate(root, ["schedule"]), str(e)))
    if data.get("sources") == []:
        errors.append(err(yamlpos.locate(root, ["sources"]), "'sources: []' selects no sources; remove the line "
                          "to read every source, or name source ids or tags"))
    subscribers = yamlpos.node_at(root, ["subscribers"])
    if isinstance(data.get("subscribers"), list) and isinstance(subscribers, SequenceNode):
        for address, node in zip(data["subscribers"], subscribers.value):
            if isinstance(address, str) and not _EMAIL.match(address):
                errors.append(err(yamlpos.line_of(node), f"subscribers: {yamlpos.shown(address)} is not an "
                                  "email address"))
    errors += profile_checks.header_problems(root, data, err) + profile_checks.term_problems(root, data, err)
    topics = yamlpos.node_at(root, ["topics"])
    if isinstance(data.get("topics"), list) and isinstance(topics, SequenceNode):
        first_line: dict[str, int] = {}
        for topic, node in zip(data["topics"], topics.value):
            if not isinstance(topic, dict) or not isinstance(topic.get("id"), str):
                continue
            line = yamlpos.locate(node, ["id"]) or yamlpos.line_of(node)
            if topic["id"] in first_line:
                errors.append(err(line, f"two topics have the id '{topic['id']}' (the other is on line "
                                  f"{first_line[topic['id']]}); give each topic its own id"))
            else:
                first_line[topic["id"]] = line
    return errors


def _translate(d: ErrorDetails, data: dict[str, Any], root: Node) -> tuple[int | None, str] | None:
    """(line, problem) for one pydantic error, or None when a pre-check already said it."""
    loc = list(d["loc"])
    kind, value = d["type"], d.get("input")
    line = yamlpos.locate(root, loc, key=kind == "extra_forbidden")
    prefix = ""
    if len(loc) >= 2 and loc[0] == "topics" and isinstance(loc[1], int):
        prefix = _topic_name(data, loc[1]) + ": "
    name = str(loc[-1]) if loc else ""
    got = f" (got {yamlpos.shown(value)})"

    if not loc and kind == "value_error" and "two topics have the id" in d["msg"]:
        return None                                   # said by _pre_checks, with lines
    if loc == ["subscribers"] and kind == "value_error":
        return None                                   # said by _pre_checks, per address
    if loc == ["topics"] and (kind in ("missing", "too_short") or value is None):
        return line, "the profile has no topics; add at least one under 'topics:'"
    if loc == ["topics"] and kind == "list_type":
        return line, "'topics' must be a list: start each topic with '- id:' on its own line"
    if len(loc) == 2 and loc[0] == "topics" and kind == "model_type":
        return line, (f"topic {loc[1] + 1} must be a set of settings (id:, title:, terms: …), "
                      f"not {yamlpos.shown(value)}")
    if len(loc) == 2 and loc[0] == "topics" and kind == "value_error":
        return line, str(d["ctx"]["error"]) if "ctx" in d else d["msg"]
    if loc and loc[0] == "place" and kind == "extra_forbidden":          # issue 4
        return line, f"unknown place setting '{name}'; a place has system, places, neighbourhoods and bodies"
    if loc and loc[0] == "vocabulary" and kind in ("list_type", "string_type"):
        groups = data.get("vocabulary") if isinstance(data.get("vocabulary"), list) else []
        first_bad = next((i for i, g in enumerate(groups) if not isinstance(g, list)), None)
        if len(loc) >= 2 and first_bad is not None and loc[1] != first_bad:
            return None                                   # one message for the whole list
        return line, ("'vocabulary' is a list of groups of words that mean the same, one group a line: "
                      "- [A&E, emergency department]")
    if kind == "extra_forbidden":
        known = TOPIC_SETTINGS if prefix else PROFILE_SETTINGS
        hint = yamlpos.suggest(name, known) or f"; known settings are {', '.join(known)}"
        return line, f"{prefix}unknown setting '{name}'{hint}"
    if kind == "missing":
        if prefix and name == "id":
            return line, f"topic {loc[1] + 1} has no 'id'; add a short one such as 'id: falls'"
        if prefix and name == "title":
            return line, f"{prefix}no 'title'; add the heading this topic should have in the bulletin"
        if name == "name":
            return line, "the profile has no 'name'; add the team's name as bulletins should show it"
        return line, f"{prefix}'{name}' is missing"
    if name == "id" and kind == "string_pattern_mismatch":
        what = "topic id" if prefix else "profile id"
        return line, f"{what} {yamlpos.shown(value)} must {_IDS} — try '{_suggest_id(str(value))}'"
    if name == "threshold":
        return line, f"{prefix}threshold must be a number between 0 and 1{got}"
    if name == "lookback_days":
        return line, f"lookback_days must be a whole number of days from 1 to 366{got}"
    if name == "max_items":
        return line, f"max_items must be a whole number from 1 to 1000{got}"
    if name == "timezone" and kind == "value_error":
        hint = yamlpos.suggest(str(value), time_zones()) or " (e.g. Europe/London)"
        return line, f"unknown time zone {yamlpos.shown(value)}{hint}"
    if name in _LIST_FIELDS and kind == "list_type":
        return line, (f"{prefix}'{name}' must be a list: write {name}: [first, second] or put each on its "
                      "own line starting with '- '")
    if isinstance(loc[-1] if loc else None, int) and kind == "string_type":
        field = str(loc[-2])
        return line, f"{prefix}each entry of '{field}' must be text{got}; put it in quotes"
    if kind == "string_type":
        return line, f"{prefix}'{name}' must be text{got}" + ("; put it in quotes" if value is not None else "")
    message = str(d["ctx"]["error"]) if kind == "value_error" and "ctx" in d else d["msg"]
    return line, f"{prefix}{name}: {message}{got}" if name else f"{prefix}{message}"


def _topic_name(data: dict[str, Any], index: int) -> str:
    topics = data.get("topics")
    topic = topics[index] if isinstance(topics, list) and index < len(topics) else None
    if isinstance(topic, dict) and isinstance(topic.get("id"), str) and topic["id"]:
        return f"topic '{topic['id']}'"
    return f"topic {index + 1}"


def _suggest_id(text: str) -> str:
    return yamlpos.slug(text, limit=60).replace("--", "-") or "profile"


def _reparse(path: str) -> Node | None:
    try:
        return yamlpos.parse(Path(path).read_text(encoding="utf-8")).node
    except (OSError, UnicodeDecodeError, yamlpos.YamlSyntaxError):
        return None


def _id_line(path: Path) -> int | None:
    root = _reparse(str(path))
    return yamlpos.locate(root, ["id"]) if yamlpos.child(root, "id") else 1


def _entry_line(path: str, entry: str) -> int | None:
    if not path:
        return None
    node = yamlpos.node_at(_reparse(path), ["sources"])
    if isinstance(node, SequenceNode):
        for item in node.value:
            if getattr(item, "value", None) == entry:
                return yamlpos.line_of(item)
    return yamlpos.line_of(node) if node is not None else None
