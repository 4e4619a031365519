"""Local first: does an item name the team's footprint (its system, places, neighbourhoods, bodies)?

Care is planned by place, so a Gateshead team wants Gateshead's items at the top of
each heading.  Names are matched as whole phrases on the same folded words the
matcher uses ("Sunderland's" finds "Sunderland"), never as substrings ("Hull" is
not found in "Solihull").
"""

from __future__ import annotations

from collections.abc import Iterable

from ..core.models import Place, Profile
from .textnorm import hit_key, segments, term_key


class PlaceFinder:
    """Which of a profile's place names an item mentions."""

    def __init__(self, place: Place | None) -> None:
        self.names: dict[tuple[str, ...], str] = {}
        if place is None:
            return
        for name in [place.system, *place.places, *place.neighbourhoods, *place.bodies]:
            key = term_key(name) if name and name.strip() else ()
            if key:
                self.names.setdefault(key, name.strip())
        self._lengths: dict[str, set[int]] = {}
        for key in self.names:
            self._lengths.setdefault(key[0], set()).add(len(key))

    def __bool__(self) -> bool:
        return bool(self.names)

    def mentions(self, *texts: str) -> list[str]:
        """The place names found in these texts, as the profile writes them, first found first."""
        if not self.names:
            return []
        found: list[str] = []
        for text in texts:
            for seg in segments(text or ""):
                words = [hit_key(word, key) for word, key in seg]
                for i, word in enumerate(words):
                    for n in sorted(self._lengths.get(word, ()), reverse=True):   # longest name first
                        name = self.names.get(tuple(words[i:i + n]))
                        if name and name not in found:
                            found.append(name)
        return found


def local_finders(profiles: Iterable[Profile]) -> dict[str, PlaceFinder]:
    """A finder per profile that names a footprint."""
    return {p.id: finder for p in profiles if (finder := PlaceFinder(p.place))}
