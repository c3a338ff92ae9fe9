"""The counsellor API for slots and bookings: tokens, validation, DST series, cancelling, attendance."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.main import create_app
from bot.settings import Settings
from tests.booking_kit import (
    PLACE,
    add_counsellor,
    book_first,
    bookings,
    last_id,
    outbox,
    paris,
    sign_up,
    timers,
)
from tests.conftest import Clock

pytestmark = pytest.mark.db


@pytest.fixture
def client(db_url: str, db: Engine, clock: Clock) -> Iterator[TestClient]:
    app = create_app(
        Settings(database_url=db_url, secret_key="test-secret", _env_file=None), clock, {}, False
    )
    with TestClient(app) as client:
        yield client


@pytest.fixture
def auth(client: TestClient, db: Engine) -> dict[str, str]:
    add_counsellor(db)
    response = client.post(
        "/api/auth/token", data={"username": "LEA@batissons.fr", "password": "correct horse"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    return {"Authorization": f"Bearer {body['access_token']}"}


def slot_body(**changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "kind": "info_session",
        "starts_at": "2026-12-08T10:00:00+01:00",
        "duration_minutes": 90,
        "capacity": 12,
        "place": PLACE,
    }
    body.update(changes)
    return body


# Authentication -------------------------------------------------------------------------------

ROUTES = [
    ("get", "/api/slots"),
    ("post", "/api/slots"),
    ("get", "/api/slots/1"),
    ("patch", "/api/slots/1"),
    ("delete", "/api/slots/1"),
    ("get", "/api/slots/1/bookings"),
    ("post", "/api/bookings/1/attendance"),
]


@pytest.mark.parametrize("method, path", ROUTES)
@pytest.mark.parametrize("header", [None, "Bearer not-a-token", "Basic bGVhOnB3"])
def test_every_api_route_needs_a_valid_bearer_token(
    client: TestClient, method: str, path: str, header: str | None
) -> None:
    headers = {"Authorization": header} if header else {}
    response = client.request(method, path, headers=headers, json={})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_every_api_route_in_the_schema_refuses_a_request_without_token(client: TestClient) -> None:
    """Not only the slots: whatever /api/ route exists (other features' too) needs the bearer token."""
    import re

    schema = client.get("/openapi.json").json()
    checked = 0
    for path, item in schema["paths"].items():
        if not path.startswith("/api/") or path == "/api/auth/token":
            continue
        for method in item:
            response = client.request(method, re.sub(r"\{[^}]+\}", "1", path), json={})
            assert response.status_code == 401, (method, path, response.status_code)
            checked += 1
    assert checked >= len(ROUTES)


def test_a_wrong_password_or_unknown_email_gets_401(client: TestClient, db: Engine) -> None:
    add_counsellor(db)
    for username, password in [("lea@batissons.fr", "wrong"), ("nobody@batissons.fr", "correct horse")]:
        response = client.post("/api/auth/token", data={"username": username, "password": password})
        assert response.status_code == 401


def test_guessing_passwords_is_throttled_then_allowed_again(
    client: TestClient, db: Engine, clock: Clock
) -> None:
    add_counsellor(db)
    for _ in range(5):
        wrong = client.post("/api/auth/token", data={"username": "lea@batissons.fr", "password": "guess"})
        assert wrong.status_code == 401
    right = {"username": "lea@batissons.fr", "password": "correct horse"}
    assert client.post("/api/auth/token", data=right).status_code == 429
    clock.advance(minutes=16)
    assert client.post("/api/auth/token", data=right).status_code == 200


def test_a_nul_byte_in_the_login_is_a_plain_401(client: TestClient, db: Engine) -> None:
    add_counsellor(db)
    response = client.post("/api/auth/token", data={"username": "lea@batissons.fr\x00", "password": "x"})
    assert response.status_code == 401


def test_a_token_signed_with_another_key_is_refused(client: TestClient, db: Engine) -> None:
    from bot.accounts import issue_token
    from bot.store.models import Counsellor

    counsellor_id = add_counsellor(db)
    forged = issue_token("another-secret", Counsellor(id=counsellor_id, email="x", password_hash="x"))
    response = client.get("/api/slots", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401


def test_the_api_is_documented(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/auth/token", "/api/slots", "/api/slots/{slot_id}/bookings"} <= set(paths)


# Slots ----------------------------------------------------------------------------------------


def test_create_read_update_delete_a_slot(client: TestClient, auth: dict[str, str]) -> None:
    created = client.post("/api/slots", json=slot_body(), headers=auth)
    assert created.status_code == 201, created.text
    [slot] = created.json()
    assert slot["seats_left"] == 12 and slot["starts_at"].startswith("2026-12-08T09:00:00")
    assert slot["counsellor_id"] is not None
    got = client.get(f"/api/slots/{slot['id']}", headers=auth).json()
    assert got == slot
    patched = client.patch(f"/api/slots/{slot['id']}", json={"capacity": 8, "place": "video"}, headers=auth)
    assert (
        patched.status_code == 200 and patched.json()["capacity"] == 8 and patched.json()["place"] == "video"
    )
    deleted = client.delete(f"/api/slots/{slot['id']}", headers=auth)
    assert deleted.status_code == 200 and deleted.json()["slot"]["status"] == "cancelled"
    assert client.get("/api/slots", headers=auth).json() == []


def test_explicit_nulls_in_a_patch_change_nothing(client: TestClient, auth: dict[str, str]) -> None:
    [slot] = client.post("/api/slots", json=slot_body(), headers=auth).json()
    nulls = {"capacity": None, "starts_at": None, "duration_minutes": None, "place": None}
    patched = client.patch(f"/api/slots/{slot['id']}", json=nulls, headers=auth)
    assert patched.status_code == 200, patched.text
    assert {k: patched.json()[k] for k in ("capacity", "starts_at", "place")} == {
        k: slot[k] for k in ("capacity", "starts_at", "place")
    }


def test_list_slots_by_time_and_kind(client: TestClient, auth: dict[str, str]) -> None:
    client.post("/api/slots", json=slot_body(), headers=auth)
    client.post(
        "/api/slots",
        json=slot_body(
            kind="interview", capacity=1, starts_at="2026-12-09T14:00:00+01:00", duration_minutes=45
        ),
        headers=auth,
    )
    assert [s["kind"] for s in client.get("/api/slots", headers=auth).json()] == ["info_session", "interview"]
    only = client.get("/api/slots", params={"kind": "interview"}, headers=auth).json()
    assert [s["kind"] for s in only] == ["interview"]
    window = {"from": "2026-12-08T00:00:00+01:00", "to": "2026-12-09T00:00:00+01:00"}
    assert [s["kind"] for s in client.get("/api/slots", params=window, headers=auth).json()] == [
        "info_session"
    ]


@pytest.mark.parametrize(
    "changes, why",
    [
        ({"starts_at": "2026-12-08T10:00:00"}, "timezone"),
        ({"ends_at": "2026-12-08T09:00:00+01:00", "duration_minutes": None}, "ends before it starts"),
        ({"capacity": 0}, "greater than or equal to 1"),
        ({"kind": "interview", "capacity": 3}, "capacity of 1"),
        ({"duration_minutes": 0}, "greater than 0"),
        ({"starts_at": "2026-11-30T10:00:00+01:00"}, "past"),
        ({"kind": "speed_dating"}, "info_session"),
    ],
)
def test_bad_slots_are_refused_with_422(
    client: TestClient, auth: dict[str, str], changes: dict[str, object], why: str
) -> None:
    body = {k: v for k, v in slot_body(**changes).items() if v is not None}
    response = client.post("/api/slots", json=body, headers=auth)
    assert response.status_code == 422, response.text
    assert why in response.text
    assert client.get("/api/slots", headers=auth).json() == []


def test_a_slot_overlapping_the_same_counsellors_slot_is_refused(
    client: TestClient, auth: dict[str, str]
) -> None:
    assert client.post("/api/slots", json=slot_body(), headers=auth).status_code == 201
    clash = client.post("/api/slots", json=slot_body(starts_at="2026-12-08T11:00:00+01:00"), headers=auth)
    assert clash.status_code == 422 and "overlaps" in clash.text
    after = client.post("/api/slots", json=slot_body(starts_at="2026-12-08T11:30:00+01:00"), headers=auth)
    assert after.status_code == 201


def test_a_weekly_series_keeps_its_paris_time_across_the_march_dst_change(
    client: TestClient, auth: dict[str, str]
) -> None:
    # Clocks go forward on Sunday 28 March 2027: 10:00 in Paris is 09:00 UTC before, 08:00 UTC after.
    body = slot_body(starts_at="2027-03-23T10:00:00+01:00", repeat_weekly=3)
    slots = client.post("/api/slots", json=body, headers=auth).json()
    starts = [datetime.fromisoformat(s["starts_at"]) for s in slots]
    assert [s.astimezone(UTC).hour for s in starts] == [9, 8, 8]
    assert [paris_hour(s) for s in starts] == [10, 10, 10]
    assert len({s["series"] for s in slots}) == 1


def test_a_weekly_series_keeps_its_paris_time_across_the_october_dst_change(
    client: TestClient, auth: dict[str, str]
) -> None:
    # Clocks go back on Sunday 31 October 2027.
    body = slot_body(starts_at="2027-10-26T10:00:00+02:00", repeat_weekly=2)
    starts = [
        datetime.fromisoformat(s["starts_at"])
        for s in client.post("/api/slots", json=body, headers=auth).json()
    ]
    assert [s.astimezone(UTC).hour for s in starts] == [8, 9]
    assert [paris_hour(s) for s in starts] == [10, 10]


def test_a_series_that_overlaps_anywhere_is_refused_whole(client: TestClient, auth: dict[str, str]) -> None:
    client.post("/api/slots", json=slot_body(starts_at="2026-12-22T10:00:00+01:00"), headers=auth)
    response = client.post("/api/slots", json=slot_body(repeat_weekly=4), headers=auth)
    assert response.status_code == 422
    assert len(client.get("/api/slots", headers=auth).json()) == 1


def paris_hour(moment: datetime) -> int:
    from zoneinfo import ZoneInfo

    return moment.astimezone(ZoneInfo("Europe/Paris")).hour


# Bookings seen from the API -------------------------------------------------------------------


def test_bookings_of_a_slot_and_attendance(
    client: TestClient, auth: dict[str, str], db: Engine, orchestrator: object, clock: Clock
) -> None:
    slot_id = client.post(
        "/api/slots", json=slot_body(starts_at="2026-12-03T10:00:00+01:00"), headers=auth
    ).json()[0]["id"]
    sign_up(orchestrator, "amina")  # type: ignore[arg-type]
    book_first(orchestrator, "amina")  # type: ignore[arg-type]
    listed = client.get(f"/api/slots/{slot_id}/bookings", headers=auth).json()
    assert [(b["status"], b["seat"]) for b in listed] == [("booked", 1)]
    assert client.get(f"/api/slots/{slot_id}", headers=auth).json()["seats_left"] == 11
    booking_id = listed[0]["id"]
    early = client.post(f"/api/bookings/{booking_id}/attendance", json={"status": "no_show"}, headers=auth)
    assert early.status_code == 422 and "not started" in early.text
    clock.now = paris(2026, 12, 3, 11, 45)
    marked = client.post(f"/api/bookings/{booking_id}/attendance", json={"status": "no_show"}, headers=auth)
    assert marked.status_code == 200 and marked.json()["status"] == "no_show"
    [no_show] = [t for t in timers(db) if t.kind == "no_show"]
    assert no_show.due_at == paris(2026, 12, 4, 9, 0)  # the next morning, once quiet hours end
    bad = client.post(f"/api/bookings/{booking_id}/attendance", json={"status": "late"}, headers=auth)
    assert bad.status_code == 422
    assert (
        client.post("/api/bookings/999/attendance", json={"status": "attended"}, headers=auth).status_code
        == 404
    )


def test_cancelling_a_slot_tells_each_booked_resident_in_their_language_and_offers_another(
    client: TestClient, auth: dict[str, str], db: Engine, orchestrator: object, clock: Clock
) -> None:
    first = client.post(
        "/api/slots", json=slot_body(starts_at="2026-12-03T10:00:00+01:00"), headers=auth
    ).json()
    client.post("/api/slots", json=slot_body(starts_at="2026-12-10T10:00:00+01:00"), headers=auth)
    for address, lang in [("amina", "fr"), ("sam", "en"), ("yassine", "ar")]:
        sign_up(orchestrator, address, lang)  # type: ignore[arg-type]
        book_first(orchestrator, address)  # type: ignore[arg-type]
    assert len(bookings(db, status="booked")) == 3
    before = last_id(db)
    response = client.delete(f"/api/slots/{first[0]['id']}", headers=auth)
    assert response.json()["residents_told"] == 3
    assert len(bookings(db, status="cancelled_by_service")) == 3
    orchestrator.fire_due_timers()  # type: ignore[attr-defined]
    told = {row.address: row for row in outbox(db, before)}
    assert (
        "annulé par le service" in told["amina"].body and "Voulez-vous une autre date ?" in told["amina"].body
    )
    assert "cancelled by the service" in told["sam"].body
    assert "ألغت الخدمة موعدك" in told["yassine"].body
    assert [c["value"] for c in told["amina"].choices] == ["yes", "no"]
    from tests.booking_kit import say

    say(orchestrator, "amina", "oui")  # type: ignore[arg-type]
    offer = outbox(db, before)[-1]
    assert offer.address == "amina" and [c["label"] for c in offer.choices] == ["jeudi 10 décembre à 10h00"]
    assert clock.now < datetime(2026, 12, 3, tzinfo=UTC) + timedelta(days=1)


def test_a_booked_slot_cannot_move_or_shrink_below_its_bookings(
    client: TestClient, auth: dict[str, str], orchestrator: object
) -> None:
    slot = client.post(
        "/api/slots", json=slot_body(starts_at="2026-12-03T10:00:00+01:00"), headers=auth
    ).json()[0]
    sign_up(orchestrator, "amina")  # type: ignore[arg-type]
    book_first(orchestrator, "amina")  # type: ignore[arg-type]
    moved = client.patch(
        f"/api/slots/{slot['id']}", json={"starts_at": "2026-12-04T10:00:00+01:00"}, headers=auth
    )
    assert moved.status_code == 422
    shrunk = client.patch(f"/api/slots/{slot['id']}", json={"capacity": 1}, headers=auth)
    assert shrunk.status_code == 200
    assert client.get(f"/api/slots/{slot['id']}", headers=auth).json()["seats_left"] == 0
    assert client.get("/api/slots/4242", headers=auth).status_code == 404
