"""Local receivers for Alertmanager's deliveries in the monitoring scenario (test only).

``smtp PORT OUT`` is a minimal SMTP server (RFC 5321 subset: EHLO/HELO, MAIL, RCPT, DATA,
RSET, NOOP, QUIT; no TLS, no relay anywhere) that appends every accepted message as one JSON
line ``{"from", "to", "data"}`` to OUT. ``webhook PORT OUT`` is an HTTP server that appends
every POSTed JSON body to OUT and answers 200. Both listen on 127.0.0.1 only: nothing leaves
the container. Standard library only (the target's python3).
"""

from __future__ import annotations

import json
import socketserver
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def append(path: str, record: dict) -> None:
    with Path(path).open("a", encoding="utf-8") as out:
        out.write(json.dumps(record) + "\n")


class SMTPHandler(socketserver.StreamRequestHandler):
    out = ""

    def reply(self, line: str) -> None:
        self.wfile.write((line + "\r\n").encode())

    def handle(self) -> None:
        sender, rcpts = "", []
        self.reply("220 alert-sink ESMTP")
        while True:
            raw = self.rfile.readline()
            if not raw:
                return
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            verb = line.split(" ", 1)[0].upper()
            if verb == "EHLO":
                self.reply("250-alert-sink")
                self.reply("250 8BITMIME")
            elif verb == "HELO":
                self.reply("250 alert-sink")
            elif verb == "MAIL":
                sender, rcpts = line.split(":", 1)[1].strip(), []
                self.reply("250 OK")
            elif verb == "RCPT":
                rcpts.append(line.split(":", 1)[1].strip())
                self.reply("250 OK")
            elif verb == "DATA":
                self.reply("354 End data with <CR><LF>.<CR><LF>")
                lines = []
                while True:
                    data = self.rfile.readline()
                    if not data or data in (b".\r\n", b".\n"):
                        break
                    lines.append(data.decode("utf-8", "replace"))
                append(self.out, {"from": sender, "to": rcpts, "data": "".join(lines)})
                self.reply("250 OK queued")
            elif verb in ("RSET", "NOOP"):
                self.reply("250 OK")
            elif verb == "QUIT":
                self.reply("221 Bye")
                return
            else:
                self.reply("502 Command not implemented")


class WebhookHandler(BaseHTTPRequestHandler):
    out = ""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        append(self.out, {"path": self.path, "body": json.loads(body or b"null")})
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> None:
    kind, port, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    if kind == "smtp":
        SMTPHandler.out = out
        socketserver.ThreadingTCPServer.allow_reuse_address = True
        socketserver.ThreadingTCPServer(("127.0.0.1", port), SMTPHandler).serve_forever()
    else:
        WebhookHandler.out = out
        ThreadingHTTPServer(("127.0.0.1", port), WebhookHandler).serve_forever()


if __name__ == "__main__":
    main()
