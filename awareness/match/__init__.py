"""The matcher: which gathered items belong under which topics, and why.

Split by job: ``terms`` (finding a librarian's terms, and the keyword references),
``vectors`` (topic vectors and their calibration), ``scoring`` (the Matcher),
``learning`` (judgements and pseudo-relevance feedback), ``explain`` (reasons).
"""

from .explain import GENERIC_WORDS, MAX_REASONS
from .learning import Example
from .scoring import BODY_HIT, DEFAULT_THRESHOLD, TITLE_HIT, Matcher
from .terms import keyword_baseline, stemmed_baseline

__all__ = ["BODY_HIT", "DEFAULT_THRESHOLD", "GENERIC_WORDS", "MAX_REASONS", "TITLE_HIT", "Example",
           "Matcher", "keyword_baseline", "stemmed_baseline"]
