"""Where a digest goes. Add a channel: write a class with `name` and `async send(digest)`, and
return it from `build_notifier` for a new `DIGEST_NOTIFIER` value.

A notifier raises when the message was not accepted; the digest is then not recorded as sent.
"""

import asyncio
import smtplib
from email.message import EmailMessage
from typing import Protocol

import httpx
import structlog

from {{ cookiecutter.package_name }}.digests.settings import DigestSettings
from {{ cookiecutter.package_name }}.digests.summary import Digest

log = structlog.get_logger("digests")


class Notifier(Protocol):
    name: str

    async def send(self, digest: Digest) -> None: ...


class LogNotifier:
    """Writes the digest to the log: the default, and enough to see the feature work."""

    name = "log"

    async def send(self, digest: Digest) -> None:
        log.info("digest", **digest.as_dict())


class WebhookNotifier:
    """POSTs the digest as JSON; any answer but 2xx is a failure."""

    name = "webhook"

    def __init__(self, url: str, *, timeout_seconds: float) -> None:
        self.url = url
        self.timeout_seconds = timeout_seconds

    async def send(self, digest: Digest) -> None:
        async with httpx.AsyncClient(timeout=self.timeout_seconds) as client:
            response = await client.post(self.url, json=digest.as_dict())
            response.raise_for_status()


class SmtpNotifier:
    """Sends a plain-text email through an SMTP relay (smtplib, in a thread)."""

    name = "smtp"

    def __init__(self, settings: DigestSettings) -> None:
        self.settings = settings

    async def send(self, digest: Digest) -> None:
        await asyncio.to_thread(self._send_blocking, digest)

    def _send_blocking(self, digest: Digest) -> None:
        settings = self.settings
        # DigestSettings refuses DIGEST_NOTIFIER=smtp without these.
        assert settings.smtp_host
        assert settings.email_to
        message = EmailMessage()
        message["Subject"] = digest.subject
        message["From"] = settings.email_from or f"digests@{settings.smtp_host}"
        message["To"] = ", ".join(recipients(settings.email_to))
        message.set_content(digest.as_text())
        timeout = settings.send_timeout_seconds
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout) as smtp:
            if settings.smtp_starttls:
                smtp.starttls()
            if settings.smtp_username and settings.smtp_password:
                smtp.login(settings.smtp_username, settings.smtp_password.get_secret_value())
            smtp.send_message(message)


def recipients(text: str) -> list[str]:
    return [address.strip() for address in text.split(",") if address.strip()]


def build_notifier(settings: DigestSettings) -> Notifier:
    if settings.notifier == "webhook":
        assert settings.webhook_url  # checked by DigestSettings
        return WebhookNotifier(settings.webhook_url, timeout_seconds=settings.send_timeout_seconds)
    if settings.notifier == "smtp":
        return SmtpNotifier(settings)
    return LogNotifier()
