"""Who has answered (imported lists) and the progress derived from it, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.answered import import_answered
from storage.errors import NotFoundError
from storage.models import Campaign, Event, Respondent, RespondentState
from storage.problems import InputError
from storage.progress import campaign_progress
from storage.roster import import_roster
from tests.sample import PEOPLE, roster_file
from tests.sheets import write_csv, write_xlsx

NOW = datetime(2025, 1, 6, 3, 0, tzinfo=UTC)  # Monday 10:00 in Hà Nội


@pytest.fixture
async def roster(
    session: AsyncSession, province: Campaign, tmp_path: Path
) -> dict[str, Respondent]:
    await import_roster(session, province, roster_file(tmp_path, PEOPLE), actor="test")
    await session.commit()
    return {r.email or "": r for r in await session.scalars(select(Respondent))}


async def test_answered_by_token_email_and_phone(
    session: AsyncSession,
    province: Campaign,
    roster: dict[str, Respondent],
    tmp_path: Path,
) -> None:
    token = roster["hoatt@snv.gov.vn"].token
    path = write_xlsx(
        tmp_path / "da-tra-loi.xlsx",
        {
            "Tiến độ": [
                ["CHI TIẾT TIẾN ĐỘ KHẢO SÁT"],
                ["STT", "Mã khảo sát", "Email", "Số điện thoại", "Thời gian hoàn thành"],
                [1, token, None, None, "2025-01-05 20:15:00"],
                [2, None, "HUNGNV@SONV.GOV.VN", None, None],
                [3, None, None, "0381 234 567", None],
                [4, "zzzzzzzzzzzzzzzzzzzz", None, None, None],
                [5, None, "ai.do@khong.vn", None, None],
                [6, None, "hungnv@sonv.gov.vn", None, None],
            ]
        },
    )
    report = await import_answered(session, province, path, actor="test", now=NOW)
    await session.commit()
    assert (report.rows_read, report.newly_answered, report.already_answered) == (6, 3, 1)
    assert [(p.row, p.value) for p in report.unmatched] == [(6, "zzzz…"), (7, "ai.do@khong.vn")]
    # A token is a secret: the report shows only its first characters.
    assert all("zzzzzzzzzzzz" not in (p.value or "") for p in report.unmatched)

    session.expunge_all()
    people = {r.email: r for r in await session.scalars(select(Respondent))}
    hoa = people["hoatt@snv.gov.vn"]
    assert hoa.state == RespondentState.ANSWERED and hoa.answer_source == "import"
    assert hoa.answered_at == datetime(2025, 1, 5, 13, 15, tzinfo=UTC)  # 20:15 in Hà Nội
    assert people["hungnv@sonv.gov.vn"].answered_at == NOW
    assert people["pang.lv@sonla.gov.vn"].state == RespondentState.ANSWERED
    assert people["duclv@snv.gov.vn"].state == RespondentState.PENDING
    events = (await session.scalars(select(Event).where(Event.kind == "answered"))).all()
    assert sorted(e.data["row"] for e in events) == [3, 4, 5]
    assert all(e.data["source"] == "import" and e.data["file"] == "da-tra-loi.xlsx" for e in events)


async def test_answering_is_never_undone_or_overwritten(
    session: AsyncSession,
    province: Campaign,
    roster: dict[str, Respondent],
    tmp_path: Path,
) -> None:
    first = write_csv(tmp_path / "a.csv", [["Email"], ["duclv@snv.gov.vn"]])
    await import_answered(session, province, first, actor="test", now=NOW)
    await session.commit()
    later = datetime(2025, 1, 8, 3, 0, tzinfo=UTC)
    report = await import_answered(session, province, first, actor="test", now=later)
    await session.commit()
    assert (report.newly_answered, report.already_answered) == (0, 1)
    session.expunge_all()
    duc = await session.scalar(select(Respondent).where(Respondent.email == "duclv@snv.gov.vn"))
    assert duc is not None and duc.answered_at == NOW


async def test_a_list_without_identifying_columns_is_refused(
    session: AsyncSession,
    province: Campaign,
    roster: dict[str, Respondent],
    tmp_path: Path,
) -> None:
    path = write_csv(tmp_path / "x.csv", [["Họ và tên", "Ghi chú"], ["Nguyễn Văn Hùng", "xong"]])
    with pytest.raises(InputError) as caught:
        await import_answered(session, province, path, actor="test", now=NOW)
    assert "Email" in caught.value.message_vi or "Email" in caught.value.problems[0].message_vi


async def test_progress_by_unit_and_group(
    session: AsyncSession,
    province: Campaign,
    roster: dict[str, Respondent],
    tmp_path: Path,
) -> None:
    path = write_csv(tmp_path / "a.csv", [["Email"], ["hoatt@snv.gov.vn"], ["hungnv@sonv.gov.vn"]])
    await import_answered(session, province, path, actor="test", now=NOW)
    roster[
        "tuanpm@mocchau.gov.vn"
    ].state = RespondentState.EXCLUDED  # excluded people count nowhere
    await session.commit()

    progress = await campaign_progress(session, province, now=NOW)
    assert (progress.overall.answered, progress.overall.total) == (2, 4)
    assert [(t.name, t.answered, t.total) for t in progress.by_unit] == [
        ("HĐND tỉnh Sơn La", 0, 1),
        ("Sở Nội vụ", 2, 3),
    ]
    assert [(t.code, t.answered, t.total) for t in progress.by_group] == [
        ("hdnd_tinh", 1, 2),
        ("lanh_dao_so", 1, 1),
        ("lanh_dao_phong", 0, 1),
    ]
    assert progress.time_left.total_seconds() == (4 * 24 + 7) * 3600  # to Fri 10/01 17:00
    assert progress.pending is None

    unit = await campaign_progress(session, province, unit="so-noi-vu", with_pending=True, now=NOW)
    assert [(p.full_name, p.group) for p in unit.pending or []] == [
        ("Lê Văn Đức", "Lãnh đạo phòng chuyên môn thuộc sở")
    ]
    by_name = await campaign_progress(session, province, unit="So Noi Vu", now=NOW)
    assert by_name.overall.total == 3
    group = await campaign_progress(
        session, province, group="hdnd_tinh", with_pending=True, now=NOW
    )
    assert [p.full_name for p in group.pending or []] == ["Lò Văn Pấng"]
    with pytest.raises(NotFoundError, match="so-tu-phap"):
        await campaign_progress(session, province, unit="so-tu-phap")
