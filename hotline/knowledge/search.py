"""The agents' full-text search over the in-memory replica: Danish stemming, synonyms, typo tolerance, and the
caller's kommune before the general articles. Never a database query.

The index is compact because every app process holds it for ~30,000 articles: each article gets a number,
and each term one ``array`` of packed integers (article number, scope number, weight level). A search walks
the postings of its few terms and keeps those of the caller's kommune, the general articles and the surge
banners. A changed article gets a new number; the old one is dead until the index is compacted.

* Stemming: the Snowball Danish stemmer ("flytter" and "flytning" meet at "flyt"), cached per word.
* Synonyms: each group (``SYNONYMS``) becomes one extra term, added wherever any of its words or phrases
  occurs, in articles and in queries alike ("stort affald" finds "storskrald").
* Typos: a query word the index does not know is matched to known words one edit away (a deletion
  neighbourhood built as words are indexed: "storskald" finds "storskrald").
"""

from __future__ import annotations

import html
import math
import re
from array import array
from collections import Counter, defaultdict
from collections.abc import Iterable

import snowballstemmer

from kb_sync.subjects import FEDERATION, GENERAL, ArticleRecord

_WORD = re.compile(r"[0-9a-zæøåéü]+")
_TAG = re.compile(r"<[^>]+>")

# Words that carry no meaning in a search on their own.
_STOPWORDS_TEXT = (
    "og i at det en den til er som på de med han af for ikke der var mig sig men et har om vi min havde ham hun "
    "nu over da fra du ud sin dem os op man hans hvor eller hvad skal selv her alle vil blev kunne ind når være "
    "dog noget ville jo deres efter ned skulle denne end dette mit også under have dig anden hende mine alt "
    "meget sit sine vor mod disse hvis din nogle hos blive mange ad bliver hendes været thi jer sådan kan "
    "the a an of to and or in on for is are be"
)
_STOPWORDS = frozenset(_STOPWORDS_TEXT.split())

# Words and phrases citizens and agents use for the same thing. Each group is one concept.
SYNONYMS: tuple[tuple[str, ...], ...] = (
    ("storskrald", "stort affald", "storaffald", "bulky waste"),
    ("pas", "rejsepas", "passet", "passport"),
    ("sundhedskort", "sygesikring", "sygesikringsbevis", "gule kort", "det gule kort", "health card"),
    ("flytning", "flytte", "adresseændring", "ny adresse", "moving"),
    ("mitid", "nemid", "mit id"),
    ("digital post", "e-boks", "eboks", "mit.dk", "digitalpost"),
    ("nemkonto", "nem konto", "udbetalingskonto"),
    ("byggetilladelse", "byggeansøgning", "byggesag", "building permit"),
    ("valg", "afstemning", "stemme", "brevstemme", "valgkort", "election"),
    ("parkering", "p-tilladelse", "beboerlicens", "parkeringslicens", "parking"),
    ("kørekort", "koerekort", "driving licence"),
    ("affald", "skrald", "renovation", "dagrenovation"),
)

TITLE_WEIGHT = 3.0
_SNIPPET = 160


class _StemCache(dict[str, str]):
    """Word → stem; a miss runs the Snowball stemmer once. A dict subscript is far cheaper than a call per word,
    and indexing 30,000 articles looks up millions of words."""

    def __init__(self) -> None:
        super().__init__()
        self._stemmer = snowballstemmer.stemmer("danish")

    def __missing__(self, word: str) -> str:
        stemmed: str = self._stemmer.stemWord(word)
        if len(self) < 500_000:
            self[word] = stemmed
        return stemmed


_stems = _StemCache()


def stem(word: str) -> str:
    return _stems[word]


def words(text: str) -> list[str]:
    return _WORD.findall(text.casefold())


def _deletions(word: str) -> set[str]:
    return {word[:index] + word[index + 1 :] for index in range(len(word))}


class _Synonyms:
    """Maps stems and stem phrases to the concept term of their synonym group."""

    def __init__(self, groups: Iterable[Iterable[str]]) -> None:
        self.single: dict[str, str] = {}
        self.phrases: dict[str, list[tuple[tuple[str, ...], str]]] = defaultdict(list)  # by first stem
        for group in groups:
            members = list(group)
            concept = "~" + stem(words(members[0])[0])
            for member in members:
                stems = tuple(stem(word) for word in words(member) if word not in _STOPWORDS)
                if len(stems) == 1:
                    self.single[stems[0]] = concept
                elif stems:
                    self.phrases[stems[0]].append((stems, concept))

    def matches(self, stems: list[str]) -> list[tuple[int, int, str]]:
        """(start, end, concept) of every phrase in ``stems``."""
        found: list[tuple[int, int, str]] = []
        phrases = self.phrases
        for start, first in enumerate(stems):
            for phrase, concept in phrases.get(first, ()):
                end = start + len(phrase)
                if tuple(stems[start:end]) == phrase:
                    found.append((start, end, concept))
        return found

    def concepts(self, stems: list[str]) -> set[str]:
        present = set(stems)
        found = {self.single[s] for s in present & self.single.keys()}
        if present & self.phrases.keys():
            found.update(concept for _, _, concept in self.matches(stems))
        return found


_synonyms = _Synonyms(SYNONYMS)


def terms(text: str) -> list[str]:
    """Stems of ``text`` without stop words, plus the synonym concepts it mentions."""
    cache = _stems
    stems = [cache[word] for word in _WORD.findall(text.casefold()) if word not in _STOPWORDS]
    return stems + sorted(_synonyms.concepts(stems))


_LEVEL_WEIGHT = (0.0, 1.0, 1.4, 2.5)  # body once, body repeatedly, title or topic
_COMMON = 0.2  # a term in more than this share of articles says little; left out when others remain


