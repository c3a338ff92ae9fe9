"""Channels translate between the world and the engine: inbound parsing, outbound rendering, webhooks."""
