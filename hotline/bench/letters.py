"""``hotline bench letters``: how fast letters are rendered and delivered.

- Render time (p50/p99) of a one-page and a three-page letter through the service's renderer (fonts and the
  stylesheet reused), and of a bare WeasyPrint render of the same HTML in the same run; ``ratio`` is ours / bare.
  Every letter has a different text, so the renderer's cache of identical letters never helps.
- Sustained letters per second from ``send`` (check, render, write letter + outbox) to accepted by a local SMTP
  server (aiosmtpd), with the outbox worker delivering, on a SQLite database, for one-page letters.

Writes ``bench-results/letters.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import logging
import os
import resource
import statistics
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PARAGRAPH = (
    "Du kan melde flytning digitalt på https://www.borger.dk/flytning senest fem dage efter, at du er flyttet. "
    "Når flytningen er registreret, får du besked i Digital Post, og dit sundhedskort sendes til den nye adresse. "
)


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _body(pages: int, serial: int) -> str:
    paragraphs = 3 if pages == 1 else 15  # 15 paragraphs fill three A4 pages (checked with pdfinfo)
    return f"Henvendelse nr. {serial}.\n\n" + "\n\n".join(PARAGRAPH * 2 for _ in range(paragraphs))


def _render_figures(pages: int, rounds: int) -> dict[str, Any]:
    from hotline.letters.rendering import (
        LetterContent,
        LetterheadData,
        Logo,
        PdfRenderer,
        bare_render,
        letter_html,
    )

    logo = Logo((ROOT / "tenants" / "0751-aarhus" / "logo.svg").read_bytes(), "image/svg+xml")
    letterhead = LetterheadData(
        address=("Aarhus Kommune", "Borgerservice", "Rådhuspladsen 1", "8000 Aarhus C"),
        phone="+45 70 75 10 00",
        web="https://aarhus.kommune.example",
        primary_colour="#7a1f2b",
        accent_colour="#e8b4b8",
        signature="Med venlig hilsen\nBorgerservice\nAarhus Kommune",
        legal_footer="Demodata.",
    )
    renderer = PdfRenderer(workers=1)
    ours: list[float] = []
    bare: list[float] = []
    pdf_bytes = 0
    for serial in range(rounds + 1):
        content = LetterContent(
            language="da",
            kommune="Aarhus Kommune",
            letterhead=letterhead,
            subject="Flytning",
            body=_body(pages, serial),
            date=dt.date(2026, 11, 25),
            logo=logo,
        )
        html = letter_html(content)
        started = time.perf_counter()
        pdf = renderer.render_sync(html, logo)
        mine = time.perf_counter() - started
        started = time.perf_counter()
        bare_render(html, logo)
        theirs = time.perf_counter() - started
        if serial == 0:
            pdf_bytes = len(pdf)
            continue  # the first round warms up imports and the per-thread font cache
        ours.append(mine * 1000)
        bare.append(theirs * 1000)
    renderer.close()
    return {
        "pages": pages,
        "rounds": rounds,
        "p50_ms": round(statistics.median(ours), 1),
        "p99_ms": round(_percentile(ours, 0.99), 1),
        "bare_p50_ms": round(statistics.median(bare), 1),
        "bare_p99_ms": round(_percentile(bare, 0.99), 1),
        "ratio": round(statistics.median(ours) / statistics.median(bare), 3),
        "pdf_bytes": pdf_bytes,
    }


async def _throughput(letters: int, concurrency: int, processes: int) -> dict[str, Any]:
    from hotline.config.settings import SmtpSettings
    from hotline.db.engine import close_database, migrate, open_database
    from hotline.letters import service
    from hotline.letters.mailbox import MailSink
    from hotline.letters.rendering import PdfRenderer, Renderer
    from hotline.letters.schemas import LetterDraft
    from hotline.letters.tables import Letter
    from hotline.letters.worker import OutboxWorker, WorkerConfig
    from hotline.lib.embedded_nats import free_port
    from hotline.tenancy import service as tenancy
    from hotline.tenancy.files import TenantSet, load_tenant_set

    class Counting:
        """Counts accepted messages (in the SMTP server's thread)."""

        def __init__(self) -> None:
            self.count = 0
            self.lock = threading.Lock()

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            with self.lock:
                self.count += 1
            return "250 OK"

        async def wait_for(self, target: int) -> None:
            # Polled (every 5 ms, at most ten minutes) rather than woken by the SMTP thread: simpler to trust.
            for _ in range(120_000):
                with self.lock:
                    if self.count >= target:
                        return
                await asyncio.sleep(0.005)
            raise TimeoutError(f"the SMTP server accepted {self.count} of {target} letters")

    with tempfile.TemporaryDirectory() as scratch:
        engine = await open_database(f"sqlite:///{scratch}/bench.sqlite")
        await migrate()
        everything = load_tenant_set(ROOT / "tenants")
        chosen = TenantSet(
            federation=everything.federation, tenants=[t for t in everything.tenants if t.kommune.code == "0751"]
        )
        async with Letter._meta.db.transaction():
            await tenancy.apply_definitions(chosen)
        handler = Counting()
        sink = MailSink(Path(scratch) / "mail", port=free_port(), handler=handler)
        sink.start()
        renderer = Renderer(pdf=PdfRenderer(processes=processes))
        worker = OutboxWorker(
            SmtpSettings(host="127.0.0.1", port=sink.port, tls="none"),
            config=WorkerConfig(batch_size=20, poll_interval=0.05),
        )
        worker.start()
        gate = asyncio.Semaphore(concurrency)

        async def one(serial: int) -> None:
            draft = LetterDraft(
                recipient=f"borger{serial}@example.org", template="flytning", subject="Flytning", text=_body(1, serial)
            )
            async with gate:
                await service.send("0751", draft, renderer, now=dt.datetime.now(dt.UTC), created_by="bench")
            worker.notify()

        if renderer.pdf.pool is not None:
            await asyncio.to_thread(renderer.pdf.pool.wait_ready)  # every process started and warmed
        await one(-1)  # warm-up: imports, fonts
        await handler.wait_for(1)
        pool = renderer.pdf.pool
        started = time.perf_counter()
        cpu_started = _cpu_seconds() + (pool.cpu_seconds if pool is not None else 0.0)
        await asyncio.gather(*(one(serial) for serial in range(letters)))
        await handler.wait_for(letters + 1)
        elapsed = time.perf_counter() - started
        cpu = _cpu_seconds() + (pool.cpu_seconds if pool is not None else 0.0) - cpu_started
        await worker.stop()
        renderer.close()
        sink.stop()
        await close_database(engine)
    return {
        "render": f"{processes} processes" if processes else "thread pool",
        "letters": letters,
        "concurrency": concurrency,
        "seconds": round(elapsed, 2),
        "letters_per_second": round(letters / elapsed, 2),
        # CPU time per letter (this process, all threads, plus the render processes' rendering): what the run
        # costs whatever else the machine is doing. cores / cpu_ms_per_letter is the rate the machine's cores
        # could sustain if nothing else ran (an upper bound: it assumes the work spreads over all cores).
        "cpu_ms_per_letter": round(cpu / letters * 1000, 1),
        "cpu_bound_letters_per_second": round((os.cpu_count() or 1) * letters / cpu, 2),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hotline bench letters", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=40, help="renders per letter size (default 40)")
    parser.add_argument("--letters", type=int, default=120, help="letters sent in the throughput run (default 120)")
    parser.add_argument("--concurrency", type=int, default=4, help="agents sending at once (default 4)")
    parser.add_argument(
        "--processes",
        type=int,
        default=os.cpu_count() or 2,
        help="also measure delivery with N render processes (default: one per core; 0: threads only)",
    )
    parser.add_argument("--out", type=Path, default=Path("bench-results") / "letters.json")
    args = parser.parse_args(argv)

    one_page = _render_figures(1, args.rounds)
    three_pages = _render_figures(3, max(10, args.rounds // 2))
    processes = args.processes
    # WeasyPrint reports every step at INFO; the figures are what matters here.
    logging.getLogger("weasyprint").setLevel(logging.WARNING)
    logging.getLogger("hotline.letters").setLevel(logging.WARNING)
    deliveries = [asyncio.run(_throughput(args.letters, args.concurrency, 0))]
    if processes:
        deliveries.append(asyncio.run(_throughput(args.letters, args.concurrency, processes)))
    delivery = max(deliveries, key=lambda run: run["letters_per_second"])
    peak_rss_mb = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    figures = {
        "machine": {"cpus": os.cpu_count()},
        "render_one_page": one_page,
        "render_three_pages": three_pages,
        "delivery_one_page": deliveries,
        "p50_ms": one_page["p50_ms"],
        "p99_ms": one_page["p99_ms"],
        "ratio": max(one_page["ratio"], three_pages["ratio"]),
        "letters_per_second": delivery["letters_per_second"],
        "letters_per_second_render": delivery["render"],
        "peak_rss_mb": peak_rss_mb,
        "targets": {"ratio_max": 1.15, "letters_per_second_min": 8},
    }
    print(f"{'figure':<34}{'one page':>12}{'three pages':>14}")
    for key in ("p50_ms", "p99_ms", "bare_p50_ms", "bare_p99_ms", "ratio"):
        print(f"{key:<34}{one_page[key]:>12}{three_pages[key]:>14}")
    print(f"{'PDF size (bytes)':<34}{one_page['pdf_bytes']:>12}{three_pages['pdf_bytes']:>14}")
    for run in deliveries:
        label = f"letters/s send→accepted ({run['render']})"
        print(f"{label:<34}{run['letters_per_second']:>12}")
        label = "  CPU ms/letter, bound/s, load"
        print(
            f"{label:<34}{run['cpu_ms_per_letter']:>12}{run['cpu_bound_letters_per_second']:>14}"
            f"{run['load_average_1min']:>8}"
        )
    print(f"{'peak RSS (MB)':<34}{peak_rss_mb:>12}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    print(f"written to {args.out}")
    return 0
