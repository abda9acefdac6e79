"""Predefined stopword lists of text indexes, by Qdrant's language names.

The words (stopword_lists.py) are the ones Qdrant's text index drops for that language
(Qdrant, Apache-2.0, which takes them from the NLTK stopwords corpus): the same words are what
make a filter here match the same points as Qdrant. Languages Qdrant knows but Flotilla has no
list for are refused when an index is created (see LANGUAGES and node/model/payload_index.py).
"""

from __future__ import annotations

from node.engine.stopword_lists import WORDS

_LISTS: dict[str, frozenset[str]] = {
    language: frozenset(words.split()) for language, words in WORDS.items()
}

# Every language Qdrant 1.19 names for stopwords (its `Language` schema).
QDRANT_LANGUAGES = (
    "arabic", "azerbaijani", "basque", "bengali", "catalan", "chinese", "danish", "dutch",
    "english", "finnish", "french", "german", "greek", "hebrew", "hinglish", "hungarian",
    "indonesian", "italian", "japanese", "kazakh", "nepali", "norwegian", "portuguese",
    "romanian", "russian", "slovene", "spanish", "swedish", "tajik", "turkish",
)

# The languages whose list Flotilla has.
LANGUAGES = tuple(sorted(_LISTS))


def stopword_set(language: str) -> frozenset[str]:
    """The stopwords of `language`; empty for a language without a list."""
    return _LISTS.get(language, frozenset())
