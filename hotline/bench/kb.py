"""``hotline bench kb``: the knowledge bank at federation scale, measured end to end on this machine.

98 kommuner × 300 articles + 500 general articles in the KV bucket of an embedded nats-server, four replica
processes (each a real process with its own NATS connection and :class:`~kb_sync.replica.Replica`), and this
process as the admin's app: a SQLite database with the demo federation, the outbox and the publisher. Measured:

* effective rule set lookup and search in a replica (timed inside the replica process, one process at a time);
* an admin's edit, from its commit to applied in all four replicas (and from the start of the edit);
* replica cold start (subscribe → every article held), one replica at a time;
* reconvergence after a nats-server crash and restart, with an edit made while it was down;
* resident memory of each replica.

Each latency is set beside the raw NATS operation measured in the same run (KV get, KV put → watch delivery
in all replicas, reading the whole bucket with a bare ordered consumer, the client's own reconnect), and the
results are printed and written to ``bench-results/kb.json``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hotline.bench.kb_worker import EDIT_MARK, RAW_BUCKET, percentiles
from hotline.config import NatsSettings
from hotline.knowledge import repository
from hotline.knowledge import service as knowledge
from hotline.knowledge.schemas import ArticleDraft
from hotline.lib.embedded_nats import EmbeddedNatsServer
from hotline.server.nats import NatsConnection
from kb_sync.publisher import OutboxPublisher, ensure_bucket
from kb_sync.subjects import BUCKET_STREAM, BUCKET_SUBJECT_PREFIX, GENERAL, ArticleRecord, article_key, encoder

TARGETS = {
    "rules_p99_ms": 1.0,
    "search_p99_ms": 5.0,
    "edit_visible_p99_ms": 20.0,
    "cold_start_s": 2.0,
    "reconverge_s": 2.0,
    "rss_mb": 300.0,
}

TOPICS = [
    "flytning", "folkeregister", "pas", "koerekort", "sundhedskort", "mitid", "digital-post", "nemkonto",
    "borgerservice-booking", "pension", "ejendomsskat", "valg", "affald", "storskrald", "rotter",
    "veje-og-fortove", "vintertjeneste", "parkering", "byggetilladelse", "skole", "dagtilbud", "hjemmehjaelp",
]  # fmt: skip

QUERIES = [
    "storskrald", "stort affald", "storskald", "pas", "rejsepas", "pas til barn", "sundhedskort", "sygesikring",
    "det gule kort", "flytning", "flytte til ny adresse", "mitid spærret", "nemid", "digital post fritagelse",
    "nemkonto", "valgkort", "brevstemme", "parkering beboerlicens", "byggetilladelse carport", "rotter i haven",
    "vintertjeneste snerydning", "hjemmehjælp", "dagtilbud venteliste", "skoleindskrivning", "ejendomsskat",
    "folkepension", "kørekort fornyelse", "afhentning af haveaffald", "genbrugsstation åbningstider", "tidsbestilling",
]  # fmt: skip

_BASE_TEXT = (
    "borgeren kommunen afhentning bestilling selvbetjening ansøgning gebyr frist hverdage weekend åbningstid "
    "borgerservice genbrugsstation haveaffald madrasser hvidevarer møbler container tømning kalender adresse "
    "folkeregister attest legitimation fingeraftryk pasfoto samtykke forældremyndighed udlandet rejse nødpas "
    "lægevalg tandlæge sygesikring sundhedskort erstatningskort digital post fritagelse fuldmagt pårørende "
    "nemkonto pengeinstitut udbetaling pension boligstøtte ejendomsskat vurdering grundskyld parkering licens "
    "betalingszone nummerplade handicapkort byggesag carport tilbygning lokalplan bygningsreglement rotter "
    "skadedyr anmeldelse vejbelysning fortov hul snerydning saltning skole indskrivning dagpleje vuggestue "
    "børnehave venteliste hjemmehjælp rengøring madordning visitation klage afgørelse sagsbehandling telefon"
)
_BASE_WORDS = _BASE_TEXT.split()


def _vocabulary(rng: random.Random, size: int) -> list[str]:
    syllables = ["bo", "ga", "ker", "sted", "vej", "hus", "lund", "by", "mark", "strup", "rup", "holm", "høj", "dal"]
    made = {"".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))) for _ in range(size)}
    return _BASE_WORDS + sorted(made)


def _body(rng: random.Random, vocabulary: list[str], topic: str, words: int) -> str:
    text = " ".join(rng.choice(vocabulary) for _ in range(words))
    return f"Regler om {topic.replace('-', ' ')}. {text}."


def build_corpus(kommuner: list[str], per_kommune: int, general: int, seed: int = 7) -> list[ArticleRecord]:
    rng = random.Random(seed)  # noqa: S311 - benchmark data, not security
    vocabulary = _vocabulary(rng, 6000)
    now = dt.datetime.now(dt.UTC)
    records = []
    modes = ["add"] * 6 + ["replace"] * 3 + ["not_offered"]
    for scope, count in [(GENERAL, general), *((code, per_kommune) for code in kommuner)]:
        for index in range(count):
            topic = TOPICS[index % len(TOPICS)]
            body = _body(rng, vocabulary, topic, rng.randint(70, 130))
            records.append(
                ArticleRecord(
                    id=str(uuid.UUID(int=rng.getrandbits(128))),
                    scope=scope,
                    kind="general" if scope == GENERAL else "kommune",
                    mode="add" if scope == GENERAL else rng.choice(modes),  # type: ignore[arg-type]
                    topic=topic,
                    title=f"{topic.capitalize()} {scope} {index}",
                    body=body,
                    body_html=f"<p>{body}</p>",
                    version=1,
                    author="bench",
                    updated_at=now,
                )
            )
    return records


@dataclass
class Collector:
    """Timestamps the replicas report on ``bench.*`` subjects."""

    ready: dict[int, dict[str, Any]] = field(default_factory=dict)
    seen: dict[tuple[str, int], dict[int, float]] = field(default_factory=lambda: defaultdict(dict))
    raw_seen: dict[str, dict[int, float]] = field(default_factory=lambda: defaultdict(dict))

    async def on_ready(self, msg: Any) -> None:
        report = json.loads(msg.data)
        self.ready[report["n"]] = report

    async def on_seen(self, msg: Any) -> None:
        note = json.loads(msg.data)
        self.seen[(note["id"], note["version"])][note["n"]] = note["t"]

    async def on_raw(self, msg: Any) -> None:
        note = json.loads(msg.data)
        self.raw_seen[note["key"]][note["n"]] = note["t"]


async def _until(condition: Any, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"benchmark: timed out waiting for {what}")
        await asyncio.sleep(0.001)


def _stats(samples_s: list[float]) -> dict[str, float]:
    return percentiles([int(sample * 1e9) for sample in samples_s])


async def run(
    *, kommuner: int, per_kommune: int, general: int, replicas: int, edits: int, out: Path, workdir: Path
) -> dict[str, Any]:
    from hotline.db.engine import close_database, migrate, open_database
    from hotline.demo import SOURCE_TENANTS
    from hotline.tenancy import service as tenancy
    from hotline.tenancy.files import load_tenant_set, reference_kommuner

    codes = sorted(reference_kommuner())[:kommuner]
    server = EmbeddedNatsServer(workdir / "nats")
    server.start()
    engine = await open_database(f"sqlite:///{workdir / 'bench.sqlite'}")
    workers: list[subprocess.Popen[bytes]] = []
    connection = NatsConnection(NatsSettings(), [server.url], name="bench-admin")
    reconnected_at: list[float] = []

    async def note_reconnect() -> None:
        reconnected_at.append(time.monotonic())

    connection.on_reconnected(note_reconnect)
    publisher = OutboxPublisher(connection)
    results: dict[str, Any] = {}
    try:
        await migrate()
        tenant_set = load_tenant_set(SOURCE_TENANTS, known_topics=await tenancy.known_topic_codes())
        async with repository.transaction():
            await tenancy.apply_definitions(tenant_set)
        await connection.start()
        assert await connection.wait_connected(10)  # noqa: S101 - the benchmark cannot run without it
        client = connection.client
        assert client is not None  # noqa: S101
        js = client.jetstream(timeout=10)
        kv = await ensure_bucket(connection)
        raw_kv = await js.create_key_value(bucket=RAW_BUCKET, history=1)

        # -- the corpus -----------------------------------------------------------------------------
        print(f"building {general + kommuner * per_kommune} articles …", flush=True)
        corpus = build_corpus(codes, per_kommune, general)
        started = time.monotonic()
        for chunk in range(0, len(corpus), 2000):
            batch = corpus[chunk : chunk + 2000]
            await asyncio.gather(*(kv.put(article_key(r.scope, r.topic, r.id), encoder.encode(r)) for r in batch))
        load_s = time.monotonic() - started
        payload_bytes = sum(len(encoder.encode(r)) for r in corpus)
        print(f"loaded the bucket in {load_s:.1f} s ({payload_bytes / 1e6:.1f} MB)", flush=True)

        # The articles the admin edits live in the database, so their edits take the real path.
        edit_targets = []
        async with repository.transaction():
            for index, code in enumerate(["0751", "0615", "0101", GENERAL]):
                draft = ArticleDraft(topic="storskrald", title=f"{EDIT_MARK} {index}", body="Version 1.")
                edit_targets.append(await knowledge.create_article(code, draft, "bench-admin"))
        await publisher.start()
        publisher.notify()

        # -- raw baseline: reading the whole bucket with a bare ordered consumer --------------------
        state = (await js.stream_info(BUCKET_STREAM)).state
        raw_read_done = asyncio.Event()
        raw_count = 0

        async def count(msg: Any) -> None:
            nonlocal raw_count
            raw_count += 1
            if msg.metadata.num_pending == 0:
                raw_read_done.set()

        started = time.monotonic()
        raw_sub = await js.subscribe(f"{BUCKET_SUBJECT_PREFIX}>", stream=BUCKET_STREAM, cb=count, ordered_consumer=True)
        await asyncio.wait_for(raw_read_done.wait(), 120)
        raw_cold_s = time.monotonic() - started
        await raw_sub.unsubscribe()

        # -- replica processes ----------------------------------------------------------------------
        collector = Collector()
        await client.subscribe("bench.ready", cb=collector.on_ready)
        await client.subscribe("bench.seen", cb=collector.on_seen)
        await client.subscribe("bench.rawseen", cb=collector.on_raw)
        await client.flush()
        for number in range(replicas):
            # One at a time: each cold start is measured without the others competing for the two cores.
            workers.append(
                subprocess.Popen(  # noqa: S603, ASYNC220 - our own module; Popen returns at once
                    [sys.executable, "-m", "hotline.bench.kb_worker", server.url, str(number)],
                    stdout=subprocess.DEVNULL,
                )
            )
            await _until(lambda n=number: n in collector.ready, 180, f"replica {number} to cold-start")
            report = collector.ready[number]
            print(
                f"replica {number}: cold start {report['cold_start_s']:.2f} s, "
                f"search index complete {report['search_ready_s']:.2f} s, "
                f"first search {report['first_search_ms']:.0f} ms "
                f"(process {report['process_start_s']:.2f} s), {report['articles']} articles, "
                f"{report['rss_mb']:.0f} MB",
                flush=True,
            )
        await asyncio.sleep(1.0)  # the raw watchers of the replicas are set up after their ready report

        # -- raw baselines: KV get, and KV put → watch delivery in every replica ---------------------
        keys = [article_key(r.scope, r.topic, r.id) for r in random.Random(1).sample(corpus, min(2000, len(corpus)))]  # noqa: S311
        gets = []
        for key in keys:
            started = time.perf_counter()
            await kv.get(key)
            gets.append(time.perf_counter() - started)
        raw_deliveries = []
        for index in range(200):
            key = f"raw.k{index}"
            sent = time.monotonic()
            await raw_kv.put(key, b"x" * 1200)
            await _until(lambda k=key: len(collector.raw_seen[k]) == replicas, 10, "raw delivery")
            raw_deliveries.append(max(collector.raw_seen[key].values()) - sent)
            await asyncio.sleep(0.005)

        # -- edits: committed in the database, published by the outbox, applied by every replica -----
        from_commit, from_start = [], []
        for index in range(edits):
            target = edit_targets[index % len(edit_targets)]
            started = time.monotonic()
            async with repository.transaction():
                target = await knowledge.update_article(
                    target.id,
                    ArticleDraft(topic=target.topic, title=target.title, body=f"Version {index + 2}."),
                    "bench-admin",
                    acting_scope=target.scope,
                )
            committed = time.monotonic()
            publisher.notify()
            edit_targets[index % len(edit_targets)] = target
            marker = (target.id, target.version)
            await _until(lambda m=marker: len(collector.seen[m]) == replicas, 10, "an edit in every replica")
            applied = max(collector.seen[marker].values())
            from_commit.append(applied - committed)
            from_start.append(applied - started)
            await asyncio.sleep(0.01)

        # -- rule sets and search, timed inside each replica (one replica at a time) ---------------
        rules_runs, search_runs = [], []
        for number in range(replicas):
            reply = await client.request(
                f"bench.cmd.{number}", json.dumps({"op": "rules", "count": 20000, "codes": codes}).encode(), timeout=120
            )
            rules_runs.append(json.loads(reply.data))
            request = {"op": "search", "count": 3000, "codes": codes, "queries": QUERIES}
            reply = await client.request(f"bench.cmd.{number}", json.dumps(request).encode(), timeout=300)
            search_runs.append(json.loads(reply.data))

        # -- reconvergence after a crash and restart of nats-server ---------------------------------
        reconverge, client_reconnect = [], []
        for round_ in range(3):
            server.kill()
            await asyncio.sleep(1.0)
            target = edit_targets[round_]
            async with repository.transaction():
                target = await knowledge.update_article(
                    target.id,
                    ArticleDraft(topic=target.topic, title=target.title, body=f"Made while NATS was down ({round_})."),
                    "bench-admin",
                    acting_scope=target.scope,
                )
            edit_targets[round_] = target
            reconnects = len(reconnected_at)
            await asyncio.to_thread(server.start)
            up = time.monotonic()
            marker = (target.id, target.version)
            await _until(lambda m=marker: len(collector.seen[m]) == replicas, 60, "reconvergence")
            reconverge.append(max(collector.seen[marker].values()) - up)
            await _until(lambda r=reconnects: len(reconnected_at) > r, 30, "the admin client to reconnect")
            client_reconnect.append(reconnected_at[reconnects] - up)
            await asyncio.sleep(2.0)

        memory = []
        for number in range(replicas):
            reply = await client.request(f"bench.cmd.{number}", json.dumps({"op": "stats"}).encode(), timeout=30)
            memory.append(json.loads(reply.data)["rss_mb"])

        # -- results --------------------------------------------------------------------------------
        def worst(runs: list[dict[str, Any]], part: str) -> dict[str, float]:
            return max((run[part] for run in runs), key=lambda stats: stats["p99_ms"])

        raw_get = _stats(gets)
        raw_delivery = _stats(raw_deliveries)
        edit_commit = _stats(from_commit)
        results = {
            "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "machine": {
                "cpus": os.cpu_count(),
                "load_average_at_end": os.getloadavg(),
                "python": platform.python_version(),
                "platform": platform.platform(),
            },
            "corpus": {
                "kommuner": kommuner,
                "per_kommune": per_kommune,
                "general": general,
                "articles": len(corpus) + len(edit_targets),
                "bucket_bytes": payload_bytes,
                "bucket_load_s": load_s,
            },
            "replicas": replicas,
            "raw": {
                "kv_get": raw_get,
                "kv_put_to_watch_all_replicas": raw_delivery,
                "read_whole_bucket_s": raw_cold_s,
                "bucket_messages": state.messages,
                "client_reconnect_after_restart_s": client_reconnect,
            },
            "rules_lookup": worst(rules_runs, "lookup"),
            "rules_encode_json": worst(rules_runs, "encode_json"),
            "search": worst(search_runs, "search"),
            "search_with_hits": min(run["with_hits"] for run in search_runs),
            "edit_visible_from_commit": edit_commit,
            "edit_visible_from_edit_start": _stats(from_start),
            "cold_start_s": [collector.ready[n]["cold_start_s"] for n in range(replicas)],
            "search_index_complete_s": [collector.ready[n]["search_ready_s"] for n in range(replicas)],
            "first_search_after_cold_start_ms": [collector.ready[n]["first_search_ms"] for n in range(replicas)],
            "process_start_to_ready_s": [collector.ready[n]["process_start_s"] for n in range(replicas)],
            "reconverge_s": reconverge,
            "rss_mb": memory,
        }
        ratios = {
            "rules_p99 / kv_get_p99": results["rules_lookup"]["p99_ms"] / raw_get["p99_ms"],
            "search_p99 / kv_get_p99": results["search"]["p99_ms"] / raw_get["p99_ms"],
            "edit_visible_p99 / kv_put_to_watch_p99": edit_commit["p99_ms"] / raw_delivery["p99_ms"],
            "cold_start_max / raw_bucket_read": max(results["cold_start_s"]) / raw_cold_s,
            "reconverge_max / client_reconnect_max": max(reconverge) / max(client_reconnect),
        }
        results["ratios"] = ratios
        measured = {
            "rules_p99_ms": results["rules_lookup"]["p99_ms"],
            "search_p99_ms": results["search"]["p99_ms"],
            "edit_visible_p99_ms": edit_commit["p99_ms"],
            "cold_start_s": max(results["cold_start_s"]),
            "reconverge_s": max(reconverge),
            "rss_mb": max(memory),
        }
        results["targets"] = {
            name: {"target": TARGETS[name], "measured": value, "met": value <= TARGETS[name]}
            for name, value in measured.items()
        }
        await asyncio.to_thread(_write, out, results)
        print_table(results)
        print(f"\nwritten to {out}")
        return results
    finally:
        for number, worker in enumerate(workers):
            if worker.poll() is None:
                try:
                    if connection.client is not None and connection.client.is_connected:
                        await connection.client.request(f"bench.cmd.{number}", b'{"op": "exit"}', timeout=5)
                    worker.wait(10)
                except Exception:  # a stuck worker is killed below
                    worker.kill()
                    worker.wait()
        await publisher.stop()
        await connection.close()
        await close_database(engine)
        server.stop()


def _write(out: Path, results: dict[str, Any]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2), encoding="utf-8")


def print_table(results: dict[str, Any]) -> None:
    raw = results["raw"]
    rows = [
        ("rule set lookup p99", f"{results['rules_lookup']['p99_ms']:.4f} ms", "≤ 1 ms",
         f"raw KV get p99 {raw['kv_get']['p99_ms']:.3f} ms", results["ratios"]["rules_p99 / kv_get_p99"]),
        ("search p99", f"{results['search']['p99_ms']:.3f} ms", "≤ 5 ms",
         f"raw KV get p99 {raw['kv_get']['p99_ms']:.3f} ms", results["ratios"]["search_p99 / kv_get_p99"]),
        ("edit visible in all replicas p99", f"{results['edit_visible_from_commit']['p99_ms']:.2f} ms", "≤ 20 ms",
         f"raw put→watch p99 {raw['kv_put_to_watch_all_replicas']['p99_ms']:.2f} ms",
         results["ratios"]["edit_visible_p99 / kv_put_to_watch_p99"]),
        ("replica cold start (worst)", f"{max(results['cold_start_s']):.2f} s", "≤ 2 s",
         f"raw bucket read {raw['read_whole_bucket_s']:.2f} s", results["ratios"]["cold_start_max / raw_bucket_read"]),
        ("reconvergence after restart (worst)", f"{max(results['reconverge_s']):.2f} s", "≤ 2 s",
         f"client reconnect {max(raw['client_reconnect_after_restart_s']):.2f} s",
         results["ratios"]["reconverge_max / client_reconnect_max"]),
        ("memory per replica (worst)", f"{max(results['rss_mb']):.0f} MB", "≤ 300 MB", "", None),
    ]  # fmt: skip
    print(f"\n{'measure':38} {'measured':>13} {'target':>10}  {'raw NATS operation':34} ratio")
    for name, measured, target, baseline, ratio in rows:
        ratio_text = f"{ratio:.2f}" if ratio is not None else ""
        print(f"{name:38} {measured:>13} {target:>10}  {baseline:34} {ratio_text}")
    print(
        f"\nsearch index complete after a cold start (worst): {max(results['search_index_complete_s']):.2f} s; "
        f"first search right after the cold start (worst): {max(results['first_search_after_cold_start_ms']):.1f} ms"
    )
    print(
        f"edit from its start (validation + SQLite commit included): p99 "
        f"{results['edit_visible_from_edit_start']['p99_ms']:.2f} ms; rule set JSON encoding p99 "
        f"{results['rules_encode_json']['p99_ms']:.3f} ms; "
        f"load average at end {results['machine']['load_average_at_end']}"
    )
    missed = [name for name, target in results["targets"].items() if not target["met"]]
    print("all targets met" if not missed else f"targets missed: {', '.join(missed)}")


def main(arguments: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="hotline bench kb")
    parser.add_argument("--kommuner", type=int, default=98)
    parser.add_argument("--per-kommune", type=int, default=300)
    parser.add_argument("--general", type=int, default=500)
    parser.add_argument("--replicas", type=int, default=4)
    parser.add_argument("--edits", type=int, default=300)
    parser.add_argument("--out", type=Path, default=Path("bench-results") / "kb.json")
    options = parser.parse_args(arguments)
    with tempfile.TemporaryDirectory(prefix="hotline-bench-") as workdir:
        asyncio.run(
            run(
                kommuner=options.kommuner,
                per_kommune=options.per_kommune,
                general=options.general,
                replicas=options.replicas,
                edits=options.edits,
                out=options.out,
                workdir=Path(workdir),
            )
        )
    return 0
