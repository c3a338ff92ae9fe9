"""The counsellor API for pathways, residents, alerts and figures: tokens, validation, effects."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from api.main import create_app
from bot.settings import Settings
from bot.store.db import transaction
from bot.store.models import Alert, AuditEntry, CheckIn, Timer
from tests.booking_kit import add_counsellor, sign_up
from tests.conftest import Clock

pytestmark = pytest.mark.db

ROUTES = [
    ("get", "/api/residents/1"),
    ("get", "/api/residents/1/pathway"),
    ("put", "/api/residents/1/pathway"),
    ("get", "/api/alerts"),
    ("get", "/api/stats"),
]
JOB = {
    "step": "job",
    "started_on": "2026-12-01",
    "details": {"contract_type": "CDI", "employer": "Eiffage", "social_clause": True},
    "actions": [{"action": "contract_signed", "status": "done"}],
}


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
        "/api/auth/token", data={"username": "lea@batissons.fr", "password": "correct horse"}
    )
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture
def resident(client: TestClient) -> int:
    """A resident signed up through the real conversation (id 1)."""
    sign_up(client.app.state.orchestrator, "amina")  # type: ignore[attr-defined]
    return 1


def steps(*items: dict[str, object]) -> dict[str, object]:
    return {"steps": list(items)}


@pytest.mark.parametrize("method, path", ROUTES)
@pytest.mark.parametrize("header", [None, "Bearer not-a-token", "Basic abc"])
def test_every_route_refuses_a_missing_or_bad_token(
    client: TestClient, method: str, path: str, header: str | None
) -> None:
    headers = {"Authorization": header} if header else {}
    response = client.request(method, path, headers=headers, json={})
    assert response.status_code == 401


def test_every_pathway_route_is_in_the_matrix(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    listed = {(m, p.replace("1", "{resident_id}")) for m, p in ROUTES}
    for path, item in schema["paths"].items():
        if path.startswith(("/api/residents", "/api/alerts", "/api/stats")):
            for method in item:
                assert (method, path) in listed, (method, path)


def test_put_then_get_a_pathway(client: TestClient, auth: dict[str, str], resident: int, db: Engine) -> None:
    body = steps(
        {"step": "first_contact", "started_on": "2026-10-01", "ended_on": "2026-10-01"},
        {"step": "diagnostic_interview", "started_on": "2026-10-08", "ended_on": "2026-10-08"},
        {"step": "trade_project", "started_on": "2026-10-15", "details": {"rome_code": "F1703"}},
        {
            "step": "training",
            "started_on": "2026-11-02",
            "ended_on": "2026-11-27",
            "details": {"course": "TP Maçon, AFPA Stains"},
        },
        JOB,
    )
    response = client.put(f"/api/residents/{resident}/pathway", json=body, headers=auth)
    assert response.status_code == 200, response.text
    got = client.get(f"/api/residents/{resident}/pathway", headers=auth).json()
    assert got == response.json()
    assert got["current_step"] == "job" and got["open"] is True
    assert [s["step"] for s in got["steps"]] == [
        "first_contact",
        "diagnostic_interview",
        "trade_project",
        "training",
        "job",
    ]
    assert got["steps"][4]["theme"] == "Employment"
    assert got["steps"][4]["details"]["social_clause"] is True
    assert got["next_checkin_at"] == "2026-12-08T09:00:00Z"  # day 7, 10:00 in Paris
    with transaction(db) as session:
        kinds = sorted(t.kind for t in session.scalars(select(Timer)).all())
    # The job's 11 check-ins, its message to the resident, the 30-day silence watch.
    assert kinds == ["checkin"] * 11 + ["no_contact", "step_message"]


def test_the_same_pathway_twice_schedules_nothing_twice(
    client: TestClient, auth: dict[str, str], resident: int, db: Engine
) -> None:
    for _ in range(2):
        assert (
            client.put(f"/api/residents/{resident}/pathway", json=steps(JOB), headers=auth).status_code == 200
        )
    with transaction(db) as session:
        assert len(session.scalars(select(Timer)).all()) == 13


def test_a_new_step_cancels_the_old_steps_checkins(
    client: TestClient, auth: dict[str, str], resident: int, db: Engine
) -> None:
    training = {"step": "training", "started_on": "2026-12-01", "details": {"course": "TP Maçon"}}
    client.put(f"/api/residents/{resident}/pathway", json=steps(training), headers=auth)
    exit_ = {"step": "exit", "started_on": "2026-12-20", "details": {"reason": "moved_away"}}
    response = client.put(f"/api/residents/{resident}/pathway", json=steps(training, exit_), headers=auth)
    assert response.json()["open"] is False and response.json()["next_checkin_at"] is None
    with transaction(db) as session:
        pending = session.scalars(select(Timer).where(Timer.fired_at.is_(None))).all()
    assert [t.kind for t in pending] == ["step_message"]  # the training's; exit has no message


@pytest.mark.parametrize(
    "body, loc",
    [
        (steps({"step": "astronaut", "started_on": "2026-12-01"}), ["body", "steps", 0, "step"]),
        (
            steps({**JOB, "started_on": "2026-12-10", "ended_on": "2026-12-01"}),
            ["body", "steps", 0, "ended_on"],
        ),
        (
            steps({"step": "first_contact", "started_on": "2026-12-05"}, {**JOB, "started_on": "2026-12-01"}),
            ["body", "steps", 1, "started_on"],
        ),
        (
            steps({**JOB, "details": {"employer": "Eiffage"}}),
            ["body", "steps", 0, "details", "contract_type"],
        ),
        (
            steps({"step": "trade_project", "started_on": "2026-12-01", "details": {"rome_code": "X"}}),
            ["body", "steps", 0, "details", "rome_code"],
        ),
        (
            steps({**JOB, "actions": [{"action": "x", "status": "maybe"}]}),
            ["body", "steps", 0, "actions", 0, "status"],
        ),
        (steps({**JOB, "started_on": "01/12/2026"}), ["body", "steps", 0, "started_on"]),
    ],
)
def test_a_bad_pathway_is_a_422_naming_the_field(
    client: TestClient, auth: dict[str, str], resident: int, body: dict[str, object], loc: list[object]
) -> None:
    response = client.put(f"/api/residents/{resident}/pathway", json=body, headers=auth)
    assert response.status_code == 422
    assert loc in [e["loc"] for e in response.json()["detail"]], response.json()


def test_an_unknown_resident_is_a_404(client: TestClient, auth: dict[str, str]) -> None:
    assert client.get("/api/residents/99", headers=auth).status_code == 404
    assert client.put("/api/residents/99/pathway", json=steps(JOB), headers=auth).status_code == 404


def test_the_resident_with_pathway_checkins_and_alerts(
    client: TestClient, auth: dict[str, str], resident: int, clock: Clock
) -> None:
    client.put(f"/api/residents/{resident}/pathway", json=steps(JOB), headers=auth)
    orchestrator = client.app.state.orchestrator  # type: ignore[attr-defined]
    clock.advance(days=7)
    orchestrator.fire_due_timers()
    from tests.booking_kit import say

    say(orchestrator, "amina", "2")
    say(orchestrator, "amina", "5")  # housing
    body = client.get(f"/api/residents/{resident}", headers=auth).json()
    assert body["profile"]["first_name"] == "Amina"
    assert body["pathway"]["current_step"] == "job"
    assert [(c["answer"], c["difficulty"], c["status"]) for c in body["checkins"]] == [
        ("difficulties", "housing", "answered")
    ]
    assert [(a["reason"], a["priority"], a["detail"]["difficulty"]) for a in body["alerts"]] == [
        ("difficulties", "medium", "housing")
    ]
    alerts = client.get("/api/alerts?status=open", headers=auth).json()
    assert [a["reason"] for a in alerts] == ["difficulties"]
    assert client.get("/api/alerts?status=closed", headers=auth).json() == []
    assert client.get("/api/alerts?status=nonsense", headers=auth).status_code == 422


def test_stats(client: TestClient, auth: dict[str, str], db: Engine, clock: Clock) -> None:
    orchestrator = client.app.state.orchestrator  # type: ignore[attr-defined]
    for name in ("a", "b", "c"):
        sign_up(orchestrator, name)
    empty = client.get("/api/stats", headers=auth).json()
    assert empty["checkins"]["response_rate"] is None
    assert empty["median_minutes_alert_to_first_action"] is None
    client.put("/api/residents/1/pathway", json=steps(JOB), headers=auth)
    client.put("/api/residents/2/pathway", json=steps(JOB), headers=auth)
    lasting = {"step": "lasting_job", "started_on": "2027-06-01"}
    client.put(
        "/api/residents/3/pathway", json=steps({**JOB, "started_on": "2026-12-01"}, lasting), headers=auth
    )
    clock.advance(days=7)
    orchestrator.fire_due_timers()
    from tests.booking_kit import say

    say(orchestrator, "a", "1")
    say(orchestrator, "b", "3")  # talk to my advisor: a high alert
    stats = client.get("/api/stats", headers=auth).json()
    assert stats["residents_per_step"]["job"] == 2
    assert stats["residents_per_step"]["lasting_job"] == 1
    assert stats["residents_per_step"]["training"] == 0
    assert stats["lasting_jobs"] == {"count": 1, "target": 500}
    assert stats["checkins"] == {"sent": 2, "answered": 2, "response_rate": 1.0}
    assert stats["residents_at_risk"] == 1
    assert stats["median_minutes_alert_to_first_action"] is None
    with transaction(db) as session:
        alert = session.scalars(select(Alert)).one()
        assert alert.reason == "talk" and alert.priority == "high"
        assert len(session.scalars(select(CheckIn)).all()) == 2
        # The inbox's audit log: a look is not an action; the claim 42 minutes later is.
        for minutes, action in [(5, "view"), (42, "claim"), (50, "reply")]:
            session.add(
                AuditEntry(
                    counsellor_id=1,
                    action=action,
                    resident_id=2,
                    at=alert.created_at + timedelta(minutes=minutes),
                )
            )
    assert client.get("/api/stats", headers=auth).json()["median_minutes_alert_to_first_action"] == 42.0
