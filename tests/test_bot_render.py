"""Chat texts of outbox messages: every messenger gets the person's survey link, as a button
where the messenger has them (Telegram) and in the text where it does not (Zalo)."""

from __future__ import annotations

import pytest

from bot.render import RESPONDENT_CHOICES, chat_reply, render_reason
from mail.templates import SAMPLE_SURVEY_LINK, sample_contexts
from storage.channel import Outgoing, Recipient
from tests.chat_sample import RULES


@pytest.mark.parametrize("reason", ["invitation", "reminder", "last_day"])
def test_a_respondent_message_carries_the_survey_link_on_every_messenger(reason: str) -> None:
    context = sample_contexts(reason)[0]
    message = Outgoing(
        delivery_id=7,
        dedupe_key=f"{reason}:7:zalo_bot",
        reason=reason,
        campaign_code="cchc-2024-sonla",
        recipient=Recipient(full_name="Cầm Văn Thắng", respondent_id=7),
        context=context,
    )
    on_zalo = chat_reply(RULES, message)
    assert SAMPLE_SURVEY_LINK in on_zalo.text and "nút bên dưới" not in on_zalo.text
    assert on_zalo.buttons == RESPONDENT_CHOICES
    on_telegram = render_reason(reason, {**context, **_rules()}, link_button=True)
    assert SAMPLE_SURVEY_LINK not in on_telegram and "nút bên dưới" in on_telegram
    for text in (on_zalo.text, on_telegram):
        assert "\n\n\n" not in text and ".Mở" not in text and ".Đường" not in text


def _rules() -> dict[str, object]:
    return {
        "sender_name": RULES.sender_name,
        "names_allowed": RULES.names_allowed,
        "dashboard_hint": RULES.dashboard_hint,
    }
