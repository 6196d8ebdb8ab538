"""Every NATS subject, bucket and stream of the knowledge bank, with its payload type: the one place they are
documented.

JetStream key-value bucket ``KB`` (stream ``KV_KB``): the current version of every article.

    key      ``<scope>.<topic>.<article-id>``
             scope: a 4-digit kommune code (``0751``), ``general`` (federation-wide rules) or ``federation``
             (surge banners, topic ``surge``); article-id: the article's UUID.
    subject  ``$KV.KB.<key>`` (written only by the app's outbox publisher)
    payload  :class:`ArticleRecord` (msgspec JSON). A KV delete marker removes the article from replicas.
    order    KV revision (stream sequence) orders the bucket; ``ArticleRecord.version`` orders one article.
             A replica applies a record only if its version is newer than the one it holds, so duplicates and
             late arrivals change nothing.

Kommune push (stream ``KB_PUSH``, subjects ``kb.*.push``, durable consumer ``kb-push``):

    subject  ``kb.<kommune code>.push``; a kommune system's NATS user may publish only below ``kb.<code>.>``
             (deploy/nats/accounts.conf), so the subject is a trustworthy statement of who sent it.
    payload  :class:`PushedArticle`; invalid payloads are terminated (``term()``), never redelivered.

Request/reply (NATS micro service ``kb-rules``, queue group ``q``):

    subject  ``kb.rules.<kommune code>``
    request  empty
    reply    :class:`RuleSet` (msgspec JSON) or an error header (``Nats-Service-Error-Code`` 404/503).
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

import msgspec

BUCKET = "KB"
BUCKET_STREAM = f"KV_{BUCKET}"
BUCKET_SUBJECT_PREFIX = f"$KV.{BUCKET}."

PUSH_STREAM = "KB_PUSH"
PUSH_SUBJECTS = "kb.*.push"
PUSH_DURABLE = "kb-push"

RULES_SERVICE = "kb-rules"
RULES_SUBJECT_PREFIX = "kb.rules"

GENERAL = "general"
FEDERATION = "federation"
SURGE_TOPIC = "surge"

Scope = str  # "general", "federation" or a 4-digit kommune code
Kind = Literal["general", "kommune", "surge"]
Mode = Literal["replace", "add", "not_offered"]
Handling = Literal["solve", "handoff"]


class Link(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A self-service link the agent can read out or send (borger.dk, the kommune's own page)."""

    title: str
    url: str


class ArticleRecord(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One version of one article, as it travels in the KV bucket and lives in every replica.

    ``body_html`` is rendered and sanitised before publication, so replicas never render Markdown."""

    id: str
    scope: Scope
    kind: Kind
    topic: str
    title: str
    body: str
    body_html: str
    version: int
    author: str
    updated_at: dt.datetime
    mode: Mode = "add"
    links: tuple[Link, ...] = ()
    department: str = ""
    handling: Handling = "solve"
    valid_from: dt.datetime | None = None
    valid_to: dt.datetime | None = None
    review_by: dt.date | None = None
    language: str = "da"
    demo: bool = False


class PushedArticle(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An article a kommune system pushes on ``kb.<code>.push``. ``external_id`` is the kommune system's own
    identifier: pushing the same ``external_id`` again updates that article instead of creating another."""

    external_id: str
    topic: str
    title: str
    body: str
    mode: Mode = "add"
    links: tuple[Link, ...] = ()
    department: str = ""
    handling: Handling = "solve"
    valid_from: dt.datetime | None = None
    valid_to: dt.datetime | None = None
    review_by: dt.date | None = None
    language: str = "da"


class TopicRules(msgspec.Struct, frozen=True):
    """What an agent needs on one topic for one kommune: the kommune's own articles first, then the general
    ones it has not replaced; ``offered`` is false when the kommune marked the topic "not offered here"."""

    topic: str
    offered: bool
    articles: tuple[ArticleRecord, ...]


class RuleSet(msgspec.Struct, frozen=True):
    """A kommune's effective rule set: general articles merged with its own overrides, per topic."""

    kommune: str
    revision: int
    topics: tuple[TopicRules, ...]
    surge: tuple[ArticleRecord, ...] = ()


def article_key(scope: Scope, topic: str, article_id: str) -> str:
    return f"{scope}.{topic}.{article_id}"


def split_key(key: str) -> tuple[Scope, str, str]:
    scope, topic, article_id = key.split(".", 2)
    return scope, topic, article_id


def push_subject(kommune_code: str) -> str:
    return f"kb.{kommune_code}.push"


def rules_subject(kommune_code: str) -> str:
    return f"{RULES_SUBJECT_PREFIX}.{kommune_code}"


encoder = msgspec.json.Encoder()
record_decoder = msgspec.json.Decoder(ArticleRecord)
push_decoder = msgspec.json.Decoder(PushedArticle)
ruleset_decoder = msgspec.json.Decoder(RuleSet)
