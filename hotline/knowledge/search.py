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
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable
from itertools import filterfalse, repeat

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


_stem_of = _stems.__getitem__  # dict lookup; a miss runs the stemmer (``__missing__``)
_is_stopword = _STOPWORDS.__contains__


def _stems_of(text: str) -> list[str]:
    # map/filterfalse keep the per-word loop in C: indexing 30,000 articles stems millions of words.
    return list(map(_stem_of, filterfalse(_is_stopword, _WORD.findall(text.casefold()))))


def terms(text: str) -> list[str]:
    """Stems of ``text`` without stop words, plus the synonym concepts it mentions."""
    stems = _stems_of(text)
    return stems + sorted(_synonyms.concepts(stems))


def _levels(record: ArticleRecord) -> tuple[set[str], set[str], set[str]]:
    """The terms of an article by weight level: once in the body, repeatedly in the body, in title or topic.
    Set operations keep the per-term work in C."""
    stems = _stems_of(record.body)
    counts = Counter(stems)
    once = set(counts)
    repeated = set() if len(counts) == len(stems) else {term for term, count in counts.items() if count > 1}
    once -= repeated
    once.update(_synonyms.concepts(stems))
    heading = set(terms(record.title))
    heading.add(stem(record.topic.replace("-", " ")))
    once -= heading
    repeated -= heading
    return once, repeated, heading


class Vocabulary:
    """Every term seen and its deletion neighbourhood ("storskald" is one deletion away from "storskrald"):
    the typo matching of one index, or shared by the per-scope indexes of a :class:`ScopedSearch`."""

    def __init__(self) -> None:
        self.near: dict[str, list[str]] = defaultdict(list)  # deletion variant -> known terms
        self._known: set[str] = set()

    def learn(self, term: str) -> None:
        if term in self._known:
            return
        self._known.add(term)
        self.near[term].append(term)
        if len(term) >= 4 and not term.startswith("~"):
            for variant in _deletions(term):
                self.near[variant].append(term)


class _Postings(dict[str, "array[int]"]):
    """Term -> postings; a new term gets an empty array and is learnt for typo matching on first sight."""

    def __init__(self, learn: Callable[[str], None]) -> None:
        super().__init__()
        self._learn = learn

    def __missing__(self, term: str) -> array[int]:
        entries = self[term] = array("q")
        self._learn(term)
        return entries


_LEVEL_WEIGHT = (0.0, 1.0, 1.4, 2.5)  # body once, body repeatedly, title or topic
_COMMON = 0.2  # a term in more than this share of articles says little; left out when others remain


class SearchIndex:
    """An inverted index of article records, updated one record at a time as the replica applies changes."""

    def __init__(self, vocabulary: Vocabulary | None = None) -> None:
        self._docs: list[ArticleRecord | None] = []  # article number -> record (None once replaced)
        self._number: dict[str, int] = {}  # article id -> its current number
        self._vocabulary = vocabulary if vocabulary is not None else Vocabulary()
        self._postings: _Postings = _Postings(
            self._vocabulary.learn
        )  # term -> (number << 10 | scope number << 2 | level)
        self._scope_number: dict[str, int] = {}
        self._near = self._vocabulary.near
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
        postings = self._postings
        for level, group in enumerate(_levels(record), start=1):
            if group:
                # One C-level loop per level: fetch (or create) each term's postings and append the entry.
                deque(map(array.append, map(postings.__getitem__, group), repeat(base | level)), maxlen=0)
        if self._dead > 2000 and self._dead > len(self._number) // 2:
            self._compact()

    def remove(self, article_id: str) -> None:
        number = self._number.pop(article_id, None)
        if number is not None:
            self._docs[number] = None
            self._dead += 1

    def _compact(self) -> None:
        live = [record for record in self._docs if record is not None]
        self._docs, self._number, self._postings, self._dead = [], {}, _Postings(self._vocabulary.learn), 0
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
        rank = {scope: index for index, scope in enumerate(scopes)}
        found = self.matches(query, scopes, hidden)
        return _best(((record, score, matched, rank[record.scope]) for record, score, matched in found), limit)

    def matches(
        self, query: str, scopes: Iterable[str], hidden: frozenset[str] = frozenset()
    ) -> list[tuple[ArticleRecord, float, int]]:
        """Every article of ``scopes`` matching ``query``, unordered: (record, score, query words matched)."""
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
        return [
            (record, scores[number], matched[number])
            for number in scores
            if (record := docs[number]) is not None and record.id not in hidden
        ]


