"""Telling owners and stakeholders: Airflow notifiers (SMTP, Slack) or the task log when none is set.

A failed delivery never blocks or passes a release: it is returned (and recorded in evidence by the
caller) so someone can follow up.
"""

from __future__ import annotations

import html
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from release_gates.policy import ReleasePolicy

log = logging.getLogger(__name__)


def notify(
    policy: ReleasePolicy,
    role: str,
    subject: str,
    body: str,
    *,
    context: Any = None,
    logger: logging.Logger | Any = None,
) -> list[dict[str, Any]]:
    """Send ``subject``/``body`` to the users of ``role``; returns one delivery record per channel.

    Every channel, the task log included, gets the text with credentials redacted (a dataset URI
    or an error message may carry one); the e-mail body is HTML-escaped, Slack text Slack-escaped.
    """
    from release_gates.credentials import redact_credentials

    logger = logger or log
    subject, body = redact_credentials(subject)[0], redact_credentials(body)[0]
    owner = policy.owners[role]
    deliveries: list[dict[str, Any]] = []
    settings = policy.notifications
    if settings.smtp_conn_id and owner.email:
        deliveries.append(
            _send(
                "smtp", owner.email, lambda: _smtp(settings.smtp_conn_id, owner.email, subject, body, context)
            )
        )
    if settings.slack_conn_id and owner.slack_channel:
        deliveries.append(
            _send(
                "slack",
                owner.slack_channel,
                lambda: _slack(settings.slack_conn_id, owner.slack_channel, subject, body, context),
            )
        )
    if not any(d["ok"] for d in deliveries):
        # Always leave a trace someone watching the task log (on-call) will see.
        logger.warning(
            "NOTICE for %s (%s): %s\n%s", role, ", ".join(owner.users) or "no users", subject, body
        )
        deliveries.append({"channel": "log", "to": role, "ok": True, "error": None})
    for delivery in deliveries:
        delivery.update(role=role, users=list(owner.users), subject=subject)
    return deliveries


def _send(channel: str, to: str, send: Any) -> dict[str, Any]:
    try:
        send()
    except Exception as exc:  # delivery problems are recorded, not raised
        from release_gates.credentials import mask_urls

        error = mask_urls(f"{type(exc).__name__}: {exc}")  # a connection error may quote its URL
        log.warning("%s notification to %s failed: %s", channel, to, error)
        return {"channel": channel, "to": to, "ok": False, "error": error[:500]}
    return {"channel": channel, "to": to, "ok": True, "error": None}


def email_html(body: str) -> str:
    """The plain-text ``body`` as an HTML e-mail body. Finding titles, rationales and user answers end
    up in it, so every character HTML gives meaning to is escaped (``<script>`` stays text)."""
    return f"<pre>{html.escape(body, quote=True)}</pre>"


def one_line(text: str) -> str:
    """A header value on one line: a line break in a subject would start a new mail header."""
    return " ".join(text.split())


def slack_text(text: str) -> str:
    """Slack's own escaping: ``<!channel>``, ``<@user>`` and ``<url|label>`` in a finding stay text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _smtp(conn_id: str | None, to: str, subject: str, body: str, context: Any) -> None:
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    # notify() is called directly (not the notifier as a callback), so subject and body are sent as
    # given and never rendered as Jinja templates.
    notifier = SmtpNotifier(
        to=to, subject=one_line(subject), html_content=email_html(body), smtp_conn_id=conn_id
    )
    notifier.notify(context or {})  # type: ignore[arg-type]


def _slack(conn_id: str | None, channel: str | None, subject: str, body: str, context: Any) -> None:
    try:
        from airflow.providers.slack.notifications.slack import SlackNotifier
    except ImportError as exc:
        raise RuntimeError("apache-airflow-providers-slack is not installed") from exc
    text = f"*{slack_text(one_line(subject))}*\n{slack_text(body)}"
    SlackNotifier(slack_conn_id=conn_id, channel=channel, text=text).notify(context or {})
