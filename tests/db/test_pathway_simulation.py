"""Six months of pathways on a controlled clock (bench/pathway_sim.py), small enough to run as a test.

The same simulation for 1,000 residents: `python -m bench.pathway_sim --residents 1000`.
"""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from bench.pathway_sim import expected, simulate
from bot.engine.engine import Engine as ConversationEngine

pytestmark = pytest.mark.db


def test_six_months_of_checkins_nudges_and_alerts_exactly(
    db: Engine, conversation: ConversationEngine
) -> None:
    result = simulate(db, conversation, residents=16)
    assert result.counts == expected(16)
    assert result.counts["checkins"] == 176 and result.counts["nudges"] == 64
    assert result.duplicates == 0
    assert result.in_quiet_hours == 0
    # Each at-risk resident is flagged once per reason, however long the silence lasts.
    assert max(result.alerts_per_resident["per_resident"].values()) == 1
