"""Focal points, unit heads, the IT focal point and organisers: read from a sheet, with scope.

A contact's scope is the list of units whose progress they may see and are alerted about; the
organiser and the IT focal point see every unit. Re-importing replaces a contact's scope: the
file is the truth about who oversees what.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table as SqlTable
from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.cells import RowChecker
from storage.models import Campaign, Contact, ContactRole, ContactUnit, Event, Unit
from storage.tables import FieldSpec, Table
from storage.text import fold

CONTACT_FIELDS = (
    FieldSpec("full_name", "Họ và tên", ("Họ và tên", "Họ tên", "Full name"), required=True),
    FieldSpec("position", "Chức vụ", ("Chức vụ", "Chức danh", "Position")),
    FieldSpec("role", "Vai trò", ("Vai trò", "Nhiệm vụ", "Role"), required=True),
    FieldSpec(
        "scope",
        "Đơn vị phụ trách",
        ("Đơn vị phụ trách", "Phạm vi", "Cơ quan/đơn vị", "Đơn vị", "Scope"),
        required=True,
    ),
    FieldSpec("email", "Email", ("Email", "E-mail", "Thư điện tử")),
    FieldSpec("phone", "Số điện thoại", ("Số điện thoại", "SĐT", "Điện thoại", "Phone")),
)

CONTACT_SHEETS = ("Đầu mối", "Dau moi", "Cán bộ đầu mối", "Focal points")

ROLE_WORDS: dict[str, ContactRole] = {
    fold(word): role
    for role, words in {
        ContactRole.UNIT_FOCAL: ("Đầu mối", "Cán bộ đầu mối", "Đầu mối đơn vị", "focal"),
        ContactRole.UNIT_HEAD: (
            "Thủ trưởng",
            "Thủ trưởng đơn vị",
            "Lãnh đạo đơn vị",
            "Người đứng đầu",
            "head",
        ),
        ContactRole.IT_FOCAL: ("Đầu mối CNTT", "CNTT", "Cán bộ CNTT", "Kỹ thuật", "IT"),
        ContactRole.ORGANISER: (
            "Cơ quan tổ chức",
            "Tổ chức",
            "Ban tổ chức",
            "Quản trị",
            "organiser",
            "organizer",
        ),
    }.items()
    for word in words
}
ALL_UNITS = {fold(w) for w in ("Tất cả", "Toàn bộ", "Tất cả các đơn vị", "*", "all")}


@dataclass(slots=True)
class ContactRow:
    row: int
    role: ContactRole
    full_name: str
    position: str | None
    email: str | None
    phone: str | None
    all_units: bool
    unit_keys: list[str]


def parse_contacts(table: Table, unit_keys: set[str]) -> tuple[list[ContactRow], RowChecker]:
    checker = RowChecker(table)
    roles = ", ".join(sorted({"Đầu mối", "Thủ trưởng đơn vị", "Đầu mối CNTT", "Cơ quan tổ chức"}))
    contacts: list[ContactRow] = []
    for src in table.rows:
        name = checker.required(src, "full_name", "họ và tên")
        role_cell = checker.required(src, "role", "vai trò")
        scope_cell = checker.required(src, "scope", "đơn vị phụ trách")
        role = ROLE_WORDS.get(fold(role_cell)) if role_cell else None
        if role_cell and role is None:
            checker.problem(
                src.row,
                "role",
                role_cell,
                f"Vai trò không hợp lệ. Hãy ghi một trong: {roles}.",
                "unknown role",
            )
        all_units = fold(scope_cell) in ALL_UNITS
        keys: list[str] = []
        if scope_cell and not all_units:
            for part in scope_cell.replace("\n", ";").split(";"):
                key = fold(part)
                if not key:
                    continue
                if key not in unit_keys:
                    checker.problem(
                        src.row,
                        "scope",
                        part.strip(),
                        "Không có đơn vị này trong danh sách đối tượng. Hãy ghi đúng tên "
                        "đơn vị như ở cột «Cơ quan/đơn vị» (nhiều đơn vị cách nhau bởi dấu ;), "
                        "hoặc «Tất cả».",
                        "scope names a unit that is not in the roster",
                    )
                keys.append(key)
        email = checker.email(src)
        phone = checker.phone(src)
        if not src.values.get("email") and not src.values.get("phone"):
            checker.problem(
                src.row,
                "email",
                "",
                "Cán bộ đầu mối cần có email hoặc số điện thoại để nhận thông báo. "
                "Hãy bổ sung ít nhất một trong hai.",
                "contact without email or phone",
            )
        if src.row in checker.bad_rows or role is None:
            continue
        contacts.append(
            ContactRow(
                row=src.row,
                role=role,
                full_name=name,
                position=src.values.get("position") or None,
                email=email,
                phone=phone,
                all_units=all_units,
                unit_keys=keys,
            )
        )
    return contacts, checker


def _sees_all(row: ContactRow) -> bool:
    return row.all_units or row.role in (ContactRole.ORGANISER, ContactRole.IT_FOCAL)


async def apply_contacts(
    session: AsyncSession,
    campaign: Campaign,
    rows: list[ContactRow],
    units: dict[str, Unit],
    actor: str,
    now: datetime,
) -> tuple[int, int]:
    """Insert or update the contacts of ``rows``; returns (added, updated).

    Set-based, because a national list has thousands of focal points. One person listed on
    several rows with the same role (a focal point for two units) gets the union of the scopes.
    """
    people: dict[tuple[ContactRole, str], tuple[ContactRow, set[int], bool]] = {}
    for row in rows:
        key = (row.role, row.email or row.phone or fold(row.full_name))
        unit_ids = {units[k].id for k in row.unit_keys if k in units}
        if key in people:
            first, scope, sees_all = people[key]
            people[key] = (first, scope | unit_ids, sees_all or _sees_all(row))
        else:
            people[key] = (row, unit_ids, _sees_all(row))

    existing = {
        (role, key): cid
        for cid, role, key in await session.execute(
            select(Contact.id, Contact.role, Contact.person_key).where(
                Contact.campaign_id == campaign.id
            )
        )
    }

    def values(row: ContactRow, sees_all: bool) -> dict[str, Any]:
        return {
            "full_name": row.full_name,
            "position": row.position,
            "email": row.email,
            "phone": row.phone,
            "all_units": sees_all,
            "updated_at": now,
        }

    ids: dict[tuple[ContactRole, str], int] = {}
    new = [
        {
            "campaign_id": campaign.id,
            "role": role,
            "person_key": key,
            "created_at": now,
            **values(row, sees_all),
        }
        for (role, key), (row, _scope, sees_all) in people.items()
        if (role, key) not in existing
    ]
    for start in range(0, len(new), 1000):
        inserted = await session.execute(
            # Rows come back in any order; each carries its own key.
            insert(Contact).returning(Contact.id, Contact.role, Contact.person_key),
            new[start : start + 1000],
        )
        ids.update({(role, key): cid for cid, role, key in inserted})

    changed = [
        {"cid": existing[key], **values(row, sees_all)}
        for key, (row, _scope, sees_all) in people.items()
        if key in existing
    ]
    if changed:
        table = cast(SqlTable, Contact.__table__)
        connection = await session.connection()
        await connection.execute(
            update(table)
            .where(table.c.id == bindparam("cid"))
            .values({name: bindparam(name) for name in changed[0] if name != "cid"}),
            changed,
        )
        ids.update({key: existing[key] for key in people if key in existing})

    # Scope is replaced, not merged: the file is the truth about who oversees what.
    touched = sorted(ids.values())
    for start in range(0, len(touched), 500):
        await session.execute(
            delete(ContactUnit).where(ContactUnit.contact_id.in_(touched[start : start + 500]))
        )
    links = [
        {"contact_id": ids[key], "unit_id": unit_id}
        for key, (_row, scope, _all) in people.items()
        for unit_id in sorted(scope)
    ]
    events = [
        {
            "campaign_id": campaign.id,
            "contact_id": ids[key],
            "kind": "contact_imported",
            "actor": actor,
            "at": now,
            "data": {"role": key[0].value, "units": len(scope), "all": sees_all},
        }
        for key, (_row, scope, sees_all) in people.items()
    ]
    for batch, model in ((links, ContactUnit), (events, Event)):
        for start in range(0, len(batch), 5000):
            await session.execute(insert(model), batch[start : start + 5000])
    return len(new), len(changed)
