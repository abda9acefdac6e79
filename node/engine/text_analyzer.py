"""How a full-text condition sees a string: split into tokens, then each token folded to ASCII,
lower-cased, dropped when a stopword, stemmed, and dropped when too short or too long, in that
order, as Qdrant's text index does. The params are those of the field's `text` payload index;
a field without one uses the plain word tokenizer with lower-casing (Qdrant's default).

Documents and queries go through the same steps, except with the `prefix` tokenizer: a stored
word is indexed as all its prefixes, and a query word is one prefix (no stopwords removed, so
a partly typed word still matches)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from functools import lru_cache

import snowballstemmer

from node.engine.ascii_folding import folding_table
from node.engine.stopwords import stopword_set

# Qdrant's word boundaries: anything that is not a letter or digit (an underscore included).
_WORD = re.compile(r"[^\W_]+")
# Unicode's White_Space characters (str.split() also splits on U+001C..U+001F, which are not).
_WHITESPACE = re.compile("[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f"
                         "\u205f\u3000]+")

# Lucene's ASCII folding (codepoint -> replacement); characters without one stay as they are.
_ASCII_FOLDING = folding_table()

# Snowball algorithms by Qdrant's language names. Dutch is the original Porter-based one, the
# algorithm Qdrant's stemmer library implements (snowballstemmer 3 made a new one `dutch`).
_SNOWBALL_ALGORITHMS = {"dutch": "dutch_porter"}

# Stemming runs on every token of every document a filter reads; words repeat a lot.
_STEM_CACHE_SIZE = 100_000

TOKENIZERS = ("word", "whitespace", "prefix", "multilingual")


class TextAnalyzer:
    """The tokenizer and token steps of one text index (or of a field without one)."""

    def __init__(
        self,
        tokenizer: str = "word",
        lowercase: bool = True,
        ascii_folding: bool = False,
        stopwords: frozenset[str] = frozenset(),
        stem: Callable[[str], str] | None = None,
        min_token_len: int | None = None,
        max_token_len: int | None = None,
    ) -> None:
        self.tokenizer = tokenizer
        self._lowercase = lowercase
        self._ascii_folding = ascii_folding
        self._stopwords = stopwords
        self._stem = stem
        self._min_len = min_token_len
        self._max_len = max_token_len

    # ---- the two entry points

    def document_tokens(self, text: str) -> list[str]:
        """The tokens a stored string is indexed under, in order (repeats kept)."""
        if self.tokenizer == "prefix":
            return list(self._prefixes(text))
        return list(self._whole_tokens(text))

    def query_tokens(self, text: str) -> list[str]:
        """The tokens a `text` or `text_any` query looks for."""
        if self.tokenizer == "prefix":
            return list(self._query_prefixes(text))
        return list(self._whole_tokens(text))

    # ---- tokenizers

    def _pieces(self, text: str) -> list[str]:
        if self.tokenizer == "whitespace":
            return _WHITESPACE.split(text)
        pieces = _WORD.findall(text)
        if self.tokenizer == "multilingual":
            # Qdrant's multilingual segmenter lower-cases every token itself (whatever
            # `lowercase` says) and skips tokens without a letter (numbers).
            pieces = [p.lower() for p in pieces if any(c.isalpha() for c in p)]
        return pieces

    def _whole_tokens(self, text: str) -> Iterator[str]:
        for piece in self._pieces(text):
            token = self._process(piece, check_max_len=True)
            if token is not None:
                yield token

    def _prefixes(self, text: str) -> Iterator[str]:
        shortest = 1 if self._min_len is None else self._min_len
        for piece in self._pieces(text):
            word = self._process(piece, check_max_len=False)
            if word is None:
                continue
            # Prefixes of `shortest` up to `max_token_len` characters; a word no longer than
            # that is indexed whole as its last prefix.
            longest = len(word) if self._max_len is None else self._max_len
            for size in range(shortest, longest + 1):
                if size >= len(word):
                    yield word
                    break
                yield word[:size]

    def _query_prefixes(self, text: str) -> Iterator[str]:
        for piece in self._pieces(text):
            word = self._normalize(piece)
            if self._stem is not None:
                word = self._stem(word)
            if self._min_len is not None and len(word) < self._min_len:
                continue  # no indexed prefix is that short
            yield word if self._max_len is None else word[: self._max_len]

    # ---- token steps

    def _normalize(self, token: str) -> str:
        if self._ascii_folding and not token.isascii():
            token = token.translate(_ASCII_FOLDING)
        return token.lower() if self._lowercase else token

    def _process(self, piece: str, check_max_len: bool) -> str | None:
        if not piece:
            return None
        token = self._normalize(piece)
        if self._is_stopword(token):
            return None
        if self._stem is not None:
            token = self._stem(token)
        if self._min_len is not None and len(token) < self._min_len:
            return None
        if check_max_len and self._max_len is not None and len(token) > self._max_len:
            return None
        return token

    def _is_stopword(self, token: str) -> bool:
        if not self._stopwords:
            return False
        return (token.lower() if self._lowercase else token) in self._stopwords


# The analyzer of a field without a text index.
DEFAULT_ANALYZER = TextAnalyzer()


def text_analyzers(schemas: Mapping[str, dict | str]) -> dict[str, TextAnalyzer]:
    """The analyzer of each `text`-indexed field among payload index schemas."""
    return {
        field: analyzer_for(schema if isinstance(schema, dict) else {"type": schema})
        for field, schema in schemas.items()
        if (schema if isinstance(schema, str) else schema.get("type")) == "text"
    }


def analyzer_for(schema: dict) -> TextAnalyzer:
    """The analyzer of a `text` index schema as the metadata keeps it (validated when the
    index was created; anything unknown here is read as its default)."""
    return _analyzer_of(json.dumps(schema, sort_keys=True))


@lru_cache(maxsize=256)
def _analyzer_of(schema_json: str) -> TextAnalyzer:
    schema = json.loads(schema_json)
    lowercase = schema.get("lowercase")
    lowercase = True if lowercase is None else bool(lowercase)
    tokenizer = schema.get("tokenizer")
    return TextAnalyzer(
        tokenizer=tokenizer if tokenizer in TOKENIZERS else "word",
        lowercase=lowercase,
        ascii_folding=bool(schema.get("ascii_folding")),
        stopwords=_stopwords_of(schema.get("stopwords"), lowercase),
        stem=_stemmer_of(schema.get("stemmer")),
        min_token_len=_length(schema.get("min_token_len")),
        max_token_len=_length(schema.get("max_token_len")),
    )


def _length(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _stopwords_of(option: object, lowercase: bool) -> frozenset[str]:
    """A language name, or {"languages": [...], "custom": [...]}."""
    if isinstance(option, str):
        languages, custom = [option], []
    elif isinstance(option, dict):
        languages, custom = option.get("languages") or [], option.get("custom") or []
    else:
        return frozenset()
    words: set[str] = set()
    for language in languages:
        words.update(stopword_set(language))
    words.update(word for word in custom if isinstance(word, str))
    return frozenset(w.lower() for w in words) if lowercase else frozenset(words)


def _stemmer_of(option: object) -> Callable[[str], str] | None:
    if not isinstance(option, dict) or option.get("type") != "snowball":
        return None
    language = option.get("language")
    algorithm = _SNOWBALL_ALGORITHMS.get(language, language)
    if algorithm not in snowballstemmer.algorithms():
        return None
    return lru_cache(maxsize=_STEM_CACHE_SIZE)(snowballstemmer.stemmer(algorithm).stemWord)
