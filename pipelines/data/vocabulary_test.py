"""The generator's fixed word lists."""

from __future__ import annotations

from pipelines.data import vocabulary as vocab


def test_city_names_are_fixed() -> None:
    assert vocab._build_city_names() == vocab.CITIES
    assert vocab.CITIES[0] == "Aaronburgh"
    assert len(vocab.CITIES) == len(set(vocab.CITIES)) == vocab.N_CITIES


def test_word_lists_have_no_repeats() -> None:
    for words in (vocab.COUNTRIES, vocab.TOPIC_ADJECTIVES, vocab.TOPIC_BUZZWORDS,
                  vocab.TOPIC_NOUNS):
        assert len(words) == len(set(words)) and all(w == w.strip() and w for w in words)
