"""Flows are validated when they load, and drawn as Mermaid graphs from the same data."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.assistant import untranslated
from bot.engine.flow import FLOWS_DIR, FlowError, load_flowset
from bot.engine.mermaid import mermaid
from flows.hooks import HOOKS


def _copy_flows(tmp_path: Path) -> Path:
    for path in FLOWS_DIR.glob("*.yaml"):
        shutil.copy(path, tmp_path / path.name)
    return tmp_path


def test_the_shipped_flows_are_valid_and_fully_translated() -> None:
    flows = load_flowset(translated=untranslated)
    assert {"system", "onboarding", "menu", "language", "privacy", "handoff"} <= set(flows.flows)


@pytest.mark.parametrize(
    "old, new, complaint",
    [
        ("next: postcode", "next: post_code", "route to unknown step 'post_code'"),
        ("hook: check_postcode", "hook: check_zipcode", "unknown hook 'check_zipcode'"),
        ("call: language", "call: languages", "call to unknown flow 'languages'"),
        ('say: "How old are you?"', 'say: "How old are you, really?"', "no fr translation"),
    ],
)
def test_a_broken_flow_is_refused_with_the_step_named(
    tmp_path: Path, old: str, new: str, complaint: str
) -> None:
    folder = _copy_flows(tmp_path)
    path = folder / "onboarding.yaml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(FlowError) as err:
        load_flowset(folder, HOOKS, untranslated)
    assert complaint in str(err.value)
    assert "onboarding." in str(err.value)


def test_yaml_yes_and_no_stay_words(tmp_path: Path) -> None:
    flows = load_flowset(_copy_flows(tmp_path), HOOKS)
    assert set(flows.step("onboarding.consent").routes) == {"yes", "no"}


def test_every_route_appears_in_the_mermaid_graph() -> None:
    flows = load_flowset()
    for name, flow in flows.flows.items():
        graph = mermaid(flows, name)
        assert graph.startswith("flowchart TD")
        for step_id, step in flow.steps.items():
            assert f"{name}__{step_id}" in graph
            for label in step.routes:
                assert f"|{label}|" in graph
    consent = mermaid(flows, "onboarding")
    assert "onboarding__consent -->|yes| onboarding__agreed" in consent
    assert "onboarding__consent -->|no| onboarding__refused" in consent
