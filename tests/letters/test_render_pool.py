"""PDF rendering in worker processes: letters rendered on several cores, a time limit per render that kills and
replaces an overrunning worker, a crashed worker replaced without losing the letter, and errors from WeasyPrint
(a refused asset) reaching the caller while the worker stays usable."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator

import pytest
from weasyprint.urls import FatalURLFetchingError

from hotline.letters import rendering
from hotline.letters.render_pool import RenderPool, RenderTimeout
from tests.letters.test_rendering import AARHUS_LOGO, content


@pytest.fixture(scope="module")
def pool() -> Iterator[RenderPool]:
    started = RenderPool(2, timeout=30)
    started.wait_ready()
    yield started
    started.close(wait=True)


def letter(serial: int, paragraphs: int = 3) -> str:
    body = "\n\n".join(f"Afsnit {serial}.{n}: Du melder flytning på https://www.borger.dk." for n in range(paragraphs))
    return rendering.letter_html(content(body=body))


async def test_two_processes_render_different_letters_at_once(pool: RenderPool) -> None:
    pids = pool.pids()
    assert len(pids) == 2
    assert os.getpid() not in pids
    pdfs = await asyncio.gather(*(pool.render(letter(serial), AARHUS_LOGO) for serial in range(6)))
    assert all(pdf.startswith(b"%PDF-") for pdf in pdfs)
    assert len(set(pdfs)) == 6  # six different letters, none mixed up with another
    assert pool.cpu_seconds > 0


async def test_a_render_over_its_time_limit_kills_the_worker_and_a_fresh_one_takes_its_place(pool: RenderPool) -> None:
    before = pool.pids()
    replaced = pool.replaced
    pool.timeout = 0.001  # no letter renders in a millisecond
    try:
        with pytest.raises(RenderTimeout):
            await pool.render(letter(100, paragraphs=40), AARHUS_LOGO)
    finally:
        pool.timeout = 30
    assert pool.replaced == replaced + 1
    after = pool.pids()
    assert len(after) == 2
    assert len(set(after) - set(before)) == 1  # exactly one worker is new
    pdfs = await asyncio.gather(*(pool.render(letter(serial), AARHUS_LOGO) for serial in range(101, 105)))
    assert all(pdf.startswith(b"%PDF-") for pdf in pdfs)


async def test_a_worker_that_dies_is_replaced_and_the_letter_is_rendered_by_the_new_one(pool: RenderPool) -> None:
    replaced = pool.replaced
    killed = list(pool._all)
    for worker in killed:
        os.kill(worker.process.pid or 0, signal.SIGKILL)  # both die (out of memory, say) while idle
    for _ in range(500):  # until the kernel has delivered the signals (at most 5 s)
        if not any(worker.process.is_alive() for worker in killed):
            break
        await asyncio.sleep(0.01)
    pdf = await pool.render(letter(200), AARHUS_LOGO)
    assert pdf.startswith(b"%PDF-")
    assert pool.replaced >= replaced + 1
    assert len(pool.pids()) == 2


async def test_a_refused_asset_is_an_error_for_the_caller_and_the_worker_carries_on(pool: RenderPool) -> None:
    replaced = pool.replaced
    html = "<!doctype html><html lang='da'><head><title>x</title></head><body><img src='file:///etc/hostname'></body></html>"
    with pytest.raises(FatalURLFetchingError, match="refused"):
        await pool.render(html, None)
    assert pool.replaced == replaced
    assert (await pool.render(letter(300), AARHUS_LOGO)).startswith(b"%PDF-")
