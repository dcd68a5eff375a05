"""Test doubles speaking HTTP on loopback: a scripted registry (503s, resets, stalls, 401s) and
a bearer-token gate with its own token service in front of the real local registry.

They are stubs: they prove the client's retry and auth handling, never registry behaviour.
"""

from __future__ import annotations

import base64
import itertools
import json
import socket
import struct
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import cast
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.components.registry import PASSWORD, USER


@dataclass(frozen=True)
class Reply:
    """Answer with this status, headers and body."""

    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Reset:
    """Close the connection with a TCP reset, sending nothing."""


@dataclass(frozen=True)
class Stall:
    """Say nothing for `seconds`, then close."""

    seconds: float


Action = Reply | Reset | Stall


@dataclass
class Recorded:
    """What a stub saw: one (method, path, Authorization header) per request."""

    requests: list[tuple[str, str, str]] = field(default_factory=list)


@contextmanager
def scripted_registry(script: Sequence[Action]) -> Iterator[tuple[str, Recorded]]:
    """Serve `script` one action per request (the last one repeats); yield host and record."""
    record = Recorded()
    actions = itertools.chain(script, itertools.repeat(script[-1]))
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def handle_one(self) -> None:
            with lock:
                record.requests.append(
                    (self.command, self.path, self.headers.get("Authorization", ""))
                )
                action = next(actions)
            if isinstance(action, Reset):
                # SO_LINGER 0 turns close() into a reset, as a dropped connection looks.
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           struct.pack("ii", 1, 0))
                self.close_connection = True
                return
            if isinstance(action, Stall):
                time.sleep(action.seconds)
                self.close_connection = True
                return
            self.send_response(action.status)
            for name, value in action.headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(action.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(action.body)

        do_GET = do_HEAD = do_PUT = handle_one  # noqa: N815 - http.server's naming

        def log_message(self, format: str, *args: object) -> None:
            """Keep test output quiet."""

    with _serving(Handler) as host:
        yield host, record


@dataclass
class TokenLog:
    """What the token service was asked: (scope, whether the credentials were right)."""

    grants: list[tuple[str, bool]] = field(default_factory=list)


@contextmanager
def bearer_gate(upstream: str) -> Iterator[tuple[str, TokenLog]]:
    """A registry front that wants Bearer tokens from its own /token service (which takes
    the test user's basic credentials) and forwards authorised requests to `upstream`."""
    tokens: dict[str, str] = {}
    log = TokenLog()
    counter = itertools.count()
    expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()

    class Handler(BaseHTTPRequestHandler):
        def handle_any(self) -> None:
            url = urlsplit(self.path)
            if url.path == "/token":
                self.token(parse_qs(url.query))
                return
            repo = url.path.removeprefix("/v2/").split("/manifests/")[0].split("/blobs/")[0]
            actions = "pull" if self.command in ("GET", "HEAD") else "pull,push"
            wanted = f"repository:{repo}:{actions}"
            granted = tokens.get(self.headers.get("Authorization", "").removeprefix("Bearer "))
            if granted is None or not set(actions.split(",")) <= set(
                granted.rsplit(":", 1)[1].split(",")
            ):
                host, port = cast(tuple[str, int], self.server.server_address)
                realm = f"http://{host}:{port}/token"
                self.reply(401, b"", [("WWW-Authenticate",
                           f'Bearer realm="{realm}",service="gate",scope="{wanted}"')])
                return
            self.forward()

        def token(self, query: dict[str, list[str]]) -> None:
            scope = query.get("scope", [""])[0]
            good = (self.headers.get("Authorization") == expected
                    and query.get("service") == ["gate"])
            log.grants.append((scope, good))
            if not good:
                self.reply(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}', [])
                return
            token = f"token-{next(counter)}"
            tokens[token] = scope
            self.reply(200, json.dumps({"token": token}).encode(),
                       [("Content-Type", "application/json")])

        def forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            headers = {k: v for k, v in self.headers.items() if k in ("Accept", "Content-Type")}
            answer = httpx.request(self.command, f"http://{upstream}{self.path}", headers=headers,
                                   content=self.rfile.read(length), auth=(USER, PASSWORD))
            kept = [(k, v) for k, v in answer.headers.items()
                    if k.lower() in ("content-type", "docker-content-digest", "location")]
            size = answer.headers.get("content-length", str(len(answer.content)))
            self.reply(answer.status_code, answer.content, kept, size)

        def reply(self, status: int, body: bytes, headers: list[tuple[str, str]],
                  length: str | None = None) -> None:
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", length or str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_HEAD = do_PUT = handle_any  # noqa: N815 - http.server's naming

        def log_message(self, format: str, *args: object) -> None:
            """Keep test output quiet."""

    with _serving(Handler) as gate_host:
        yield gate_host, log


@contextmanager
def _serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