def _best(found: Iterable[tuple[ArticleRecord, float, int, int]], limit: int) -> list[tuple[ArticleRecord, float]]:
    """(record, score, words matched, scope rank) ordered for the agent: every query word should match, so
    articles missing one fall behind those that match all; then the caller's kommune first; then the score."""
    ordered = sorted(found, key=lambda item: (-item[2], item[3], -item[1], item[0].title))
    return [(record, round(score, 4)) for record, score, _, _ in ordered[:limit]]


class ScopedSearch:
    """The replica's search: one :class:`SearchIndex` per scope, built lazily.

    A search only ever reads the caller's kommune, the general articles and the surge banners, so indexing
    30,000 articles need not finish before the first search: changes are staged per scope, a search indexes the
    staged articles of the scopes it reads (a kommune's few hundred take milliseconds), and a background task
    works through the rest (general and surge first). Term statistics (rarity, typo neighbours) are per scope.
    """

    _FIRST = (GENERAL, FEDERATION)

    def __init__(self) -> None:
        self._indexes: dict[str, SearchIndex] = {}
        self._vocabulary = Vocabulary()
        self._staged: dict[str, dict[str, ArticleRecord | None]] = {}  # scope -> article id -> record (None: remove)

    def __len__(self) -> int:
        return sum(len(index) for index in self._indexes.values())

    @property
    def staged(self) -> int:
        """Changes not yet in an index."""
        return sum(len(changes) for changes in self._staged.values())

    def stage(self, record: ArticleRecord) -> None:
        self._staged.setdefault(record.scope, {})[record.id] = record

    def stage_removal(self, scope: str, article_id: str) -> None:
        self._staged.setdefault(scope, {})[article_id] = None

    def _index(self, scope: str) -> SearchIndex:
        index = self._indexes.get(scope)
        if index is None:
            index = self._indexes[scope] = SearchIndex(self._vocabulary)
        return index

    def _apply(self, scope: str, count: int) -> int:
        changes = self._staged.get(scope)
        if not changes:
            self._staged.pop(scope, None)
            return 0
        index = self._index(scope)
        done = 0
        while changes and done < count:
            article_id, record = changes.popitem()
            if record is None:
                index.remove(article_id)
            else:
                index.add(record)
            done += 1
        if not changes:
            del self._staged[scope]
        return done

    def index_some(self, count: int) -> int:
        """Index up to ``count`` staged changes (general and surge first); returns how many were indexed."""
        done = 0
        while done < count and self._staged:
            scope = next((s for s in self._FIRST if s in self._staged), None) or next(iter(self._staged))
            done += self._apply(scope, count - done)
        return done

    def index_all(self) -> None:
        while self._staged:
            self.index_some(10_000)

    def search(
        self, query: str, scopes: tuple[str, ...], *, limit: int = 20, hidden: frozenset[str] = frozenset()
    ) -> list[tuple[ArticleRecord, float]]:
        found: list[tuple[ArticleRecord, float, int, int]] = []
        for rank, scope in enumerate(scopes):
            if scope in self._staged:
                self._apply(scope, len(self._staged[scope]))
            index = self._indexes.get(scope)
            if index is not None:
                found.extend(
                    (record, score, matched, rank) for record, score, matched in index.matches(query, (scope,), hidden)
                )
        return _best(found, limit)


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
