"""``hotline demo`` as a new user runs it: ready within 60 s, 98 kommuner, at least 50 members, a clean stop."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

HOTLINE = Path(sys.executable).parent / "hotline"


def _read_until(process: subprocess.Popen[str], pattern: str, seconds: float, seen: list[str]) -> re.Match[str]:
    deadline = time.monotonic() + seconds
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            if process.poll() is not None:
                break
            continue
        seen.append(line)
        match = re.search(pattern, line)
        if match:
            return match
    raise AssertionError(f"{pattern!r} not printed within {seconds} s; output:\n{''.join(seen)}")


def _sign_in(base: str, kommune: str, persona: str) -> httpx.Client:
    """Sign in as a new user would: the hotline's sign-in link, the development provider's picker, back."""
    browser = httpx.Client(base_url=base, timeout=10)
    authorize = browser.get(f"/auth/login/{kommune}").headers["location"]
    assert browser.get(authorize).status_code == 200  # the picker
    approve = authorize.replace("/authorize?", "/approve?", 1) + f"&persona={persona}"
    back = browser.get(approve).headers["location"]
    assert browser.get(back).status_code in (302, 303)
    return browser


def test_the_demo_comes_up_serves_the_federation_and_stops_cleanly(tmp_path: Path) -> None:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("HOTLINE_")}
    started = time.monotonic()
    process = subprocess.Popen(
        [str(HOTLINE), "demo", "--port", "0", "--data-dir", str(tmp_path / "demo")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**environment, "PYTHONUNBUFFERED": "1"},
    )
    seen: list[str] = []
    try:
        nats_port = int(
            _read_until(process, r"Embedded NATS with JetStream on nats://127\.0\.0\.1:(\d+)", 30, seen).group(1)
        )
        base = _read_until(process, r"demo is running:\s+(http://\S+?)/?\s*$", 60, seen).group(1)
        with httpx.Client(base_url=base, timeout=10) as http:
            while http.get("/health/ready").status_code != 200:
                assert time.monotonic() - started < 60, "not ready within 60 s"
                time.sleep(0.2)
            tenants = http.get("/api/tenants").json()
            assert len(tenants) == 98
            assert sum(t["member"] for t in tenants) >= 50
            directory = http.get("/tenants")
            assert directory.status_code == 200
            assert ("Åbent" in directory.text) or ("Åbner" in directory.text)
            _read_until(process, r"Sign in \(development provider\):\s+http://\S+/auth/login", 5, seen)
            with contextlib.closing(_sign_in(base, "0727", "agent")) as agent:
                assert agent.get("/me").status_code == 200
                assert agent.get("/admin/kommuner/0727/audit").status_code == 403
            with contextlib.closing(_sign_in(base, "0751", "admin")) as admin:
                assert admin.get("/admin/kommuner/0751/audit").status_code == 200
                assert admin.get("/admin/kommuner/0615/audit").status_code == 403
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(20)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            if process.stdout is not None:
                seen.append(process.stdout.read())
                process.stdout.close()
    assert process.returncode == 0, "".join(seen)
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", nats_port)) != 0, "the embedded nats-server was left running"
