"""What the local HTTP stand-ins share (tests/forge_standin.py, the GitHub REST API;
tests/alpaca_standin.py, Alpaca's Trading API): a threaded server on 127.0.0.1 on an
ephemeral port, started and stopped within a test, and the record of each request."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    """One request as a stand-in received it."""

    method: str
    path: str
    query: dict[str, str]
    json: Any
    authorized: bool
    at: float = field(default_factory=time.monotonic)  # when it arrived


def read_request(handler: BaseHTTPRequestHandler) -> tuple[str, dict[str, str], Any]:
    """(path, query with the last value of each key, JSON body or None) of the request
    ``handler`` is serving; a body that is not JSON reads as None."""
    parts = urlsplit(handler.path)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    length = int(handler.headers.get("Content-Length") or 0)
    raw = handler.rfile.read(length) if length else b""
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = None
    return parts.path, query, body


class LocalServer:
    """Mixin for a stand-in dataclass with ``_server``, ``_thread`` and ``_stopping`` fields;
    ``handler`` is its request handler class (it finds the stand-in as ``self.standin``)."""

    handler: ClassVar[type]

    def start(self):
        handler = type("Handler", (self.handler,), {"standin": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        # A short poll: shutdown() waits for the serving loop's next wake-up (0.5 s by default).
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.01}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes requests that hang or stall on purpose
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"
