"""Finding the person a link code is for, by the address the organiser knows them by.

Contacts (focal points, heads, IT, organisers) come first: a focal point who is also in the
roster links as a focal point, since that is what they use the chat for.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.cells import normalise_email
from storage.errors import DondocError, NotFoundError
from storage.models import Campaign, Contact, ContactRole, Respondent
from storage.phones import PhoneError, normalize_phone

ROLE_VI = {
    ContactRole.UNIT_FOCAL: "cán bộ đầu mối",
    ContactRole.UNIT_HEAD: "lãnh đạo đơn vị",
    ContactRole.IT_FOCAL: "cán bộ đầu mối CNTT",
    ContactRole.ORGANISER: "cơ quan tổ chức",
}


@dataclass(frozen=True, slots=True)
class Person:
    full_name: str
    role_vi: str
    respondent_id: int | None = None
    contact_id: int | None = None


async def find_person(
    session: AsyncSession, campaign: Campaign, *, email: str | None, phone: str | None
) -> Person:
    if email is not None:
        key = normalise_email(email)
        contact_match = Contact.email == key
        respondent_match = Respondent.email == key
        shown = f"thư điện tử «{email}»"
    elif phone is not None:
        try:
            number = normalize_phone(phone)
        except PhoneError as exc:
            raise DondocError(
                f"Số điện thoại «{phone}» không hợp lệ: {exc.message_vi}",
                f"invalid phone {phone!r}",
            ) from exc
        contact_match = Contact.phone == number
        respondent_match = Respondent.phone == number
        shown = f"số điện thoại «{phone}»"
    else:
        raise ValueError("an email or a phone is needed")
    contact = await session.scalar(
        select(Contact)
        .where(Contact.campaign_id == campaign.id, contact_match)
        .order_by(Contact.role, Contact.id)
        .limit(1)
    )
    if contact is not None:
        return Person(contact.full_name, ROLE_VI[contact.role], contact_id=contact.id)
    person = await session.scalar(
        select(Respondent).where(Respondent.campaign_id == campaign.id, respondent_match)
    )
    if person is not None:
        return Person(person.full_name, "người trả lời phiếu", respondent_id=person.id)
    raise NotFoundError(
        f"Không có ai với {shown} trong đợt {campaign.code} (cả danh sách đối tượng và cán bộ "
        "đầu mối). Kiểm tra lại địa chỉ, hoặc nhập danh sách bằng lệnh: dondoc roster import",
        f"nobody with that address in campaign {campaign.code!r}",
    )
