"""A local HTTP server for the tracking tests: each request answered by a function, in a
thread of its own, on 127.0.0.1."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# (method, path, headers, body) -> (status, JSON document), or None to never answer
Answer = Callable[[str, str, Any, bytes], tuple[int, Any] | None]


@contextmanager
def serving(answer: Answer) -> Iterator[str]:
    """The server's base URL (`http://127.0.0.1:PORT`) while the block runs."""

    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            reply = answer(self.command, self.path, self.headers, body)
            if reply is None:
                time.sleep(3600)  # a server that hangs
                return
            code, doc = reply
            data = json.dumps(doc).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = _any

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