class SearchIndex:
    """An inverted index of article records, updated one record at a time as the replica applies changes."""

    def __init__(self) -> None:
        self._docs: list[ArticleRecord | None] = []  # article number -> record (None once replaced)
        self._number: dict[str, int] = {}  # article id -> its current number
        self._postings: dict[str, array[int]] = {}  # term -> (number << 10 | scope number << 2 | level)
        self._scope_number: dict[str, int] = {}
        self._near: dict[str, list[str]] = defaultdict(list)  # deletion variant -> known terms
        self._dead = 0

    def __len__(self) -> int:
        return len(self._number)

    def _scope(self, scope: str) -> int:
        number = self._scope_number.get(scope)
        if number is None:
            number = self._scope_number[scope] = len(self._scope_number)
            if number >= 256:
                raise ValueError("the search index has room for 256 scopes")
        return number

    def add(self, record: ArticleRecord) -> None:
        self.remove(record.id)
        number = len(self._docs)
        self._docs.append(record)
        self._number[record.id] = number
        base = number << 10 | self._scope(record.scope) << 2
        levels = {term: 2 if count > 1 else 1 for term, count in Counter(terms(record.body)).items()}
        levels.update(dict.fromkeys(terms(record.title), 3))
        levels[stem(record.topic.replace("-", " "))] = 3
        known = self._postings.get
        for term, level in levels.items():
            entries = known(term)
            if entries is None:
                entries = self._postings[term] = array("q")
                self._learn(term)
            entries.append(base | level)
        if self._dead > 2000 and self._dead > len(self._number) // 2:
            self._compact()

    def _learn(self, term: str) -> None:
        self._near[term].append(term)
        if len(term) >= 4 and not term.startswith("~"):
            for variant in _deletions(term):
                self._near[variant].append(term)

    def remove(self, article_id: str) -> None:
        number = self._number.pop(article_id, None)
        if number is not None:
            self._docs[number] = None
            self._dead += 1

    def _compact(self) -> None:
        live = [record for record in self._docs if record is not None]
        self._docs, self._number, self._postings, self._dead = [], {}, {}, 0
        for record in live:
            self.add(record)

    def _expand(self, query: str) -> list[set[str]]:
        """One set of alternatives per query word: its stem, its synonym concept, and known words one edit away."""
        stems = [stem(word) for word in words(query) if word not in _STOPWORDS]
        alternatives: list[set[str]] = []
        for term in stems:
            options = {term}
            concept = _synonyms.single.get(term)
            if concept:
                options.add(concept)
            if term not in self._postings and len(term) >= 4:
                candidates = set(self._near.get(term, ()))
                for variant in _deletions(term):
                    candidates.update(self._near.get(variant, ()))
                options.update(candidates)
            alternatives.append(options)
        # A phrase ("stort affald") satisfies each of its words through its concept.
        for start, end, concept in _synonyms.matches(stems):
            for options in alternatives[start:end]:
                options.add(concept)
        return alternatives

    def search(
        self,
        query: str,
        scopes: tuple[str, ...],
        *,
        limit: int = 20,
        hidden: frozenset[str] = frozenset(),
    ) -> list[tuple[ArticleRecord, float]]:
        """Articles of ``scopes`` matching ``query``, best first, the first scope's before the others. ``hidden``
        are article ids not to show (general articles the kommune has replaced)."""
        alternatives = [options for options in self._expand(query) if any(t in self._postings for t in options)]
        if not alternatives:
            return []
        total = max(1, len(self._number))
        frequency = [sum(len(self._postings.get(term, ())) for term in options) for options in alternatives]
        if len(alternatives) > 1 and min(frequency) <= _COMMON * total:
            alternatives = [o for o, f in zip(alternatives, frequency, strict=True) if f <= _COMMON * total]
        wanted = {self._scope_number[scope] for scope in scopes if scope in self._scope_number}
        docs = self._docs
        scores: dict[int, float] = defaultdict(float)
        matched: dict[int, int] = defaultdict(int)
        for options in alternatives:
            best: dict[int, float] = {}
            for term in options:
                entries = self._postings.get(term)
                if not entries:
                    continue
                idf = math.log(1 + total / len(entries))
                for packed in entries:
                    if (packed >> 2) & 255 not in wanted:
                        continue
                    number = packed >> 10
                    score = _LEVEL_WEIGHT[packed & 3] * idf
                    if score > best.get(number, 0.0) and docs[number] is not None:
                        best[number] = score
            for number, score in best.items():
                scores[number] += score
                matched[number] += 1
        rank = {self._scope_number[scope]: index for index, scope in enumerate(scopes) if scope in self._scope_number}
        found = [
            (number, record) for number in scores if (record := docs[number]) is not None and record.id not in hidden
        ]
        # Every query word should match; articles missing one fall behind those that match all.
        found.sort(
            key=lambda item: (
                -matched[item[0]],
                rank.get(self._scope_number[item[1].scope], len(rank)),
                -scores[item[0]],
                item[1].title,
            )
        )
        return [(record, round(scores[number], 4)) for number, record in found[:limit]]


def scopes_for(kommune: str | None) -> tuple[str, ...]:
    return (kommune, GENERAL, FEDERATION) if kommune else (GENERAL, FEDERATION)


def snippet(record: ArticleRecord, query: str) -> str:
    """A short plain-text excerpt around the first query word found in the body."""
    text = " ".join(html.unescape(_TAG.sub(" ", record.body_html)).split())
    lowered = text.casefold()
    position = min((p for word in words(query) if (p := lowered.find(word[:5])) >= 0), default=0)
    start = max(0, position - 40)
    excerpt = text[start : start + _SNIPPET]
    return ("…" if start else "") + excerpt + ("…" if start + _SNIPPET < len(text) else "")
