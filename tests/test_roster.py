"""Roster import on workbooks shaped like the real ones, on SQLite and PostgreSQL."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    Campaign,
    Contact,
    ContactRole,
    Event,
    Group,
    Respondent,
    RespondentState,
    Unit,
)
from storage.problems import InputError
from storage.roster import import_roster
from tests.sample import PEOPLE, SONLA_TOML, make_campaign, roster_file
from tests.sheets import CONTACT_HEADER, roster_rows, write_csv, write_xlsx


async def count(session: AsyncSession, model: type[object]) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def people_by_email(session: AsyncSession) -> dict[str, Respondent]:
    rows = await session.scalars(select(Respondent))
    return {r.email or r.phone or "": r for r in rows}


async def test_import_of_a_real_shaped_workbook(
    session: AsyncSession, province: Campaign, tmp_path: Path
) -> None:
    report = await import_roster(session, province, roster_file(tmp_path, PEOPLE), actor="test")
    await session.commit()

    assert (report.rows_read, report.added, report.updated, report.invalid_rows) == (6, 5, 0, 0)
    assert report.sheet == "Danh sách"
    assert [(m.kept_row, m.dropped_row, m.kept_group, m.dropped_group) for m in report.merges] == [
        (12, 7, "Đại biểu HĐND cấp tỉnh", "Lãnh đạo cấp sở")
    ]
    assert "Đại biểu HĐND cấp tỉnh" in report.merges[0].reason_vi

    people = await people_by_email(session)
    assert sorted(people) == [
        "duclv@snv.gov.vn",
        "hoatt@snv.gov.vn",
        "hungnv@sonv.gov.vn",
        "pang.lv@sonla.gov.vn",
        "tuanpm@mocchau.gov.vn",
    ]
    hung = people["hungnv@sonv.gov.vn"]
    groups = {g.id: g.code for g in await session.scalars(select(Group))}
    units = {u.id: u for u in await session.scalars(select(Unit))}
    assert hung.full_name == "Nguyễn Văn Hùng" and unicodedata.is_normalized("NFC", hung.full_name)
    assert groups[hung.group_id] == "hdnd_tinh"
    # The merged row kept the phone the delegate row lacked.
    assert hung.phone == "+84912480190"
    hoa = people["hoatt@snv.gov.vn"]
    assert (hoa.full_name, hoa.phone) == ("Trần Thị Hoà", "+84982627828")
    # The unit cell was merged down over Hoà and Đức.
    assert units[hoa.unit_id].name == "Sở Nội vụ"
    assert units[people["duclv@snv.gov.vn"].unit_id].name == "Sở Nội vụ"
    assert people["duclv@snv.gov.vn"].phone == "+84912521464"
    # Old 11-digit Viettel number 0168 -> 038.
    assert people["pang.lv@sonla.gov.vn"].phone == "+84381234567"
    assert groups[people["pang.lv@sonla.gov.vn"].group_id] == "hdnd_tinh"
    assert {u.name: (u.code, u.kind) for u in units.values()} == {
        "Sở Nội vụ": ("so-noi-vu", "so"),
        "UBND huyện Mộc Châu": ("ubnd-huyen-moc-chau", "huyen"),
        "HĐND tỉnh Sơn La": ("hdnd-tinh-son-la", "hdnd"),
    }
    tokens = [r.token for r in people.values()]
    assert len(set(tokens)) == 5 and all(len(t) >= 22 for t in tokens)
    assert all(r.state == RespondentState.PENDING for r in people.values())
    assert hung.source_ref == "danh-sach.xlsx / Danh sách / dòng 12"

    contacts = {c.full_name: c for c in await session.scalars(select(Contact))}
    assert {n: c.role for n, c in contacts.items()} == {
        "Vũ Thị Lan": ContactRole.UNIT_FOCAL,
        "Đặng Văn Nam": ContactRole.UNIT_FOCAL,
        "Bùi Quang Huy": ContactRole.IT_FOCAL,
        "Phạm Thị Mai": ContactRole.ORGANISER,
    }
    await session.refresh(contacts["Đặng Văn Nam"], ["units"])
    assert sorted(u.name for u in contacts["Đặng Văn Nam"].units) == [
        "HĐND tỉnh Sơn La",
        "UBND huyện Mộc Châu",
    ]
    assert contacts["Bùi Quang Huy"].all_units and not contacts["Vũ Thị Lan"].all_units
    assert report.contacts_added == 4

    kinds = [e.kind for e in await session.scalars(select(Event).order_by(Event.id))]
    assert kinds.count("respondent_added") == 5 and kinds.count("roster_imported") == 1


async def test_invalid_rows_refuse_the_whole_file(
    session: AsyncSession, province: Campaign, tmp_path: Path
) -> None:
    people = [
        [
            "Nguyễn Văn An",
            "Giám đốc",
            "Sở Tài chính",
            "Lãnh đạo cấp sở",
            "an.nv@stc.gov.vn",
            "0912 000 111",
        ],
        [
            "Trần Văn Bình",
            "Phó Giám đốc",
            "Sở Tài chính",
            "Lãnh đạo cấp sở",
            "binh.tv@stc",
            "0912 000 222",
        ],
        ["Lê Thị Cúc", "Trưởng phòng", "Sở Tài chính", "Nhóm 9", "cuc.lt@stc.gov.vn", None],
        [None, "Chuyên viên", "Sở Tài chính", "Lãnh đạo cấp sở", "x@stc.gov.vn", None],
        [
            "Đỗ Văn Em",
            "Phó phòng",
            "Sở Tài chính",
            "Lãnh đạo phòng chuyên môn thuộc sở",
            None,
            "0912480190x",
        ],
    ]
    with pytest.raises(InputError) as caught:
        await import_roster(
            session, province, roster_file(tmp_path, people, contacts=False), actor="test"
        )
    await session.rollback()
    found = [(p.row, p.column, p.value) for p in caught.value.problems]
    assert found == [
        (8, "F (Email)", "binh.tv@stc"),
        (9, "E (Nhóm đối tượng)", "Nhóm 9"),
        (10, "B (Họ và tên)", ""),
        (11, "G (Số điện thoại)", "0912480190x"),
    ]
    assert all(p.file == "danh-sach.xlsx" and p.sheet == "Danh sách" for p in caught.value.problems)
    assert "Đại biểu HĐND cấp tỉnh" in caught.value.problems[1].message_vi  # lists valid groups
    assert "chưa nhập gì" in caught.value.message_vi
    assert await count(session, Respondent) == 0
    assert await count(session, Unit) == 0


async def test_skip_invalid_writes_the_valid_rows_and_lists_the_rest(
    session: AsyncSession, province: Campaign, tmp_path: Path
) -> None:
    people = [
        ["Nguyễn Văn An", "Giám đốc", "Sở Tài chính", "Lãnh đạo cấp sở", "an.nv@stc.gov.vn", None],
        ["Trần Văn Bình", "Phó Giám đốc", "Sở Tài chính", "Lãnh đạo cấp sở", "binh.tv@stc", None],
    ]
    report = await import_roster(
        session,
        province,
        roster_file(tmp_path, people, contacts=False),
        actor="test",
        skip_invalid=True,
    )
    await session.commit()
    assert (report.added, report.invalid_rows, len(report.problems)) == (1, 1, 1)
    assert report.problems[0].row == 8
    assert await count(session, Respondent) == 1


async def test_dry_run_writes_nothing(
    session: AsyncSession, province: Campaign, tmp_path: Path
) -> None:
    report = await import_roster(
        session, province, roster_file(tmp_path, PEOPLE), actor="test", dry_run=True
    )
    await session.commit()
    assert (report.added, report.written, report.units_added) == (5, False, 3)
    assert await count(session, Respondent) == 0
    assert await count(session, Contact) == 0
    assert await count(session, Event) == 1  # only the campaign's creation


async def test_reimport_updates_in_place_and_never_resets_answers(
    session: AsyncSession, province: Campaign, tmp_path: Path
) -> None:
    first = tmp_path / "v1"
    first.mkdir()
    await import_roster(session, province, roster_file(first, PEOPLE), actor="test")
    await session.commit()
    before = await people_by_email(session)
    hung = before["hungnv@sonv.gov.vn"]
    hung.state = RespondentState.ANSWERED
    await session.commit()

    corrected = [list(p) for p in PEOPLE]
    corrected[1][1] = "Giám đốc"  # Hoà was promoted
    corrected[2][4] = "duc.lv@snv.gov.vn"  # Đức's email fixed; matched by phone
    del corrected[4]  # Tuấn left the list
    corrected.append(
        [
            "Hoàng Thị Nga",
            "Phó Chủ tịch UBND huyện",
            "UBND huyện Mộc Châu",
            "Lãnh đạo UBND cấp huyện",
            "ngaht@mocchau.gov.vn",
            None,
        ]
    )
    second = tmp_path / "v2"
    second.mkdir()
    session.expunge_all()
    report = await import_roster(session, province, roster_file(second, corrected), actor="test")
    await session.commit()

    assert (report.added, report.updated, report.unchanged, report.not_in_file) == (1, 2, 2, 1)
    session.expunge_all()
    after = await people_by_email(session)
    assert after["hoatt@snv.gov.vn"].position == "Giám đốc"
    assert after["duc.lv@snv.gov.vn"].id == before["duclv@snv.gov.vn"].id
    for email in ("hungnv@sonv.gov.vn", "hoatt@snv.gov.vn", "pang.lv@sonla.gov.vn"):
        assert after[email].token == before[email].token
    assert after["hungnv@sonv.gov.vn"].state == RespondentState.ANSWERED
    assert "tuanpm@mocchau.gov.vn" in after  # never deleted by a re-import
    updates = (await session.scalars(select(Event).where(Event.kind == "respondent_updated"))).all()
    assert {tuple(sorted(e.data["changed"])) for e in updates} == {("position",), ("email",)}


async def test_same_email_with_two_different_names_is_an_error(
    session: AsyncSession, province: Campaign, tmp_path: Path
) -> None:
    people = [
        ["Nguyễn Văn An", "Giám đốc", "Sở Tài chính", "Lãnh đạo cấp sở", "chung@stc.gov.vn", None],
        [
            "Trần Văn Bình",
            "Phó Giám đốc",
            "Sở Tài chính",
            "Lãnh đạo cấp sở",
            "chung@stc.gov.vn",
            None,
        ],
    ]
    with pytest.raises(InputError) as caught:
        await import_roster(
            session, province, roster_file(tmp_path, people, contacts=False), actor="test"
        )
    (problem,) = caught.value.problems
    assert (problem.row, problem.column, problem.value) == (8, "F (Email)", "chung@stc.gov.vn")
    assert "Nguyễn Văn An" in problem.message_vi and "dòng 7" in problem.message_vi


async def test_contact_scope_must_name_a_known_unit(
    session: AsyncSession, province: Campaign, tmp_path: Path
) -> None:
    path = write_xlsx(
        tmp_path / "ds.xlsx",
        {
            "Danh sách": roster_rows([PEOPLE[0]]),
            "Đầu mối": [
                CONTACT_HEADER,
                [1, "Vũ Thị Lan", "Chuyên viên", "Đầu mối", "Sở Tư pháp", "lan@snv.gov.vn", None],
            ],
        },
    )
    with pytest.raises(InputError) as caught:
        await import_roster(session, province, path, actor="test")
    (problem,) = caught.value.problems
    assert (problem.sheet, problem.row, problem.column, problem.value) == (
        "Đầu mối",
        2,
        "E (Đơn vị phụ trách)",
        "Sở Tư pháp",
    )


async def test_contacts_from_a_second_file(
    session: AsyncSession, province: Campaign, tmp_path: Path
) -> None:
    roster = roster_file(tmp_path, PEOPLE, contacts=False)
    contacts = write_csv(
        tmp_path / "dau-moi.csv",
        [
            CONTACT_HEADER,
            [
                1,
                "Vũ Thị Lan",
                "Chuyên viên",
                "Thủ trưởng đơn vị",
                "so noi vu",
                "lan@snv.gov.vn",
                "",
            ],
        ],
    )
    report = await import_roster(session, province, roster, actor="test", contacts_path=contacts)
    await session.commit()
    assert report.contacts_added == 1
    contact = await session.scalar(select(Contact))
    assert contact is not None and contact.role == ContactRole.UNIT_HEAD
    await session.refresh(contact, ["units"])
    assert [u.name for u in contact.units] == ["Sở Nội vụ"]


async def test_csv_with_bom_and_quota_report(session: AsyncSession, tmp_path: Path) -> None:
    campaign = await make_campaign(session, tmp_path, SONLA_TOML)
    header = ["STT", "Ho ten", "Chuc vu", "Don vi", "Nhom doi tuong", "Email", "SDT"]
    rows: list[list[object]] = [["DANH SÁCH ĐỐI TƯỢNG"], [], header]
    for i in range(2):
        rows.append(
            [
                i + 1,
                f"Nguyễn Văn A{i}",
                "Phó Giám đốc",
                "Sở Tư pháp",
                "Tập thể lãnh đạo cấp sở",
                f"a{i}@stp.gov.vn",
                "",
            ]
        )
    path = write_csv(tmp_path / "ds.csv", rows)
    report = await import_roster(session, campaign, path, actor="test")
    await session.commit()
    assert report.added == 2
    gaps = {(g.unit, g.group): (g.expected, g.actual) for g in report.quota_gaps}
    # Sở Tư pháp is a department: 3 leaders, 5 division leaders and 12 civil servants expected.
    assert gaps[("Sở Tư pháp", "Tập thể lãnh đạo cấp sở")] == (3, 2)
    assert len(gaps) == 3
    assert all(
        actual == 0
        for (_, group), (_, actual) in gaps.items()
        if group != "Tập thể lãnh đạo cấp sở"
    )


async def test_the_signature_block_under_the_list_is_skipped_and_reported(
    session: AsyncSession, province: Campaign, tmp_path: Path
) -> None:
    people: list[list[object]] = [list(PEOPLE[0])]
    rows = roster_rows(people, title=False)
    rows += [
        [],
        [None, "Người lập biểu", None, None, None, "THỦ TRƯỞNG ĐƠN VỊ"],
        [],
        [None, "Vũ Thị Lan", None, None, None, "Trần Văn Bình"],
    ]
    path = write_xlsx(tmp_path / "ds.xlsx", {"Danh sách": rows})
    report = await import_roster(session, province, path, actor="test")
    assert (report.added, report.signature_rows) == (1, [4, 6])


async def test_a_person_right_under_the_list_without_unit_is_still_an_error(
    session: AsyncSession, province: Campaign, tmp_path: Path
) -> None:
    # No blank row between: this is a person whose unit and group were forgotten.
    rows = roster_rows(
        [list(PEOPLE[0]), ["Trần Văn Bình", None, None, None, "binh@snv.gov.vn", None]], title=False
    )
    path = write_xlsx(tmp_path / "ds.xlsx", {"Danh sách": rows})
    with pytest.raises(InputError) as caught:
        await import_roster(session, province, path, actor="test")
    assert {(p.row, p.column) for p in caught.value.problems} == {
        (3, "D (Cơ quan/đơn vị)"),
        (3, "E (Nhóm đối tượng)"),
    }


async def test_a_focal_point_listed_for_two_units_oversees_both(
    session: AsyncSession, province: Campaign, tmp_path: Path
) -> None:
    contacts = write_csv(
        tmp_path / "dau-moi.csv",
        [
            CONTACT_HEADER,
            [1, "Vũ Thị Lan", "Chuyên viên", "Đầu mối", "Sở Nội vụ", "lan@snv.gov.vn", ""],
            [
                2,
                "Vũ Thị Lan",
                "Chuyên viên",
                "Đầu mối",
                "UBND huyện Mộc Châu",
                "LAN@snv.gov.vn",
                "",
            ],
        ],
    )
    roster = roster_file(tmp_path, PEOPLE, contacts=False)
    first = await import_roster(session, province, roster, actor="test", contacts_path=contacts)
    await session.commit()
    assert (first.contacts_added, first.contacts_updated) == (1, 0)
    contact = await session.scalar(select(Contact))
    assert contact is not None
    await session.refresh(contact, ["units"])
    assert sorted(u.name for u in contact.units) == ["Sở Nội vụ", "UBND huyện Mộc Châu"]

    # Re-importing replaces the scope with what the file now says.
    write_csv(
        contacts,
        [
            CONTACT_HEADER,
            [1, "Vũ Thị Lan", "Chuyên viên", "Đầu mối", "HĐND tỉnh Sơn La", "lan@snv.gov.vn", ""],
        ],
    )
    session.expunge_all()
    again = await import_roster(session, province, roster, actor="test", contacts_path=contacts)
    await session.commit()
    assert (again.contacts_added, again.contacts_updated) == (0, 1)
    session.expunge_all()
    contact = await session.scalar(select(Contact))
    assert contact is not None
    await session.refresh(contact, ["units"])
    assert [u.name for u in contact.units] == ["HĐND tỉnh Sơn La"]
