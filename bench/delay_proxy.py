"""
A TCP proxy on the loopback that delays every chunk: a network in a box.

    python -m bench.delay_proxy --target 127.0.0.1:5432 --rtt-ms 1

Prints the port it listens on (127.0.0.1 only), then forwards each
connection to the target (host:port over TCP), holding every chunk for half
of --rtt-ms in each direction, so that one request and its answer cost
--rtt-ms more than on the plain loopback. Order within a direction is
kept; chunks in flight do not wait for each other, as on a real link. It
exits as soon as its standard input closes, so it cannot outlive the
process that started it.

Threads, not asyncio: asyncio's timers round up to whole milliseconds,
time.sleep() does not. A process of its own, so that the Python being
measured does not share a GIL with it.
"""

from __future__ import annotations

import argparse
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from urllib.parse import urlsplit, urlunsplit

CHUNK = 65536


def open_upstream(target: str) -> socket.socket:
    host, _, port = target.rpartition(":")
    upstream = socket.create_connection((host.strip("[]") or "localhost", int(port)))
    upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return upstream


def pump(source: socket.socket, sink: socket.socket, delay: float) -> None:
    """Copy `source` to `sink`, each chunk `delay` seconds after it arrived."""
    pending: queue.SimpleQueue[tuple[float, bytes] | None] = queue.SimpleQueue()

    def deliver() -> None:
        while (item := pending.get()) is not None:
            due, data = item
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            try:
                sink.sendall(data)
            except OSError:
                break
        with suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    writer = threading.Thread(target=deliver, daemon=True)
    writer.start()
    while True:
        try:
            data = source.recv(CHUNK)
        except OSError:
            data = b""
        if not data:
            break
        pending.put((time.monotonic() + delay, data))
    pending.put(None)
    writer.join()


def serve_connection(client: socket.socket, target: str, delay: float) -> None:
    try:
        upstream = open_upstream(target)
    except OSError:
        client.close()
        return
    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    back = threading.Thread(target=pump, args=(upstream, client, delay), daemon=True)
    back.start()
    pump(client, upstream, delay)
    back.join()
    client.close()
    upstream.close()


def exit_when_stdin_closes() -> None:
    sys.stdin.buffer.read()
    os._exit(0)


@contextmanager
def delayed(url: str, rtt_ms: float) -> Iterator[str]:
    """Run a proxy to the server of `url`; yield `url` rewritten to go through it.

    The proxy is a child process that ends with the block (or, failing
    that, with this process, when its standard input closes).
    """
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    if ":" in host:
        host = f"[{host}]"
    proxy = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.delay_proxy",
            "--target",
            f"{host}:{parts.port or 5432}",
            "--rtt-ms",
            str(rtt_ms),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        port = int(proxy.stdout.readline())
        credentials, _, _ = parts.netloc.rpartition("@")
        netloc = (
            f"{credentials}@127.0.0.1:{port}" if credentials else f"127.0.0.1:{port}"
        )
        yield urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
    finally:
        proxy.stdin.close()
        try:
            proxy.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proxy.kill()
            proxy.wait()
        proxy.stdout.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].strip())
    parser.add_argument("--target", required=True, help="the server's host:port")
    parser.add_argument(
        "--rtt-ms",
        type=float,
        required=True,
        help="added round-trip time in ms (half of it in each direction)",
    )
    args = parser.parse_args(argv)
    delay = args.rtt_ms / 2000
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    print(listener.getsockname()[1], flush=True)
    threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
    while True:
        client, _ = listener.accept()
        threading.Thread(
            target=serve_connection, args=(client, args.target, delay), daemon=True
        ).start()


if __name__ == "__main__":
    sys.exit(main())
