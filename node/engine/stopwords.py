"""Predefined stopword lists of text indexes, by Qdrant's language names.

The words are the ones Qdrant's text index drops for that language (Qdrant, Apache-2.0, which
takes them from the NLTK stopwords corpus); matching them exactly is what makes a filter here
match the same points as Qdrant. Languages Qdrant knows but Flotilla has no list for are
refused when an index is created (see LANGUAGES and node/model/payload_index.py).
"""

from __future__ import annotations

_ENGLISH = """
i me my myself we our ours ourselves you you're you've you'll you'd your yours yourself
yourselves he him his himself she she's her hers herself it it's its itself they them their
theirs themselves what which who whom this that that'll these those am is are was were be been
being have has had having do does did doing a an the and but if or because as until while of
at by for with about against between into through during before after above below to from up
down in out on off over under again further then once here there when where why how all any
both each few more most other some such no nor not only own same so than too very s t can will
just don don't should should've now d ll m o re ve y ain aren aren't couldn couldn't didn
didn't doesn doesn't hadn hadn't hasn hasn't haven haven't isn isn't ma mightn mightn't mustn
mustn't needn needn't shan shan't shouldn shouldn't wasn wasn't weren weren't won won't wouldn
wouldn't
"""

_LISTS: dict[str, frozenset[str]] = {
    "english": frozenset(_ENGLISH.split()),
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
