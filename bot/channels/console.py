"""The console channel: a resident in a terminal, with a preview of how SMS or Telegram shows replies."""

from __future__ import annotations

from bot.channels.base import OutboundMessage
from bot.channels.gsm7 import segment_count
from bot.channels.sms import render_sms
from bot.channels.telegram_render import render_telegram


def render_console(message: OutboundMessage, preview: str = "console") -> str:
    """Plain lines for a terminal, shaped like the channel being previewed."""
    if preview == "sms":
        bodies = render_sms(message)
        return "\n".join(f"{b}\n   [SMS: {segment_count(b)} segment(s)]" for b in bodies)
    if preview == "telegram":
        out = []
        for part in render_telegram(message):
            out.append(part.text)
            out += [f"   [ {label} ]" for label, _ in part.buttons]
        return "\n".join(out)
    lines = [message.text]
    lines += [f"  {n}) {c['label']}" for n, c in enumerate(message.choices, start=1)]
    return "\n".join(lines)


class ConsoleSender:
    """Delivers outbox items to a terminal (or any writer), rendered like the previewed channel."""

    def __init__(self, write: object, preview: str = "console") -> None:
        self.write = write
        self.preview = preview

    async def send(self, item: object) -> object:
        """Print the reply; always accepted."""
        from bot.outbox import SendResult

        self.write(render_console(item.message, self.preview))  # type: ignore[attr-defined,operator]
        return SendResult(ok=True, provider_id=f"console-{item.id}")  # type: ignore[attr-defined]
