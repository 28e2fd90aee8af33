"""The digests' settings, all `DIGEST_*`: when they are sent, and through which notifier."""

from functools import lru_cache
from typing import Literal, Self

from chassis.jobs import Schedule
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class DigestSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="DIGEST_", env_file=".env", env_ignore_empty=True, extra="ignore"
    )

    # A cron schedule in UTC, e.g. `0 8 * * mon-fri` or `@daily`; an optional leading sixth
    # field is seconds.
    schedule: str = "0 8 * * *"
    notifier: Literal["log", "smtp", "webhook"] = "log"
    webhook_url: str | None = None
    email_from: str | None = None
    # Comma-separated recipients.
    email_to: str | None = None
    send_timeout_seconds: float = Field(default=10.0, gt=0)
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = True

    @field_validator("schedule")
    @classmethod
    def schedule_parses(cls, value: str) -> str:
        Schedule.parse(value)
        return value

    @model_validator(mode="after")
    def notifier_configured(self) -> Self:
        needs = {
            "smtp": {"DIGEST_SMTP_HOST": self.smtp_host, "DIGEST_EMAIL_TO": self.email_to},
            "webhook": {"DIGEST_WEBHOOK_URL": self.webhook_url},
        }.get(self.notifier, {})
        missing = [name for name, value in needs.items() if not value]
        if missing:
            raise ValueError(f"DIGEST_NOTIFIER={self.notifier} needs {', '.join(missing)}")
        return self


@lru_cache
def get_digest_settings() -> DigestSettings:
    return DigestSettings()
