"""A counsellor in a real browser (Debian's Chromium through Playwright) takes over an SMS conversation.

The resident writes over the fake SMS channel (signed Twilio webhooks to a live server); the
counsellor logs in, claims, replies (the reply reaches the fake Twilio), adds a note, hands back,
and the resident gets the main menu again. A resident's <script> stays text on the screen.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from api.main import create_app
from tests.api.inbox_kit import add_account
from tests.channels.twilio_kit import SMS_PATH, LiveServer, inbound_form, settings_for, sign
from tests.fakes.twilio_api import FakeTwilio

CHROMIUM = "/usr/bin/chromium"
BASE = "http://batissons.test"  # PUBLIC_BASE_URL as Twilio sees it (http: the cookie needs no https here)
DOCS = Path(__file__).resolve().parents[2] / "docs"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
SCRIPT = "<script>window.pwned = 1; alert('pwned')</script>"

try:
    from playwright.sync_api import Page, expect, sync_playwright
except ImportError:  # pragma: no cover - the test is skipped below
    sync_playwright = None  # type: ignore[assignment]

pytestmark = [
    pytest.mark.db,
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM),
        reason=f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)",
    ),
    pytest.mark.skipif(sync_playwright is None, reason="the playwright package is not installed"),
]


def wait_until(check: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class Phone:
    """The resident's phone, talking to the live server over HTTP with Twilio's signature."""

    def __init__(self, url: str, fake: FakeTwilio, number: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=10)
        self.fake = fake
        self.number = number

    def send(self, text: str) -> None:
        form = inbound_form(self.number, text)
        signature = sign(self.fake.auth_token, SMS_PATH, form, base=BASE)
        response = self.http.post(SMS_PATH, data=form, headers={"X-Twilio-Signature": signature})
        assert response.status_code == 200, response.text

    def received(self) -> list[str]:
        return [m["body"] for m in self.fake.messages if m["to"] == self.number]

    def wait_for(self, fragment: str) -> None:
        wait_until(lambda: any(fragment in body for body in self.received()), f"an SMS with {fragment!r}")


@pytest.fixture
def live(db_url: str, db: Engine) -> Iterator[tuple[str, FakeTwilio]]:
    with FakeTwilio() as fake:
        app = create_app(settings_for(db_url, fake, public_base_url=BASE))  # the real work loop runs
        add_account(db, "lea@batissons.fr", name="Léa")
        with LiveServer(app) as server:
            yield server.url, fake
        app.state.db.dispose()


def test_a_counsellor_takes_over_an_sms_conversation_and_hands_it_back(live: tuple[str, FakeTwilio]) -> None:
    url, fake = live
    phone = Phone(url, fake, "+33612345678")
    for text in ["Bonjour", "1", "1", "Amina", "93200", "1", "2", "2", "3"]:
        phone.send(text)
    phone.wait_for("Que voulez-vous faire ?")
    phone.send("CONSEILLER")
    phone.wait_for("J'ai demandé à un conseiller")
    phone.send(SCRIPT)
    sent_before = len(phone.received())

    DOCS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page: Page = browser.new_page(viewport={"width": 1200, "height": 900})
        dialogs: list[str] = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

        page.goto(f"{url}/inbox")
        expect(page).to_have_url(f"{url}/login?next=/inbox")
        page.fill("input[name=email]", "lea@batissons.fr")
        page.fill("input[name=password]", "correct horse")
        page.click("button[type=submit]")
        expect(page).to_have_url(f"{url}/inbox")
        row = page.locator("#conversations tbody tr").first
        expect(row).to_contain_text("Amina")
        expect(row).to_contain_text("waiting")
        page.screenshot(path=str(DOCS / "inbox.png"), full_page=True)

        row.locator("a").click()
        page.click("#claim")
        expect(page.locator(".flash")).to_contain_text("You have this conversation")
        expect(page.locator("#status")).to_have_text("assigned")

        frame = page.frame_locator("iframe.transcript")
        expect(frame.locator(".msg.in").last).to_contain_text(SCRIPT)  # shown as text, not run
        assert frame.locator("#messages script").count() == 0
        assert frame.locator("body").evaluate("() => window.pwned") is None

        page.fill("#reply-text", "Bonjour Amina, je suis Léa. Je regarde votre dossier.")
        page.click("#send")
        expect(page.locator(".flash")).to_have_text("Sent.")
        phone.wait_for("Bonjour Amina, je suis Léa.")
        expect(frame.locator(".msg.counsellor").last).to_contain_text("Bonjour Amina, je suis Léa.")
        expect(frame.locator(".msg.counsellor .delivery").last).to_have_text("sent", timeout=10_000)

        page.fill("#note-text", "Intéressée par la maçonnerie, rappeler lundi.")
        page.click("#add-note")
        expect(page.locator("#notes")).to_contain_text("rappeler lundi")
        page.screenshot(path=str(DOCS / "conversation.png"), full_page=True)

        page.set_viewport_size({"width": 390, "height": 844})  # a phone: still usable
        page.reload()
        expect(page.locator("#send")).to_be_visible()
        page.screenshot(path=str(DOCS / "conversation-narrow.png"), full_page=True)
        page.set_viewport_size({"width": 1200, "height": 900})

        page.click("#handback")
        expect(page.locator(".flash")).to_contain_text("Handed back")
        expect(page).to_have_url(f"{url}/inbox")

        page.goto(f"{url}/dashboard")
        expect(page.locator("#target")).to_contain_text("/ 500")
        page.screenshot(path=str(DOCS / "dashboard.png"), full_page=True)

        page.goto(f"{url}/try?channel=telegram")
        page.fill("#try-text", "Bonjour")
        page.click("#try-send")
        page.locator(".buttons button", has_text="Français").click()
        expect(page.locator("#chat .bubble.bot").last).to_be_visible()
        page.screenshot(path=str(DOCS / "try.png"), full_page=True)

        assert page.evaluate("window.pwned") is None
        assert dialogs == [], "a resident's script ran in the counsellor's browser"
        browser.close()

    phone.wait_for("Le conseiller a terminé.")
    assert "Que voulez-vous faire ?" in "\n".join(phone.received()[sent_before:])
    assert not any("rappeler lundi" in body for body in phone.received()), "a private note was sent"
    phone.send("MENU")
    wait_until(lambda: phone.received()[-1].startswith("Que voulez-vous faire ?"), "the bot to answer again")
