"""A local webhook receiver for tests: answers from a script (status codes, or "hang"), checks
every signature with the rule's secret, and keeps what it received."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from operations.webhooks import verify


class Receiver:
    def __init__(self, secret: str = "", answers: list | None = None, hang_seconds: float = 0):
        self.secret = secret
        self.answers = list(answers or [])
        self.hang_seconds = hang_seconds
        self.received: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                signed = verify(receiver.secret, self.headers.get("X-Etter-Signature", ""), body)
                receiver.received.append({"body": json.loads(body or b"{}"), "signed": signed})
                answer = receiver.answers.pop(0) if receiver.answers else 200
                if answer == "hang":
                    time.sleep(receiver.hang_seconds)
                    answer = 200
                if answer == "stall":  # headers now, the body never
                    self.send_response(200)
                    self.send_header("Content-Length", "100")
                    self.end_headers()
                    self.wfile.flush()
                    time.sleep(receiver.hang_seconds)
                    return
                self.send_response(answer if signed else 401)
                self.end_headers()
                self.wfile.write(b"ok" if signed else b"bad signature")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
