"""Roster import: respondents and their focal points from an office spreadsheet into a campaign.

The import is planned entirely in memory first (read, normalise, validate, merge people listed
twice, match to who is already recorded), then applied in one transaction. So a file with any
invalid row changes nothing unless the organiser asks for ``skip_invalid``, and a dry run shows
exactly what would happen. Re-importing a corrected file updates people in place: their token,
their answered state and their history are never touched.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.campaign_file import GroupSpec, UnitKindSpec, infer_unit_kind
from storage.cells import RowChecker
from storage.contacts import (
    CONTACT_FIELDS,
    CONTACT_SHEETS,
    ContactRow,
    apply_contacts,
    parse_contacts,
)
from storage.models import (
    Campaign,
    Event,
    Group,
    Respondent,
    RespondentState,
    Unit,
    utcnow,
)
from storage.problems import InputError, Problem
from storage.quotas import QuotaGap, quota_gaps, spec_groups, unit_gaps
from storage.tables import FieldSpec, Table, read_sheets, read_table, split_signature_block
from storage.text import fold, slug

Progress = Callable[[str, int, int], None]
"""Called as (step, done, total) while a long import runs; the CLI draws a bar with it."""

ROSTER_FIELDS = (
    FieldSpec(
        "full_name",
        "Họ và tên",
        ("Họ và tên", "Họ tên", "Họ và tên đối tượng", "Full name", "Name"),
        required=True,
    ),
    FieldSpec("position", "Chức vụ", ("Chức vụ", "Chức danh", "Chức vụ, chức danh", "Position")),
    FieldSpec(
        "unit",
        "Cơ quan/đơn vị",
        (
            "Cơ quan/đơn vị",
            "Cơ quan, đơn vị",
            "Cơ quan đơn vị công tác",
            "Đơn vị công tác",
            "Đơn vị",
            "Cơ quan",
            "Unit",
        ),
        required=True,
    ),
    FieldSpec(
        "group",
        "Nhóm đối tượng",
        ("Nhóm đối tượng", "Đối tượng", "Nhóm", "Group"),
        required=True,
    ),
    FieldSpec("email", "Email", ("Email", "E-mail", "Thư điện tử", "Địa chỉ email", "Hộp thư")),
    FieldSpec(
        "phone",
        "Số điện thoại",
        ("Số điện thoại", "SĐT", "Điện thoại", "Số ĐT", "Di động", "Phone"),
    ),
)


@dataclass(frozen=True, slots=True)
class Merge:
    """Two rows that are one person; the group with the better priority was kept."""

    kept_row: int
    dropped_row: int
    full_name: str
    kept_group: str
    dropped_group: str
    reason_vi: str


@dataclass(slots=True)
class RosterReport:
    file: str
    sheet: str | None
    rows_read: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    invalid_rows: int = 0
    units_added: int = 0
    contacts_added: int = 0
    contacts_updated: int = 0
    not_in_file: int = 0
    # Rows of the signature block under the list, skipped.
    signature_rows: list[int] = field(default_factory=list)
    merges: list[Merge] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    quota_gaps: list[QuotaGap] = field(default_factory=list)
    written: bool = False


@dataclass(slots=True)
class _Person:
    row: int
    full_name: str
    position: str | None
    unit_name: str
    group: GroupSpec
    email: str | None
    phone: str | None
    merged_rows: list[int] = field(default_factory=list)


def _parse_people(
    table: Table, groups: list[GroupSpec], campaign_code: str
) -> tuple[list[_Person], RowChecker]:
    checker = RowChecker(table)
    by_key: dict[str, GroupSpec] = {}
    for position, spec in enumerate(groups, start=1):
        for key in spec.match_keys(position):
            by_key.setdefault(key, spec)
    if len(groups) <= 5:
        choices = "; ".join(f"{i}. {g.name}" for i, g in enumerate(groups, start=1))
        hint = f"Hãy ghi một trong các nhóm: {choices} (ghi tên nhóm hoặc số thứ tự của nhóm)."
    else:
        # Long official names repeated on every bad row would bury the rows themselves.
        hint = (
            f"Hãy ghi đúng tên nhóm hoặc số thứ tự của nhóm (từ 1 đến {len(groups)}); "
            f"xem các nhóm bằng lệnh: dondoc campaign show {campaign_code}"
        )
    people: list[_Person] = []
    for src in table.rows:
        name = checker.required(src, "full_name", "họ và tên")
        unit = checker.required(src, "unit", "cơ quan/đơn vị")
        group_cell = checker.required(src, "group", "nhóm đối tượng")
        group = by_key.get(fold(group_cell)) if group_cell else None
        if group_cell and group is None:
            checker.problem(
                src.row,
                "group",
                group_cell,
                f"Nhóm đối tượng không có trong đợt khảo sát này. {hint}",
                "unknown group",
            )
        email = checker.email(src)
        phone = checker.phone(src)
        if not src.values.get("email") and not src.values.get("phone"):
            checker.problem(
                src.row,
                "email",
                "",
                "Chưa có email hoặc số điện thoại nên không gửi được đường dẫn khảo sát. "
                "Hãy bổ sung ít nhất một trong hai.",
                "neither email nor phone",
            )
        if src.row in checker.bad_rows or group is None:
            continue
        people.append(
            _Person(
                row=src.row,
                full_name=name,
                position=src.values.get("position") or None,
                unit_name=unit,
                group=group,
                email=email,
                phone=phone,
            )
        )
    return people, checker


def _merge_duplicates(
    people: list[_Person], checker: RowChecker
) -> tuple[list[_Person], list[Merge]]:
    """One person listed twice (same email or phone) keeps the group that wins by priority."""
    merged: list[_Person] = []
    by_contact: dict[str, _Person] = {}
    merges: list[Merge] = []
    for person in people:
        keys = [k for k in (person.email, person.phone) if k]
        owners = {id(by_contact[k]): by_contact[k] for k in keys if k in by_contact}
        if not owners:
            merged.append(person)
            for k in keys:
                by_contact[k] = person
            continue
        if len(owners) > 1:
            first, second = owners.values()
            checker.problem(
                person.row,
                "email",
                person.email or "",
                f"Email trùng với dòng {first.row} nhưng số điện thoại trùng với dòng "
                f"{second.row} (hai người khác nhau). Hãy kiểm tra lại email và số điện thoại.",
                f"email and phone belong to different earlier rows {first.row}, {second.row}",
            )
            continue
        other = next(iter(owners.values()))
        if fold(other.full_name) != fold(person.full_name):
            shared = "email" if person.email and person.email == other.email else "phone"
            label = "Email" if shared == "email" else "Số điện thoại"
            checker.problem(
                person.row,
                shared,
                (person.email if shared == "email" else person.phone) or "",
                f"{label} này đã dùng cho «{other.full_name}» ở dòng {other.row}, khác tên "
                f"với «{person.full_name}». Mỗi người cần email và số điện thoại riêng.",
                f"{shared} already used by a different name on row {other.row}",
            )
            continue
        keep, drop = (
            (other, person)
            if other.group.priority <= person.group.priority
            else (
                person,
                other,
            )
        )
        same_group = keep.group.code == drop.group.code
        reason = (
            f"«{keep.full_name}» có tên hai lần trong cùng nhóm; giữ một dòng."
            if same_group
            else f"«{keep.full_name}» có tên trong hai nhóm; theo hướng dẫn, giữ nhóm "
            f"«{keep.group.name}» (ưu tiên cao hơn «{drop.group.name}»)."
        )
        merges.append(
            Merge(
                kept_row=keep.row,
                dropped_row=drop.row,
                full_name=keep.full_name,
                kept_group=keep.group.name,
                dropped_group=drop.group.name,
                reason_vi=reason,
            )
        )
        keep.email = keep.email or drop.email
        keep.phone = keep.phone or drop.phone
        keep.merged_rows.append(drop.row)
        if keep is person:
            merged[merged.index(other)] = person
        for contact_key in (keep.email, keep.phone):
            if contact_key:
                by_contact[contact_key] = keep
    return merged, merges


def _read_tables(path: Path, contacts_path: Path | None) -> tuple[Table, Table | None]:
    """The roster table and, if there is one, the focal points' table; each file read once."""
    sheets = read_sheets(path)
    roster = read_table(path, ROSTER_FIELDS, exclude_sheets=CONTACT_SHEETS, sheets=sheets)
    if contacts_path is not None:
        return roster, read_table(contacts_path, CONTACT_FIELDS)
    names = {fold(s.name) for s in sheets if s.name}
    for name in CONTACT_SHEETS:
        if fold(name) in names:
            return roster, read_table(path, CONTACT_FIELDS, sheet=name, sheets=sheets)
    return roster, None


