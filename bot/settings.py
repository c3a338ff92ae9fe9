"""Runtime configuration, read only from the environment (and an optional .env file)."""

from __future__ import annotations

import logging
import secrets
from functools import lru_cache

from pydantic_settings import BaseSettings, SettingsConfigDict

log = logging.getLogger(__name__)


class Settings(BaseSettings):
    """Every knob the operator can turn; names match interfaces.md."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str = "sqlite:///./batissons.db"
    public_base_url: str = "http://127.0.0.1:8000"
    secret_key: str = ""
    timezone: str = "Europe/Paris"
    telegram_bot_token: str | None = None
    telegram_webhook_secret: str | None = None
    telegram_api_base_url: str = "https://api.telegram.org/bot"
    telegram_timeout_seconds: float = 10.0  # each Bot API call (getUpdates adds its long poll)
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_from_number: str | None = None
    twilio_messaging_service_sid: str | None = None
    twilio_api_base_url: str = "https://api.twilio.com"
    twilio_timeout_seconds: float = 10.0  # each REST call; a timed-out send is retried
    log_level: str = "INFO"
    # When counsellors answer (handoff): weekdays, opening and closing times in TIMEZONE; no public holidays
    office_days: str = "mon-fri"
    office_opens: str = "09:00"
    office_closes: str = "17:30"

    def effective_secret_key(self) -> str:
        """The configured secret, or a random one for this process with a warning."""
        if not self.secret_key:
            log.warning("SECRET_KEY is unset: using a random key, sessions end at restart")
            self.secret_key = secrets.token_urlsafe(32)
        return self.secret_key

    @property
    def sms_enabled(self) -> bool:
        """SMS is on when Twilio credentials and a sender are set."""
        return bool(
            self.twilio_account_sid
            and self.twilio_auth_token
            and (self.twilio_from_number or self.twilio_messaging_service_sid)
        )

    @property
    def telegram_enabled(self) -> bool:
        """Telegram is on when a bot token is set."""
        return bool(self.telegram_bot_token)


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings."""
    return Settings()
