"""The fixed word lists the synthetic generator draws from: countries, city names, ad topics.

The words are data (``vocabulary.json`` beside this module); the city names are made from them
by arithmetic, no randomness, so every run and every seed uses the same vocabulary.
"""

from __future__ import annotations

import json
from pathlib import Path

_WORDS: dict[str, list[str]] = json.loads(
    Path(__file__).with_name("vocabulary.json").read_text(encoding="utf-8"))

COUNTRIES: tuple[str, ...] = tuple(_WORDS["countries"])
TOPIC_ADJECTIVES: tuple[str, ...] = tuple(_WORDS["topic_adjectives"])
TOPIC_BUZZWORDS: tuple[str, ...] = tuple(_WORDS["topic_buzzwords"])
TOPIC_NOUNS: tuple[str, ...] = tuple(_WORDS["topic_nouns"])
_CITY_STEMS: tuple[str, ...] = tuple(_WORDS["city_stems"])
_CITY_PREFIXES: tuple[str, ...] = tuple(_WORDS["city_prefixes"])
_CITY_SUFFIXES: tuple[str, ...] = tuple(_WORDS["city_suffixes"])
N_CITIES = 970


def _build_city_names() -> tuple[str, ...]:
    """The fixed list of N_CITIES distinct synthetic city names (pure arithmetic, no RNG)."""
    combos = [
        (p, s) for p in _CITY_PREFIXES for s in _CITY_SUFFIXES if p or s
    ]  # every combo has a prefix or a suffix
    names: list[str] = []
    seen: set[str] = set()
    k = 0
    while len(names) < N_CITIES:
        prefix, suffix = combos[(k * 31) % len(combos)]
        name = f"{prefix}{_CITY_STEMS[k % len(_CITY_STEMS)]}{suffix}"
        if name not in seen:
            seen.add(name)
            names.append(name)
        k += 1
    return tuple(names)


CITIES: tuple[str, ...] = _build_city_names()


def _build_real_like_city_names() -> tuple[str, ...]:
    """Every distinct prefix + stem + suffix name (~20k): near-unique in 1,000 draws, as real
    data's cities are (~970 distinct in 1,000 rows). Fixed order, no RNG."""
    names = dict.fromkeys(
        f"{prefix}{stem}{suffix}"
        for stem in _CITY_STEMS for prefix in _CITY_PREFIXES for suffix in _CITY_SUFFIXES)
    return tuple(names)


REAL_LIKE_CITIES: tuple[str, ...] = _build_real_like_city_names()
