"""The `batissons` command as an operator or a developer uses it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(args: list[str], db: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{db}"}
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )


def test_chat_is_scriptable_in_french_over_sms(tmp_path: Path) -> None:
    out = run(["chat", "--channel", "sms"], tmp_path / "a.db", "Bonjour\n1\n1\nAmina\n93200\n").stdout
    assert "1 Français" in out and "2 English" in out
    assert "Merci Amina. Quel est votre code postal ?" in out
    assert "Etes-vous inscrit à France Travail ?\n1 Oui\n2 Non" in out  # GSM-7: Ê becomes E, à stays
    assert "[SMS: 2 segment(s)]" in out  # the consent text


def test_chat_in_arabic_with_telegram_buttons_and_preset_language(tmp_path: Path) -> None:
    out = run(["chat", "--channel", "telegram", "--lang", "ar"], tmp_path / "b.db", "مرحبا\n1\n").stdout
    assert "Choisissez votre langue" not in out
    assert "هل توافق؟" in out and "[ نعم ]" in out and "[ لا ]" in out
    assert "ما اسمك الأول؟" in out


def test_chat_remembers_the_conversation_between_runs(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    run(["chat", "--as", "amina"], db, "Bonjour\n1\n")
    out = run(["chat", "--as", "amina"], db, "1\n").stdout
    assert "Quel est votre prénom ?" in out


def test_chat_refuses_an_unknown_channel(tmp_path: Path) -> None:
    result = run(["chat", "--channel", "fax"], tmp_path / "d.db")
    assert result.returncode != 0 and "sms, telegram or console" in result.stderr


def test_db_upgrade_creates_the_schema(tmp_path: Path) -> None:
    result = run(["db", "upgrade"], tmp_path / "e.db")
    assert result.returncode == 0 and "up to date" in result.stdout
    assert (tmp_path / "e.db").exists()


@pytest.mark.parametrize("flow", ["onboarding", "menu", "privacy"])
def test_flows_graph_prints_mermaid(tmp_path: Path, flow: str) -> None:
    out = run(["flows", "graph", flow], tmp_path / "f.db").stdout
    assert out.startswith("flowchart TD") and f"{flow}__" in out


def test_flows_check_names_every_flow(tmp_path: Path) -> None:
    out = run(["flows", "check"], tmp_path / "g.db").stdout
    assert "flows are valid" in out and "onboarding" in out


def test_a_long_piped_script_is_answered_line_by_line(tmp_path: Path) -> None:
    # The flood guard protects the SMS budget; a script at the terminal must not be throttled.
    lines = "Bonjour\n1\n1\nAmina\n" + "AIDE\n" * 25
    out = run(["chat"], tmp_path / "h.db", lines).stdout
    assert out.count("Vous pouvez écrire : MENU") == 25 and "beaucoup de messages" not in out
