"""Text from findings and people must not become markup in an e-mail.

The attack: a finding title or a rationale (a waiver's, a reviewer's answer) holding ``<script>`` or
an ``<a href>`` that reads as the release manager's own link. The notice goes through the real SMTP
notifier to a small SMTP server run by the test; the HTML body shows the text, escaped.
"""

from __future__ import annotations

import email
import email.policy
import json
import socketserver
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from release_gates.notify import email_html, notify
from release_gates.policy import load_policy

EXAMPLE = Path(__file__).parents[2] / "include" / "release_policy.yaml"
TITLE = 'CVE-2099-1 <script>alert("x")</script> in openssl'
RATIONALE = 'accepted, see <a href="https://evil.example/login">the ticket</a> & move on'


class _Smtp(socketserver.StreamRequestHandler):
    """Just enough SMTP for one message: every DATA section is kept on the server."""

    def handle(self) -> None:
        self.wfile.write(b"220 test\r\n")
        while line := self.rfile.readline():
            command = line.strip().upper()
            if command.startswith((b"EHLO", b"HELO")):
                self.wfile.write(b"250 test\r\n")
            elif command == b"DATA":
                self.wfile.write(b"354 go on\r\n")
                data = b"".join(iter(self.rfile.readline, b".\r\n"))
                self.server.messages.append(data)  # type: ignore[attr-defined]
                self.wfile.write(b"250 kept\r\n")
            elif command == b"QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"250 ok\r\n")


@pytest.fixture
def smtp_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bytes]]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Smtp)
    server.messages = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    connection = {
        "conn_type": "smtp",
        "host": "127.0.0.1",
        "port": server.server_address[1],
        "extra": {"disable_ssl": True, "disable_tls": True, "from_email": "gates@example.org"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_TEST", json.dumps(connection))
    try:
        yield server.messages  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()


def test_the_html_body_escapes_every_markup_character() -> None:
    body = email_html(f"{TITLE}\n{RATIONALE}")
    assert "<script>" not in body and "<a href" not in body
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in body
    assert "&amp; move on" in body
    assert body.startswith("<pre>") and body.endswith("</pre>")


def test_a_notice_sent_by_smtp_carries_the_text_escaped(smtp_server: list[bytes]) -> None:
    policy = load_policy(EXAMPLE)
    policy = policy.model_copy(
        update={"notifications": policy.notifications.model_copy(update={"smtp_conn_id": "smtp_test"})}
    )
    role = next(name for name, owner in policy.owners.items() if owner.email)
    deliveries = notify(policy, role, "release held:\r\nBcc: victim@example.org", f"{TITLE}\n{RATIONALE}")
    assert [d["channel"] for d in deliveries] == ["smtp"] and deliveries[0]["ok"], deliveries

    (raw,) = smtp_server
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["Bcc"] is None  # a line break in the subject starts no header
    html_part = next(p for p in message.walk() if p.get_content_type() == "text/html")
    html = html_part.get_content()
    assert "<script>" not in html and "<a href" not in html
    assert "&lt;script&gt;" in html and "&lt;a href=&quot;https://evil.example/login&quot;&gt;" in html
