"""Golden transcripts: every onboarding path and keyword, in fr, en and ar, over SMS and Telegram.

Regenerate after an intended change with:  UPDATE_GOLDEN=1 pytest tests/engine/test_golden.py
then read the diff: it is exactly what residents will see differently.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.engine.engine import Engine
from tests.engine.transcript import read, replay

GOLDEN = sorted((Path(__file__).parent / "golden").glob("*.txt"))


@pytest.mark.parametrize("path", GOLDEN, ids=[p.stem for p in GOLDEN])
def test_transcript(path: Path, conversation: Engine) -> None:
    transcript = read(path)
    produced = replay(conversation, transcript)
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(produced, encoding="utf-8")
        return
    assert produced == transcript.text, f"{path.name} changed; rerun with UPDATE_GOLDEN=1 and review the diff"


def test_there_are_transcripts_in_every_language_and_channel() -> None:
    names = [p.stem for p in GOLDEN]
    for lang in ("fr", "en", "ar"):
        for channel in ("sms", "telegram"):
            assert any(n.endswith(f".{lang}.{channel}") for n in names), (lang, channel)
