"""Fixtures of the channel tests."""

from tests.channels.twilio_kit import sms_app, sms_client, twilio  # noqa: F401  (fixtures)
