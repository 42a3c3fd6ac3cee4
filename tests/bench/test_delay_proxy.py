"""bench/delay_proxy.py: the loopback proxy behind make bench's --rtt-ms."""

from __future__ import annotations

import socket
import threading
import time
from urllib.parse import urlsplit

import pytest

from bench.delay_proxy import delayed


def echo_server() -> socket.socket:
    """Listen on the loopback and echo what each connection sends."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            with client:
                while data := client.recv(4096):
                    client.sendall(data)

    threading.Thread(target=serve, daemon=True).start()
    return listener


def round_trip_ms(port: int) -> float:
    with socket.create_connection(("127.0.0.1", port)) as conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        samples = []
        for _ in range(5):
            started = time.perf_counter()
            conn.sendall(b"ping")
            received = b""
            while len(received) < 4:
                received += conn.recv(4)
            samples.append((time.perf_counter() - started) * 1000)
            assert received == b"ping"
    return sorted(samples)[2]


def test_each_round_trip_costs_the_given_time_more():
    with echo_server() as listener:
        port = listener.getsockname()[1]
        with delayed(f"postgres://u:p@127.0.0.1:{port}/db", 20) as url:
            parts = urlsplit(url)
            assert parts.hostname == "127.0.0.1"
            assert (parts.username, parts.password, parts.path) == ("u", "p", "/db")
            assert parts.port != port
            assert 20 <= round_trip_ms(parts.port) < 60


def test_the_proxy_stops_with_the_block():
    with echo_server() as listener:
        port = listener.getsockname()[1]
        with delayed(f"postgres://127.0.0.1:{port}/db", 1) as url:
            proxy_port = urlsplit(url).port
            round_trip_ms(proxy_port)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", proxy_port), timeout=1).close()
