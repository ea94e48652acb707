"""The conversations, driven as any chat channel drives them: every command for each role,
scope refusals, the audit log, linking abuse, self-reported answers and alerts."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot.config import ChatRules
from bot.conversations import ChatConversations
from bot.linking import invitation_code
from mail.templates import Templates
from scheduler.calendar import HolidayCalendar
from scheduler.context import ChatInvite, build_outgoing
from scheduler.planning import plan_reminders
from storage.db import session_factory
from storage.models import (
    Campaign,
    ChatIdentity,
    Delivery,
    DeliveryState,
    Event,
    LinkAttempt,
    LinkCode,
    Respondent,
    RespondentState,
)
from tests.chat_sample import (
    NOW,
    RULES,
    SECRET,
    Chat,
    Clock,
    code_for_contact,
    contact,
    conversations,
    respondent,
    running_campaign,
)


@pytest.fixture
async def campaign(session: AsyncSession, province: Campaign, tmp_path: Path) -> Campaign:
    return await running_campaign(session, province, tmp_path)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def bot(engine: AsyncEngine, clock: Clock) -> ChatConversations:
    return conversations(session_factory(engine), clock)


async def linked_focal(
    session: AsyncSession, bot: ChatConversations, campaign: Campaign, name: str, chat_id: str
) -> Chat:
    chat = Chat(bot, chat_id)
    code = await code_for_contact(session, campaign, name)
    reply = await chat.say(f"/start {code}")
    assert "Đã liên kết" in reply.text, reply.text
    return chat


async def linked_respondent(
    session: AsyncSession, bot: ChatConversations, campaign: Campaign, email: str, chat_id: str
) -> Chat:
    person = await respondent(session, email)
    chat = Chat(bot, chat_id)
    reply = await chat.say(f"/start {invitation_code(SECRET, campaign.id, person.id)}")
    assert "Đã liên kết" in reply.text, reply.text
    return chat


async def events(session: AsyncSession, kind: str) -> list[Event]:
    session.expire_all()
    return list(await session.scalars(select(Event).where(Event.kind == kind).order_by(Event.id)))


# --- linking ---------------------------------------------------------------------------------


async def test_an_unlinked_chat_is_told_how_to_link_and_never_silenced(
    bot: ChatConversations, campaign: Campaign
) -> None:
    chat = Chat(bot, "100")
    for text in ("xin chào", "/tiendo", "/help", "?"):
        reply = await chat.say(text)
        assert "/start MÃ_LIÊN_KẾT" in reply.text


async def test_an_issued_code_links_once_and_is_stored_only_hashed(
    session: AsyncSession, bot: ChatConversations, campaign: Campaign
) -> None:
    code = await code_for_contact(session, campaign, "Vũ Thị Lan")
    first = await Chat(bot, "101").say(f"/start {code}")
    assert "Đã liên kết tài khoản chat với đồng chí Vũ Thị Lan" in first.text
    assert {b.choice for row in first.buttons for b in row} >= {"tiendo", "chuatraloi"}
    again = await Chat(bot, "102").say(f"/start {code}")
    assert "đã được dùng" in again.text
    stored = (await session.scalars(select(LinkCode))).all()
    assert stored and all(code not in (row.code_hash, row.used_by) for row in stored)
    linked = (await session.scalars(select(ChatIdentity))).all()
    assert [(c.chat_id, c.contact_id is not None) for c in linked] == [("101", True)]
    assert [e.actor for e in await events(session, "chat_linked")] == ["telegram:101"]


async def test_an_expired_code_is_refused(
    session: AsyncSession, bot: ChatConversations, campaign: Campaign, clock: Clock
) -> None:
    code = await code_for_contact(session, campaign, "Vũ Thị Lan")
    clock.now = NOW + RULES.code_ttl + timedelta(minutes=1)
    reply = await Chat(bot, "103").say(f"/start {code}")
    assert "hết hạn" in reply.text
    assert (await session.scalars(select(ChatIdentity))).all() == []


async def test_invitation_codes_link_the_respondent_once_and_forged_ones_fail(
    session: AsyncSession, bot: ChatConversations, campaign: Campaign
) -> None:
    person = await respondent(session, "duclv@snv.gov.vn")
    code = invitation_code(SECRET, campaign.id, person.id)
    other = await respondent(session, "hoatt@snv.gov.vn")
    forged = f"{other.id}-{code.split('-')[1]}"
    assert "không đúng" in (await Chat(bot, "200").say(f"/start {forged}")).text
    assert "Đã liên kết" in (await Chat(bot, "200").say(f"/start {code}")).text
    assert "đã được dùng" in (await Chat(bot, "201").say(f"/start {code}")).text
    # A messenger without deep links: the code typed alone works too.
    typed = invitation_code(SECRET, campaign.id, other.id)
    assert "Đã liên kết" in (await Chat(bot, "202", "zalo_bot").say(typed)).text


async def test_brute_force_is_cut_off_even_with_the_right_code_next(
    session: AsyncSession, bot: ChatConversations, campaign: Campaign, clock: Clock
) -> None:
    code = await code_for_contact(session, campaign, "Vũ Thị Lan")
    chat = Chat(bot, "300")
    for attempt in range(RULES.attempts_per_hour):
        reply = await chat.say(f"/start c{'a' * 11}{attempt % 7 + 2}")
        assert "không đúng" in reply.text
    assert "còn 0 lần" in reply.text
    assert "quá nhiều lần" in (await chat.say(f"/start {code}")).text
    # Another chat is not affected, and an hour later this one may try again.
    clock.now = NOW + timedelta(hours=1, minutes=1)
    assert "Đã liên kết" in (await chat.say(f"/start {code}")).text
    attempts = (await session.scalars(select(LinkAttempt))).all()
    assert sum(not a.ok for a in attempts) == RULES.attempts_per_hour
    assert sum(a.ok for a in attempts) == 1


async def test_the_same_update_is_answered_once(bot: ChatConversations, campaign: Campaign) -> None:
    from bot.incoming import Incoming

    message = Incoming("telegram", "400", "dup-1", NOW, text="xin chào")
    assert len(await bot.handle(message)) == 1
    assert list(await bot.handle(message)) == []


# --- focal points ----------------------------------------------------------------------------


async def test_progress_covers_only_the_focal_points_units_and_is_audited(
    session: AsyncSession, bot: ChatConversations, campaign: Campaign
) -> None:
    lan = await linked_focal(session, bot, campaign, "Vũ Thị Lan", "500")
    for command in ("/tiendo", "/status"):
        reply = await lan.say(command)
        assert "Đã trả lời 0/3" in reply.text, reply.text
        assert "Mộc Châu" not in reply.text and "HĐND tỉnh" not in reply.text
        assert "Hạn chót: 17:00 Thứ Sáu, 10/01/2025, còn 4 ngày 8 giờ" in reply.text
    audit = await events(session, "status_queried")
    assert [(e.actor, e.data["command"], e.data["refused"]) for e in audit] == [
        ("telegram:500", "tiendo", False),
        ("telegram:500", "tiendo", False),
    ]
    lan_id = (await contact(session, "Vũ Thị Lan")).id
    assert {e.contact_id for e in audit} == {lan_id}


@pytest.mark.parametrize("command", ["/tiendo", "/chuatraloi", "/nhacnho", "/baocao"])
async def test_a_unit_outside_the_scope_gets_only_a_polite_refusal(
    session: AsyncSession, bot: ChatConversations, campaign: Campaign, command: str
) -> None:
    lan = await linked_focal(session, bot, campaign, "Vũ Thị Lan", "501")
    reply = await lan.say(f"{command} UBND huyện Mộc Châu")
    assert reply.text.startswith("Xin lỗi, đồng chí chỉ xem được thông tin các đơn vị")
    assert "Tuấn" not in reply.text and "0/1" not in reply.text
    # A unit that does not exist gets the same words: nothing about other units leaks.
    unknown = await lan.say(f"{command} Sở Không Có")
    assert unknown.text.replace("Sở Không Có", "X") == reply.text.replace(
        "UBND huyện Mộc Châu", "X"
    )
    assert (
        await session.scalars(select(Delivery).where(Delivery.reason == "reminder"))
    ).all() == []
    refused = [e for e in await events(session, "status_queried") if e.data["refused"]]
    assert len(refused) == 2


async def test_a_focal_point_may_narrow_to_one_of_their_units(
    session: AsyncSession, bot: ChatConversations, campaign: Campaign
) -> None:
    nam = await linked_focal(session, bot, campaign, "Đặng Văn Nam", "502")
    whole = await nam.say("/tiendo")
    assert "Đã trả lời 0/2" in whole.text
    one = await nam.say("/tiendo hdnd tinh son la")
    assert "Đã trả lời 0/1" in one.text and "HĐND tỉnh Sơn La" in one.text


async def test_pending_lists_names_in_pages(
    engine: AsyncEngine, session: AsyncSession, campaign: Campaign, clock: Clock
) -> None:
    small = conversations(session_factory(engine), clock, ChatRules(secret=SECRET, page_size=2))
    lan = await linked_focal(session, small, campaign, "Vũ Thị Lan", "503")
    first = await lan.say("/chuatraloi")
    assert "3 người (trang 1/2)" in first.text
    assert first.text.count("\n1. ") + first.text.count("\n2. ") == 2
    assert first.buttons[0][0].choice == "chuatraloi 2"
    second = await lan.say(choice=first.buttons[0][0].choice)
    assert "(trang 2/2)" in second.text and "\n3. " in second.text
    names = {"Nguyễn Văn Hùng", "Trần Thị Hoà", "Lê Văn Đức"}
    shown = {n for n in names if n in first.text + second.text}
    assert shown == names
    assert "Lò Văn Pấng" not in first.text + second.text


async def test_without_names_over_chat_only_counts_are_sent(
    engine: AsyncEngine, session: AsyncSession, campaign: Campaign, clock: Clock
) -> None:
    private = conversations(
        session_factory(engine), clock, ChatRules(secret=SECRET, names_allowed=False)
    )
    lan = await linked_focal(session, private, campaign, "Vũ Thị Lan", "504")
    for command in ("/chuatraloi", "/pending", "/baocao"):
        reply = await lan.say(command)
        assert "Hùng" not in reply.text and "Đức" not in reply.text, reply.text
        assert "3 người" in reply.text
        assert "thư tổng hợp" in reply.text


async def test_report_is_todays_digest_for_the_scope(
    session: AsyncSession, bot: ChatConversations, campaign: Campaign
) -> None:
    nam = await linked_focal(session, bot, campaign, "Đặng Văn Nam", "505")
    for command in ("/baocao", "/report"):
        reply = await nam.say(command)
        assert "UBND huyện Mộc Châu: 0/1 (0%)" in reply.text, reply.text
        assert "Phạm Minh Tuấn, Chủ tịch UBND huyện" in reply.text
        assert "Còn 4 ngày" in reply.text
        assert "Sở Nội vụ" not in reply.text


async def test_remind_queues_an_extra_reminder_within_the_policy(
    session: AsyncSession, bot: ChatConversations, campaign: Campaign, clock: Clock
) -> None:
    lan = await linked_focal(session, bot, campaign, "Vũ Thị Lan", "506")
    reply = await lan.say("/nhacnho")
    assert "Đã xếp lịch gửi nhắc cho 3 người chưa trả lời: gửi ngay" in reply.text, reply.text
    rows = (await session.scalars(select(Delivery).where(Delivery.reason == "reminder"))).all()
    assert len(rows) == 3 and {r.channel for r in rows} == {"email"}
    assert all(r.due_at == NOW and r.payload["reminder_number"] == 1 for r in rows)
    # Again the same day: nobody twice (the gap since the reminder just queued).
    again = await lan.say("/remind")
    assert (
        "Không có ai cần nhắc thêm" in again.text and "3 người không được nhắc thêm" in again.text
    )
    assert (
        len((await session.scalars(select(Delivery).where(Delivery.reason == "reminder"))).all())
        == 3
    )
    # Asked in the evening, the reminder waits for the window's next opening.
    clock.now = NOW.replace(day=7, hour=19)
    nam = await linked_focal(session, bot, campaign, "Đặng Văn Nam", "507")
    evening = await nam.say("/nhacnho")
    assert "gửi lúc 07:30 Thứ Tư, 08/01/2025" in evening.text, evening.text
    kinds = await events(session, "reminder_requested")
    assert [e.data["queued"] for e in kinds] == [3, 0, 2]


async def test_remind_respects_the_maximum_count(
    session: AsyncSession, bot: ChatConversations, campaign: Campaign
) -> None:
    person = await respondent(session, "duclv@snv.gov.vn")
    session.add_all(
        Delivery(
            campaign_id=campaign.id,
            respondent_id=person.id,
            channel="email",
            reason="reminder",
            dedupe_key=f"reminder:{n}:{person.id}:email",
            due_at=NOW - timedelta(days=5 - n),
            state=DeliveryState.SENT,
            sent_at=NOW - timedelta(days=5 - n),
        )
        for n in range(1, 5)
    )
    await session.commit()
    lan = await linked_focal(session, bot, campaign, "Vũ Thị Lan", "508")
    reply = await lan.say("/nhacnho")
    assert "cho 2 người" in reply.text and "1 người không được nhắc thêm" in reply.text


async def test_an_organiser_sees_every_unit(
    session: AsyncSession, bot: ChatConversations, campaign: Campaign
) -> None:
    mai = await linked_focal(session, bot, campaign, "Phạm Thị Mai", "509")
    reply = await mai.say("/tiendo")
    assert "Đã trả lời 0/5" in reply.text
    assert "UBND huyện Mộc Châu" in reply.text and "Sở Nội vụ" in reply.text
    pending = await mai.say("/chuatraloi Mộc Châu")
    assert "Phạm Minh Tuấn" in pending.text and "Lê Văn Đức" not in pending.text


async def test_respondent_commands_are_not_for_focal_points(
    session: AsyncSession, bot: ChatConversations, campaign: Campaign
) -> None:
    lan = await linked_focal(session, bot, campaign, "Vũ Thị Lan", "510")
    for command in ("/datraloi", "/link", "/hotro lỗi", "Không phải tôi"):
        assert "không dùng được với tài khoản" in (await lan.say(command)).text
    free = await lan.say("cho tôi xem tình hình")
    assert "chưa hiểu" in free.text and "/tiendo" in free.text


# --- respondents -----------------------------------------------------------------------------


async def test_self_reported_answer_stops_reminders_and_shows_to_the_focal_point(
    engine: AsyncEngine, session: AsyncSession, bot: ChatConversations, campaign: Campaign
) -> None:
    campaign_id = campaign.id
    duc = await linked_respondent(session, bot, campaign, "duclv@snv.gov.vn", "600")
    person = await respondent(session, "duclv@snv.gov.vn")
    person_id = person.id
    session.add(
        Delivery(
            campaign_id=campaign.id,
            respondent_id=person.id,
            channel="email",
            reason="reminder",
            dedupe_key=f"reminder:1:{person.id}:email",
            due_at=NOW + timedelta(days=1),
        )
    )
    await session.commit()
    ask = await duc.say(choice="datraloi")
    assert "xác nhận" in ask.text and ask.buttons[0][0].choice == "datraloi xacnhan"
    done = await duc.say("datraloi xacnhan")
    assert "Đã ghi nhận" in done.text
    session.expire_all()
    person = await respondent(session, "duclv@snv.gov.vn")
    assert person.state == RespondentState.ANSWERED and person.answer_source == "self_reported"
    reminder = await session.scalar(select(Delivery).where(Delivery.reason == "reminder"))
    assert reminder is not None and reminder.state == DeliveryState.CANCELLED
    answered = await events(session, "answered")
    assert [(e.actor, e.data["source"]) for e in answered] == [("telegram:600", "self_reported")]
    async with session_factory(engine)() as planning, planning.begin():
        fresh = await planning.get(Campaign, campaign_id)
        assert fresh is not None
        report = await plan_reminders(
            planning, fresh, now=NOW, holidays=HolidayCalendar(), dry_run=True
        )
    assert person_id not in {rid for rid, _ in report.planned}
    await session.refresh(campaign)
    lan = await linked_focal(session, bot, campaign, "Vũ Thị Lan", "601")
    progress = await lan.say("/tiendo")
    assert "Đã trả lời 1/3" in progress.text
    assert "trong đó 1 người tự báo đã trả lời qua chat" in progress.text
    assert "Đã ghi nhận" not in (await duc.say("Tôi đã trả lời")).text


async def test_link_resends_the_survey_link_to_the_chat_and_by_mail(
    session: AsyncSession, bot: ChatConversations, campaign: Campaign
) -> None:
    hoa = await linked_respondent(session, bot, campaign, "hoatt@snv.gov.vn", "602")
    person = await respondent(session, "hoatt@snv.gov.vn")
    reply = await hoa.say("/link")
    assert f"https://survey.example.vn/s/{person.token}" in reply.text
    assert "hoatt@snv.gov.vn" in reply.text
    await hoa.say(choice="link")
    resent = (
        await session.scalars(
            select(Delivery).where(Delivery.dedupe_key.like("invitation:resend%"))
        )
    ).all()
    assert [(d.channel, d.respondent_id) for d in resent] == [("email", person.id)]


async def test_a_respondent_sees_only_their_own_status(
    session: AsyncSession, bot: ChatConversations, campaign: Campaign
) -> None:
    hoa = await linked_respondent(session, bot, campaign, "hoatt@snv.gov.vn", "603")
    own = await hoa.say("/tiendo")
    assert "Đường link khảo sát riêng" in own.text and "0/3" not in own.text
    for command in ("/chuatraloi", "/nhacnho", "/baocao", "/pending Sở Nội vụ"):
        assert "dành cho cán bộ đầu mối" in (await hoa.say(command)).text
    assert (
        await session.scalars(select(Delivery).where(Delivery.reason == "reminder"))
    ).all() == []


async def test_support_requests_alert_the_unit_focal_point_and_it(
    session: AsyncSession, bot: ChatConversations, campaign: Campaign
) -> None:
    duc = await linked_respondent(session, bot, campaign, "duclv@snv.gov.vn", "604")
    ask = await duc.say(choice="hotro")
    assert "/hotro NỘI_DUNG" in ask.text
    sent = await duc.say("/hotro Đường link báo lỗi 404")
    assert "Đã chuyển nội dung" in sent.text and "2 cán bộ" in sent.text
    alerts = (
        await session.scalars(select(Delivery).where(Delivery.reason == "problem_report"))
    ).all()
    lan = await contact(session, "Vũ Thị Lan")
    huy = await contact(session, "Bùi Quang Huy")
    assert sorted(a.contact_id or 0 for a in alerts) == sorted([lan.id, huy.id])
    assert all(a.payload["problem_text"] == "Đường link báo lỗi 404" for a in alerts)
    assert all(a.payload["person"]["full_name"] == "Lê Văn Đức" for a in alerts)


async def test_not_me_alerts_the_focal_point_after_confirmation(
    session: AsyncSession, bot: ChatConversations, campaign: Campaign
) -> None:
    tuan = await linked_respondent(session, bot, campaign, "tuanpm@mocchau.gov.vn", "605")
    confirm = await tuan.say("Không phải tôi / tôi đã chuyển đơn vị")
    assert "UBND huyện Mộc Châu" in confirm.text
    assert (
        await session.scalars(select(Delivery).where(Delivery.reason == "problem_report"))
    ).all() == []
    done = await tuan.say(choice=confirm.buttons[0][0].choice)
    assert "Đã chuyển" in done.text
    alerts = (
        await session.scalars(select(Delivery).where(Delivery.reason == "problem_report"))
    ).all()
    nam = await contact(session, "Đặng Văn Nam")
    assert nam.id in {a.contact_id for a in alerts}
    assert "Không phải tôi" in alerts[0].payload["problem_text"]
    assert len(await events(session, "not_me_reported")) == 1


async def test_respondent_ids_never_leak_other_people(
    session: AsyncSession, bot: ChatConversations, campaign: Campaign
) -> None:
    pang = await linked_respondent(session, bot, campaign, "pang.lv@sonla.gov.vn", "606")
    texts = [(await pang.say(c)).text for c in ("/help", "/tiendo", "xin chào", "/link")]
    others = (await session.scalars(select(Respondent.full_name))).all()
    for text in texts:
        assert not [n for n in others if n != "Lò Văn Pấng" and n in text]


async def test_the_code_in_an_emailed_invitation_links_the_chat(
    engine: AsyncEngine, session: AsyncSession, bot: ChatConversations, campaign: Campaign
) -> None:
    """From the invitation the dispatcher builds (with a chat bot configured) to a linked chat:
    the code and the t.me link in the mail are the ones the conversations accept."""
    person = await respondent(session, "hoatt@snv.gov.vn")
    invitation = await session.scalar(select(Delivery).where(Delivery.respondent_id == person.id))
    assert invitation is not None
    invite = ChatInvite(SECRET, telegram_username="sonv_dondoc_bot")
    [with_chat] = await build_outgoing(session, [invitation], now=NOW, chat_invite=invite)
    [without] = await build_outgoing(session, [invitation], now=NOW)
    assert (without.context["link_code"], without.context["telegram_link"]) == (None, None)
    code = with_chat.context["link_code"]
    assert with_chat.context["telegram_link"] == f"https://t.me/sonv_dondoc_bot?start={code}"
    assert "k" * 32 not in repr(invite)  # the key never shows

    # The email channel adds the sender's name from its identity.
    rendered = Templates().render(
        "invitation", {**with_chat.context, "sender_name": "Sở Nội vụ tỉnh Sơn La"}
    )
    assert with_chat.context["telegram_link"] in rendered.text
    typed = re.search(r'"/start (\S+)"', rendered.text)
    assert typed is not None and typed.group(1) == code

    reply = await Chat(bot, "70001").say(f"/start {typed.group(1)}")
    assert "Đã liên kết" in reply.text, reply.text
    linked = await session.scalar(select(ChatIdentity).where(ChatIdentity.chat_id == "70001"))
    assert linked is not None and linked.respondent_id == person.id
