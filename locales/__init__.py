"""Babel catalogs: messages.pot and <lang>/LC_MESSAGES/messages.po."""
