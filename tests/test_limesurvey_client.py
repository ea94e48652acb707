"""The RemoteControl client against the local emulator over real HTTP on 127.0.0.1: paging by
participant id, in-band ``{"status": ...}`` errors, expired session keys, server failures."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import httpx
import pytest

from survey.limesurvey import (
    LimeSurveyClient,
    LimeSurveyConfig,
    LimeSurveyRefused,
    LimeSurveyUnavailable,
    Participant,
    parse_completed,
)
from tests.limesurvey_emulator import PATH, LimeSurveyEmulator

SID = 482913
PASSWORD = "mật-khẩu-bí-mật"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def emulator(clock: Clock) -> AsyncIterator[LimeSurveyEmulator]:
    server = LimeSurveyEmulator(users={"dondoc": PASSWORD, "khach": "x"}, clock=clock)
    server.add_survey(SID, readers={"dondoc"})
    async with server:
        yield server


def config(url: str, password: str = PASSWORD, survey_id: int = SID) -> LimeSurveyConfig:
    return LimeSurveyConfig(url=url, user="dondoc", survey_id=survey_id, password=password)


def fill(emulator: LimeSurveyEmulator, n: int) -> list[int]:
    """``n`` participants with holes in the tids; every third one completed with a date stamp,
    a few others with "Y" (anonymised survey) or "Q" (quota screen-out). Returns the done tids."""
    done = []
    for i in range(n):
        tid = emulator.add_participant(
            SID, f"tok{i:04d}xxxxxxxxxxxx", f"p{i}@snv.gov.vn", gap=1 if i % 4 == 0 else 0
        )
        stamp = "2026-11-22 01:34" if i % 3 == 0 else ("Q" if i % 2 else "Y") if i % 7 == 0 else ""
        if stamp:
            emulator.complete(SID, tid, stamp)
            done.append(tid)
    return done


async def collect(client: LimeSurveyClient, page_size: int) -> list[list[Participant]]:
    return [page async for page in client.completed_participants(page_size=page_size)]


async def test_pages_by_participant_id_with_positional_params(
    emulator: LimeSurveyEmulator,
) -> None:
    done = fill(emulator, 40)
    async with LimeSurveyClient(config(emulator.url)) as client:
        pages = await collect(client, 4)
    assert [p.tid for page in pages for p in page] == done
    assert all(len(page) <= 4 for page in pages) and len(pages) >= 4
    calls = [params for method, params in emulator.calls if method == "list_participants"]
    # Positional: key, survey, iStart, iLimit, bUnused, aAttributes, aConditions.
    assert all(isinstance(c, list) and len(c) == 7 for c in calls)
    assert all(c[1] == SID and c[3] == 4 and c[4] is False for c in calls)
    assert all(c[5] == ["completed"] and c[6] == {"completed": ["<>", "N"]} for c in calls)
    starts = [c[2] for c in calls]
    # iStart is the last tid seen + 1, never an offset.
    assert starts[0] == 0
    assert starts[1:] == [page[-1].tid + 1 for page in pages][: len(starts) - 1]
    first = pages[0][0]
    assert first.completed == "2026-11-22 01:34"
    assert first.completed_at == datetime(2026, 11, 21, 18, 34, tzinfo=UTC)
    assert first.email == "p0@snv.gov.vn" and first.token == "tok0000xxxxxxxxxxxx"
    assert {p.completed for page in pages for p in page} == {"2026-11-22 01:34", "Q", "Y"}
    # The token is a secret: not in the participant's repr.
    assert "tok0000" not in repr(first)
    assert emulator.live_keys == 0  # released on close


async def test_nobody_completed_is_an_empty_result_not_an_error(
    emulator: LimeSurveyEmulator,
) -> None:
    emulator.add_participant(SID, "a" * 15, "a@snv.gov.vn")
    async with LimeSurveyClient(config(emulator.url)) as client:
        assert await collect(client, 10) == []
        page = await client.list_participants(0, 10, attributes=["x"], conditions={})
    assert [row["tid"] for row in page] == [1]


async def test_expired_session_key_is_renewed_mid_paging(
    emulator: LimeSurveyEmulator, clock: Clock
) -> None:
    done = fill(emulator, 30)
    async with LimeSurveyClient(config(emulator.url)) as client:
        seen: list[int] = []
        async for page in client.completed_participants(page_size=3):
            seen += [p.tid for p in page]
            clock.now += 7200  # the key's lifetime passes between two pages
        assert seen == done
        assert client.renewals >= 2
    assert emulator.logins == client.renewals + 1


async def test_invalid_session_answer_logs_in_again_once(emulator: LimeSurveyEmulator) -> None:
    fill(emulator, 6)
    async with LimeSurveyClient(config(emulator.url)) as client:
        await client.get_session_key()
        emulator.faults.append("invalid_session")
        pages = await collect(client, 50)
        assert client.renewals == 1 and len(pages) == 1
        # A key refused even right after logging in is a server problem, not an endless loop.
        emulator.faults.extend(["invalid_session"] * 4)
        with pytest.raises(LimeSurveyUnavailable) as caught:
            await collect(client, 50)
        assert caught.value.transient


async def test_wrong_password_is_permanent_and_never_shown(
    emulator: LimeSurveyEmulator,
) -> None:
    wrong = "sai-mat-khau-123"
    cfg = config(emulator.url, password=wrong)
    assert wrong not in repr(cfg)
    async with LimeSurveyClient(cfg) as client:
        assert wrong not in repr(client)
        with pytest.raises(LimeSurveyRefused) as caught:
            await collect(client, 10)
    exc = caught.value
    assert not exc.transient
    assert "dondoc" in exc.message_vi and "mật khẩu" in exc.message_vi
    for text in (exc.message_vi, exc.message_en, str(exc), repr(exc)):
        assert wrong not in text


@pytest.mark.parametrize(
    ("survey_id", "user", "status"),
    [
        (999, "dondoc", "Error: Invalid survey ID"),
        (SID, "khach", "No permission"),
        (777, "dondoc", "Error: No survey participants table"),
    ],
)
async def test_in_band_errors_are_refusals(
    emulator: LimeSurveyEmulator, survey_id: int, user: str, status: str
) -> None:
    emulator.add_survey(777, table=False)
    password = PASSWORD if user == "dondoc" else "x"
    cfg = LimeSurveyConfig(emulator.url, user, survey_id, password)
    async with LimeSurveyClient(cfg) as client:
        with pytest.raises(LimeSurveyRefused) as caught:
            await collect(client, 10)
    assert status in caught.value.message_vi and str(survey_id) in caught.value.message_vi
    assert not caught.value.transient


@pytest.mark.parametrize("fault", ["http500", "drop"])
async def test_server_failures_are_transient_and_the_next_call_works(
    emulator: LimeSurveyEmulator, fault: str
) -> None:
    done = fill(emulator, 9)
    async with LimeSurveyClient(config(emulator.url)) as client:
        await client.get_session_key()
        emulator.faults.append(fault)
        with pytest.raises(LimeSurveyUnavailable) as caught:
            await collect(client, 50)
        assert caught.value.transient
        assert "thử lại" in caught.value.message_vi
        assert [p.tid for page in await collect(client, 50) for p in page] == done


async def test_a_page_that_is_not_json_rpc_is_a_refusal(emulator: LimeSurveyEmulator) -> None:
    emulator.faults.append("html")
    async with LimeSurveyClient(config(emulator.url)) as client:
        with pytest.raises(LimeSurveyRefused) as caught:
            await client.get_session_key()
    assert "JSON-RPC" in caught.value.message_vi
    wrong_path = emulator.url.replace(PATH, "/index.php/admin")
    async with LimeSurveyClient(config(wrong_path)) as client:
        with pytest.raises(LimeSurveyRefused) as caught:
            await client.get_session_key()
    assert "HTTP 404" in caught.value.message_vi


async def test_a_server_that_is_down_is_transient() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with LimeSurveyClient(config(f"http://127.0.0.1:{port}{PATH}")) as client:
        with pytest.raises(LimeSurveyUnavailable) as caught:
            await client.get_session_key()
    assert caught.value.transient and PASSWORD not in caught.value.message_en


async def test_emulator_speaks_the_documented_wire_format(emulator: LimeSurveyEmulator) -> None:
    for i in range(5):
        emulator.add_participant(SID, f"t{i}" * 8, f"x{i}@a.vn", attributes={"attribute_1": "S"})
    emulator.complete(SID, 2, "2026-11-20 08:00")
    async with httpx.AsyncClient() as http:

        async def rpc(method: str, params: object, request_id: int = 1) -> httpx.Response:
            return await http.post(
                emulator.url, json={"method": method, "params": params, "id": request_id}
            )

        key = (await rpc("get_session_key", ["dondoc", PASSWORD])).json()["result"]
        assert isinstance(key, str) and len(key) == 32
        # id 0 is a notification, and a non-JSON content type gets nothing back.
        assert (await rpc("get_session_key", ["dondoc", PASSWORD], 0)).content == b""
        plain = await http.post(emulator.url, content=b"{}", headers={"Content-Type": "text/plain"})
        assert plain.status_code == 200 and plain.content == b""
        # Named params work too (PHP 8); IN lists values after the operator; bUnused = not done.
        named = await rpc(
            "list_participants",
            {
                "sSessionKey": key,
                "iSurveyID": SID,
                "iLimit": 10,
                "aConditions": {"tid": ["IN", 1, 3, 4]},
            },
        )
        assert [r["tid"] for r in named.json()["result"]] == [1, 3, 4]
        unused = await rpc(
            "list_participants", [key, SID, 3, 10, True, ["attribute_1", "nope", "completed"]]
        )
        rows = unused.json()["result"]
        assert [r["tid"] for r in rows] == [3, 4, 5]
        assert rows[0]["attribute_1"] == "S" and "nope" not in rows[0]
        body = (await rpc("list_participants", [key, SID, 6, 10])).json()
        assert body == {
            "id": 1,
            "result": {"status": "No survey participants found."},
            "error": None,
        }
        assert (await rpc("release_session_key", [key])).json()["result"] == "OK"
        stale = await rpc("list_participants", [key, SID])
        assert stale.json()["result"] == {"status": "Invalid session key"}


def test_completion_stamps_are_the_servers_local_time() -> None:
    hcm = ZoneInfo("Asia/Ho_Chi_Minh")
    assert parse_completed("2026-11-22 01:34", hcm) == datetime(2026, 11, 21, 18, 34, tzinfo=UTC)
    assert parse_completed("2026-11-22 01:34:56", hcm) == datetime(
        2026, 11, 21, 18, 34, 56, tzinfo=UTC
    )
    for value in ("Y", "Q", "N", "", "2026-13-40 99:99", "hôm qua lúc 10 giờ sáng"):
        assert parse_completed(value, hcm) is None
