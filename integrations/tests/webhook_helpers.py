"""Shared by the webhook tests: a fake resolver (no DNS from a test), and a local receiver."""

import base64
import contextlib
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@pytest.fixture
def resolver(monkeypatch):
    """`names[host] = [addresses]`: what getaddrinfo answers for each host; IP literals answer themselves."""
    names: dict[str, list[str]] = {}
    real = socket.getaddrinfo

    def fake(host, port, *args, **kwargs):
        if host in names:
            return [
                (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
                for a in names[host]
            ]
        try:
            socket.inet_pton(socket.AF_INET6 if ":" in str(host) else socket.AF_INET, str(host))
        except OSError:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr("integrations.webhooks.destinations.socket.getaddrinfo", fake)
    return names


@dataclass
class Received:
    path: str
    headers: dict
    body: bytes
    at: float


@dataclass
class Receiver:
    """A local HTTP receiver: `answers` (status codes, popped one per request; then `default`),
    `delay` seconds before answering, and everything it received."""

    default: int = 200
    answers: list = field(default_factory=list)
    delay: float = 0.0
    received: list = field(default_factory=list)
    extra_headers: dict = field(default_factory=dict)
    server: ThreadingHTTPServer | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/hooks"

    def bodies(self):
        return [r.body for r in self.received]


@contextlib.contextmanager
def receiver_running(**kwargs):
    receiver = Receiver(**kwargs)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length)
            with receiver.lock:
                receiver.received.append(Received(self.path, dict(self.headers.items()), body, time.monotonic()))
                status = receiver.answers.pop(0) if receiver.answers else receiver.default
            if receiver.delay:
                time.sleep(receiver.delay)
            answer = b'{"ok": true}' if status < 300 else b"nope" * 500
            self.send_response(status)
            for name, value in receiver.extra_headers.items():
                self.send_header(name, value)
            if 300 <= status < 400:
                self.send_header("location", "/elsewhere")
            self.send_header("content-length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.server = server
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


def secret_bytes(secret: str) -> bytes:
    assert secret.startswith("whsec_")
    return base64.b64decode(secret.removeprefix("whsec_"))
