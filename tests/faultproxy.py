"""A flaky network in front of a server, for tests: a TCP proxy on 127.0.0.1 that resets a share of the
requests passing through it and delays others (an object store that throttles and drops connections)."""

from __future__ import annotations

import random
import socket
import struct
import threading
import time
from dataclasses import dataclass


@dataclass
class Faults:
    """What the proxy did: connections and chunks forwarded, resets and delays injected."""

    connections: int = 0
    chunks: int = 0
    resets: int = 0
    delays: int = 0


class FaultProxy:
    """Forwards 127.0.0.1:``port`` to 127.0.0.1:``upstream``. Each chunk a client sends (a small request, or
    up to 64 KiB of a large one) is, with probability ``reset``, dropped and both connections reset: the
    client sees the connection reset before any answer, and the server a request cut short (or, for a first
    chunk, none). Else, with probability ``delay``, it is held ``delay_s`` seconds first. Use as a context
    manager; ``faults`` counts what it did."""

    def __init__(
        self, upstream: int, *, reset: float = 0.0, delay: float = 0.0, delay_s: float = 0.05, seed: int = 0
    ) -> None:
        self.upstream, self.reset, self.delay, self.delay_s = upstream, reset, delay, delay_s
        self.faults = Faults()
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._open: set[socket.socket] = set()
        self._stopped = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> FaultProxy:
        self._spawn(self._accept)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopped.set()
        _close(self._listener)
        with self._lock:
            for s in list(self._open):
                _close(s)
        for t in self._threads:
            t.join(timeout=5)

    def _spawn(self, target: object, *args: object) -> None:
        t = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        self._threads.append(t)
        t.start()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(("127.0.0.1", self.upstream))
            except OSError:
                _reset(client)
                continue
            with self._lock:
                self.faults.connections += 1
                self._open |= {client, server}
            self._spawn(self._pipe, client, server, True)
            self._spawn(self._pipe, server, client, False)

    def _pipe(self, source: socket.socket, sink: socket.socket, requests: bool) -> None:
        try:
            while data := source.recv(1 << 16):
                if requests:
                    with self._lock:
                        self.faults.chunks += 1
                        roll = self._random.random()
                        if roll < self.reset:
                            self.faults.resets += 1
                        elif roll < self.reset + self.delay:
                            self.faults.delays += 1
                    if roll < self.reset:
                        _reset(source)
                        _reset(sink)
                        return
                    if roll < self.reset + self.delay:
                        time.sleep(self.delay_s)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._open.discard(source)
                self._open.discard(sink)
            _close(source)
            _close(sink)


def _reset(s: socket.socket) -> None:
    """Close with a TCP reset rather than an orderly end."""
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    _close(s)


def _close(s: socket.socket) -> None:
    """Shut down, then close: a thread blocked reading it wakes (close alone leaves it blocked)."""
    for end in (lambda: s.shutdown(socket.SHUT_RDWR), s.close):
        try:
            end()
        except OSError:
            pass
