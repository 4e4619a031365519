"""How fast the matcher scores: 20,000 items against 1,000 topics (prints figures; not a test).

    .venv/bin/python bench/bench_classify.py
"""

from __future__ import annotations

import time
import resource

import numpy as np

from awareness.match.classify import Matcher
from awareness.core.models import Profile, Topic


def main() -> None:
    rng = np.random.default_rng(7)
    vocabulary = [f"{a}{b}" for a in ("care", "ward", "bed", "drug", "staff", "risk", "test", "scan")
                  for b in ("ing", "er", "s", "ed", "ness", "ism", "ant", "ive", "ory", "al")]
    vocabulary += ["frailty", "falls", "stillbirth", "dementia", "midwives", "fracture", "older", "people"]

    def text(n: int) -> str:
        return " ".join(rng.choice(vocabulary, n))

    profiles = [Profile(id=f"p{p}", name="P", topics=[
        Topic(id=f"t{t}", title=text(3), description=text(20), terms=[text(1), text(2), text(1)],
              exclude=[text(2)]) for t in range(20)]) for p in range(50)]
    texts = [(text(10), text(40)) for _ in range(20_000)]
    started = time.perf_counter()
    matcher = Matcher(profiles, corpus=[f"{a}. {b}" for a, b in texts])
    fitted = time.perf_counter()
    scores = matcher.score_texts(texts)
    done = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # tracemalloc would slow the run tenfold
    print(f"fit on {len(texts):,} texts and {len(matcher.topic_keys)} topics: {fitted - started:.2f} s")
    print(f"score {scores.shape[0]:,} x {scores.shape[1]}: {done - fitted:.2f} s "
          f"({scores.shape[0] / (done - fitted):,.0f} items/s)")
    print(f"peak resident memory: {peak / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