async def import_roster(
    session: AsyncSession,
    campaign: Campaign,
    path: Path,
    *,
    actor: str,
    dry_run: bool = False,
    skip_invalid: bool = False,
    contacts_path: Path | None = None,
    progress: Progress | None = None,
) -> RosterReport:
    """Plan the import of ``path`` into ``campaign`` and apply it unless refused or a dry run.

    Raises InputError (nothing written) when a row is invalid and ``skip_invalid`` is false.
    The caller owns the transaction: this function flushes, the caller commits.
    """
    step = progress or (lambda _step, _done, _total: None)
    step("read", 0, 1)
    # Reading a big workbook takes a second or more: keep the event loop free meanwhile.
    table, contact_table = await asyncio.to_thread(_read_tables, path, contacts_path)
    step("read", 1, 1)
    data_rows, signature = split_signature_block(table.rows, ("unit", "group"))
    table = replace(table, rows=data_rows)
    report = RosterReport(
        file=table.file,
        sheet=table.sheet,
        rows_read=len(data_rows),
        signature_rows=[r.row for r in signature],
    )

    groups = list(
        await session.scalars(
            select(Group).where(Group.campaign_id == campaign.id).order_by(Group.priority)
        )
    )
    group_specs = spec_groups(groups)
    group_ids = {g.code: g.id for g in groups}
    people, checker = _parse_people(table, group_specs, campaign.code)
    people, report.merges = _merge_duplicates(people, checker)
    step("check", len(table.rows), len(table.rows))

    units = {
        u.name_key: u
        for u in await session.scalars(select(Unit).where(Unit.campaign_id == campaign.id))
    }
    file_unit_names: dict[str, str] = {}
    for person in people:
        file_unit_names.setdefault(fold(person.unit_name), person.unit_name)

    contact_rows: list[ContactRow] = []
    contact_checker: RowChecker | None = None
    if contact_table is not None:
        contact_rows, contact_checker = parse_contacts(
            contact_table, set(units) | set(file_unit_names)
        )

    existing = list(
        await session.scalars(select(Respondent).where(Respondent.campaign_id == campaign.id))
    )
    by_email = {r.email: r for r in existing if r.email}
    by_phone = {r.phone: r for r in existing if r.phone}
    matches: list[tuple[_Person, Respondent | None]] = []
    for person in people:
        found_email = by_email.get(person.email) if person.email else None
        found_phone = by_phone.get(person.phone) if person.phone else None
        if found_email and found_phone and found_email is not found_phone:
            checker.problem(
                person.row,
                "phone",
                person.phone or "",
                f"Email đã được ghi cho «{found_email.full_name}» nhưng số điện thoại đã được "
                f"ghi cho «{found_phone.full_name}» trong lần nhập trước. Hãy kiểm tra lại.",
                "email and phone match two different recorded people",
            )
            continue
        matches.append((person, found_email or found_phone))

    report.problems = checker.problems + (contact_checker.problems if contact_checker else [])
    bad_rows = checker.bad_rows
    report.invalid_rows = len(bad_rows) + (len(contact_checker.bad_rows) if contact_checker else 0)
    if report.problems and not skip_invalid:
        raise InputError(
            report.problems,
            f"Tệp {table.file} có {len(report.problems)} lỗi ở {report.invalid_rows} dòng; "
            "chưa nhập gì. Hãy sửa các lỗi dưới đây rồi nhập lại "
            "(hoặc dùng --skip-invalid để chỉ nhập các dòng hợp lệ).",
            f"roster {table.file} refused: {len(report.problems)} problems",
        )
    matches = [(p, r) for p, r in matches if p.row not in bad_rows]

    kinds = [
        UnitKindSpec(code=k["code"], name=k["name"], match=tuple(k["match"]))
        for k in campaign.unit_kinds
    ]
    new_units = {k: n for k, n in file_unit_names.items() if k not in units}
    report.units_added = len(new_units)

    seen_ids = {r.id for _, r in matches if r is not None}
    report.not_in_file = sum(1 for r in existing if r.id not in seen_ids)
    changes: list[tuple[_Person, Respondent, dict[str, Any]]] = []
    additions: list[_Person] = []
    for person, found in matches:
        if found is None:
            additions.append(person)
            continue
        changes.append((person, found, {}))

    if dry_run:
        report.added = len(additions)
        for person, found, _ in changes:
            unit = units.get(fold(person.unit_name))
            if _diff(found, person, unit.id if unit else None, group_ids):
                report.updated += 1
            else:
                report.unchanged += 1
        report.quota_gaps = _planned_gaps(group_specs, group_ids, kinds, units, people, existing)
        return report

    used_codes = {u.code for u in units.values()}
    for key, name in new_units.items():
        code = _unique_code(slug(name) or "don-vi", used_codes)
        unit = Unit(
            campaign_id=campaign.id,
            code=code,
            name=name,
            name_key=key,
            kind=infer_unit_kind(name, kinds),
        )
        session.add(unit)
        units[key] = unit
    await session.flush()

    now = utcnow()
    source = table.file if table.sheet is None else f"{table.file} / {table.sheet}"
    rows: list[dict[str, Any]] = []
    for person in additions:
        rows.append(
            {
                "campaign_id": campaign.id,
                "full_name": person.full_name,
                "name_key": fold(person.full_name),
                "position": person.position,
                "unit_id": units[fold(person.unit_name)].id,
                "group_id": group_ids[person.group.code],
                "email": person.email,
                "phone": person.phone,
                "token": secrets.token_urlsafe(24),
                "source_ref": f"{source} / dòng {person.row}",
                "created_at": now,
                "updated_at": now,
            }
        )
    events: list[dict[str, Any]] = []
    total = len(rows)
    for start in range(0, total, 2000):
        chunk = rows[start : start + 2000]
        inserted = await session.execute(
            # Rows come back in any order; each carries what its event needs.
            insert(Respondent).returning(Respondent.id, Respondent.source_ref),
            chunk,
        )
        events.extend(
            {
                "campaign_id": campaign.id,
                "respondent_id": rid,
                "kind": "respondent_added",
                "actor": actor,
                "at": now,
                "data": {"source": ref},
            }
            for rid, ref in inserted
        )
        step("write", start + len(chunk), total)
    report.added = total

    for person, found, _ in changes:
        unit_id = units[fold(person.unit_name)].id
        diff = _diff(found, person, unit_id, group_ids)
        if not diff:
            report.unchanged += 1
            continue
        report.updated += 1
        await session.execute(
            update(Respondent)
            .where(Respondent.id == found.id)
            .values(
                full_name=person.full_name,
                name_key=fold(person.full_name),
                position=person.position,
                unit_id=unit_id,
                group_id=group_ids[person.group.code],
                email=person.email,
                phone=person.phone,
                source_ref=f"{source} / dòng {person.row}",
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        events.append(
            {
                "campaign_id": campaign.id,
                "respondent_id": found.id,
                "kind": "respondent_updated",
                "actor": actor,
                "at": now,
                "data": {"file": source, "row": person.row, "changed": diff},
            }
        )
    for start in range(0, len(events), 5000):
        await session.execute(insert(Event), events[start : start + 5000])

    if contact_rows:
        added, updated = await apply_contacts(session, campaign, contact_rows, units, actor, now)
        report.contacts_added, report.contacts_updated = added, updated

    session.add(
        Event(
            campaign_id=campaign.id,
            kind="roster_imported",
            actor=actor,
            at=now,
            data={
                "file": source,
                "rows": report.rows_read,
                "added": report.added,
                "updated": report.updated,
                "unchanged": report.unchanged,
                "invalid_rows": report.invalid_rows,
                "merges": len(report.merges),
                "units_added": report.units_added,
            },
        )
    )
    await session.flush()
    report.quota_gaps = await quota_gaps(session, campaign)
    report.written = True
    return report


def _diff(
    found: Respondent, person: _Person, unit_id: int | None, group_ids: dict[str, int]
) -> dict[str, list[Any]]:
    wanted: dict[str, Any] = {
        "full_name": person.full_name,
        "position": person.position,
        "unit_id": unit_id,
        "group_id": group_ids[person.group.code],
        "email": person.email,
        "phone": person.phone,
    }
    return {
        name: [getattr(found, name), value]
        for name, value in wanted.items()
        if getattr(found, name) != value
    }


def _unique_code(base: str, used: set[str]) -> str:
    base = base[:60]
    code, n = base, 2
    while code in used:
        code = f"{base[:56]}-{n}"
        n += 1
    used.add(code)
    return code


def _planned_gaps(
    groups: list[GroupSpec],
    group_ids: dict[str, int],
    kinds: list[UnitKindSpec],
    units: dict[str, Unit],
    people: list[_Person],
    existing: list[Respondent],
) -> list[QuotaGap]:
    """Quota check of a dry run: the file's people plus those recorded and not in the file."""
    code_of = {gid: code for code, gid in group_ids.items()}
    unit_of = {u.id: u for u in units.values()}
    names: dict[str, str] = {}
    counts: dict[str, dict[str, int]] = {}
    in_file = {p.email for p in people if p.email} | {p.phone for p in people if p.phone}

    def add(key: str, name: str, code: str) -> None:
        names.setdefault(key, name)
        per_group = counts.setdefault(key, {})
        per_group[code] = per_group.get(code, 0) + 1

    for person in people:
        add(fold(person.unit_name), person.unit_name, person.group.code)
    for r in existing:
        if (r.email and r.email in in_file) or (r.phone and r.phone in in_file):
            continue
        if r.state != RespondentState.EXCLUDED and r.unit_id in unit_of:
            unit = unit_of[r.unit_id]
            add(unit.name_key, unit.name, code_of[r.group_id])
    gaps: list[QuotaGap] = []
    for key, name in sorted(names.items()):
        kind = units[key].kind if key in units else infer_unit_kind(name, kinds)
        gaps.extend(unit_gaps(name, kind, groups, counts[key]))
    return gaps
