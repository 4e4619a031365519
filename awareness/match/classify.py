"""The matcher's old address, kept so existing imports keep working.

The code lives in ``awareness.match`` (terms, vectors, scoring, learning, explain).
"""

from . import BODY_HIT, DEFAULT_THRESHOLD, GENERIC_WORDS, MAX_REASONS, TITLE_HIT, Example, Matcher, keyword_baseline, stemmed_baseline

__all__ = ["BODY_HIT", "DEFAULT_THRESHOLD", "GENERIC_WORDS", "MAX_REASONS", "TITLE_HIT", "Example",
           "Matcher", "keyword_baseline", "stemmed_baseline"]
