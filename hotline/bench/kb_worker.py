"""One replica process of the knowledge-bank benchmark (``hotline bench kb`` starts four of these).

It holds a real :class:`kb_sync.replica.Replica` on its own NATS connection, as an app process does, reports
its cold start, timestamps the benchmark's edits as it applies them, and runs timed loops of rule-set lookups and
searches on command. Commands and reports travel on ``bench.*`` subjects; timestamps are ``time.monotonic()``,
which is one clock for every process on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import logging
import random
import sys
import time
from typing import Any

STARTED = time.monotonic()

from hotline.config import NatsSettings  # noqa: E402 - the start time is taken before the heavy imports
from hotline.server.nats import NatsConnection  # noqa: E402
from kb_sync.replica import Replica  # noqa: E402
from kb_sync.subjects import ArticleRecord, encoder  # noqa: E402

EDIT_MARK = "BENCH-EDIT"
RAW_BUCKET = "BENCH_RAW"


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def percentiles(samples_ns: list[int]) -> dict[str, float]:
    ordered = sorted(samples_ns)

    def at(fraction: float) -> float:
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] / 1e6

    return {"p50_ms": at(0.50), "p99_ms": at(0.99), "max_ms": ordered[-1] / 1e6, "n": len(ordered)}


async def main(url: str, number: int) -> None:
    connection = NatsConnection(NatsSettings(), [url], name=f"bench-replica-{number}")
    replica = Replica(connection, clock=lambda: dt.datetime.now(dt.UTC), name=f"bench-{number}")
    await connection.start()
    assert await connection.wait_connected(30)  # noqa: S101 - a benchmark helper; failing loudly is right
    client = connection.client
    assert client is not None  # noqa: S101
    pending: set[asyncio.Task[None]] = set()

    def seen(record: ArticleRecord) -> None:
        if record.title.startswith(EDIT_MARK):
            payload = json.dumps({"n": number, "id": record.id, "version": record.version, "t": time.monotonic()})
            task = asyncio.get_running_loop().create_task(client.publish("bench.seen", payload.encode()))
            pending.add(task)
            task.add_done_callback(pending.discard)

    replica.on_change(seen)
    subscribing = time.monotonic()
    await replica.start()
    await replica.wait_ready(120)
    ready = time.monotonic()
    # A search right after the cold start, before the background index is complete: it indexes the scopes it
    # reads (the kommune's, general, surge) on demand.
    started = time.perf_counter()
    replica.search("storskrald", "0751")
    first_search_ms = (time.perf_counter() - started) * 1000
    while not replica.freshness().search_ready:  # noqa: ASYNC110 - the benchmark polls; the app never waits
        await asyncio.sleep(0.01)
    searchable = time.monotonic()
    await client.publish(
        "bench.ready",
        json.dumps(
            {
                "n": number,
                "cold_start_s": ready - subscribing,
                "search_ready_s": searchable - subscribing,
                "first_search_ms": first_search_ms,
                "process_start_s": ready - STARTED,
                "articles": len(replica),
                "rss_mb": rss_mb(),
            }
        ).encode(),
    )

    # The raw baseline: a plain KV watch on a bucket of its own, without any replica work.
    js = client.jetstream()
    raw = await js.key_value(RAW_BUCKET)
    watcher = await raw.watch("raw.>")

    async def raw_watch() -> None:
        async for entry in watcher:
            if entry is not None:
                note = json.dumps({"n": number, "key": entry.key, "t": time.monotonic()})
                await client.publish("bench.rawseen", note.encode())

    watch_task = asyncio.create_task(raw_watch())
    done = asyncio.Event()

    async def command(msg: Any) -> None:
        request = json.loads(msg.data)
        op = request["op"]
        rng = random.Random(request.get("seed", number))  # noqa: S311 - benchmark sampling, not security
        result: dict[str, Any]
        if op == "rules":
            codes: list[str] = request["codes"]
            samples: list[int] = []
            encode: list[int] = []
            for _ in range(request["count"]):
                code = rng.choice(codes)
                started = time.perf_counter_ns()
                rules = replica.rules(code)
                samples.append(time.perf_counter_ns() - started)
                if len(encode) < 500:
                    started = time.perf_counter_ns()
                    encoder.encode(rules)
                    encode.append(time.perf_counter_ns() - started)
            result = {"lookup": percentiles(samples), "encode_json": percentiles(encode)}
        elif op == "search":
            queries: list[str] = request["queries"]
            codes = request["codes"]
            samples = []
            hits = 0
            for _ in range(request["count"]):
                query, code = rng.choice(queries), rng.choice(codes)
                started = time.perf_counter_ns()
                found = replica.search(query, code, limit=20)
                samples.append(time.perf_counter_ns() - started)
                hits += bool(found)
            result = {"search": percentiles(samples), "with_hits": hits / max(1, request["count"])}
        elif op == "stats":
            result = {"freshness": json.loads(encoder.encode(replica.freshness())), "rss_mb": rss_mb()}
        else:
            result = {"bye": True}
            done.set()
        await msg.respond(json.dumps(result).encode())

    await client.subscribe(f"bench.cmd.{number}", cb=command)
    await client.flush()
    await done.wait()
    watch_task.cancel()
    await replica.stop()
    await connection.close()


if __name__ == "__main__":
    logging.basicConfig(level=logging.ERROR)  # reconnect notices of four replicas would drown the table
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("number", type=int)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.url, arguments.number))
    sys.exit(0)
