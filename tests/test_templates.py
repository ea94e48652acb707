"""Mail templates: every reason renders, respondent mails carry one link, overrides are checked."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import jinja2
import pytest

from mail.templates import (
    CONTEXT_KEYS,
    PACKAGE_DIR,
    RESPONDENT_REASONS,
    SAMPLE_SURVEY_LINK,
    Templates,
    check_templates,
    render,
    sample_contexts,
)
from storage.channel import REASONS
from storage.vnformat import vn_percent

URL = re.compile(r"""https?://[^\s"'<>]+""")
NOT_ME = (
    "Nếu không phải đồng chí / đồng chí đã chuyển đơn vị, xin trả lời thư này để báo cho cán bộ "
    "đầu mối"
)


@pytest.fixture(scope="module")
def templates() -> Templates:
    return Templates()


def _urls(text: str) -> list[str]:
    return URL.findall(text.replace("&amp;", "&"))


def test_every_reason_has_its_three_templates_and_a_contract() -> None:
    assert set(CONTEXT_KEYS) == set(REASONS)
    for reason in REASONS:
        for part in ("subject", "txt", "html"):
            assert (PACKAGE_DIR / f"{reason}.{part}.j2").is_file()


@pytest.mark.parametrize("reason", REASONS)
def test_every_reason_renders_every_sample(templates: Templates, reason: str) -> None:
    for context in sample_contexts(reason):
        assert set(context) == CONTEXT_KEYS[reason]
        mail = templates.render(reason, context)
        assert mail.subject and "\n" not in mail.subject and len(mail.subject) < 200
        assert mail.text.startswith("Kính gửi đồng chí " + context["recipient_name"])
        assert mail.text.endswith(".)\n") and "\n\n\n" not in mail.text
        assert mail.html.startswith("<!DOCTYPE html>") and '<html lang="vi">' in mail.html
        assert context["sender_name"] in mail.text and context["campaign_code"] in mail.text
        # Nothing fetched from outside: no pixel, no stylesheet, no script.
        for needle in ("<img", "src=", "<link", "<script", "url(", "<style"):
            assert needle not in mail.html.lower()
        assert "None" not in mail.text and "None" not in mail.html


@pytest.mark.parametrize("reason", sorted(RESPONDENT_REASONS))
def test_respondent_mails_say_who_why_when_and_carry_only_the_survey_link(
    templates: Templates, reason: str
) -> None:
    context = sample_contexts(reason)[0]
    mail = templates.render(reason, context)
    # An invitation may also offer the Telegram bot's deep link, nothing else.
    offered = {context["telegram_link"]} if context.get("telegram_link") else set()
    for body in (mail.text, mail.html):
        assert _urls(body) and set(_urls(body)) == {SAMPLE_SURVEY_LINK, *offered}
        assert "Vì sao đồng chí nhận được thư này" in body  # who sends it and why (Law 91/2025)
        assert "Sở Nội vụ tỉnh Sơn La là cơ quan tổ chức" in body
        assert "17:00 Thứ Sáu, 10/01/2025" in body  # the deadline, the Vietnamese way
        assert NOT_ME in body  # instead of an unsubscribe link
        assert "Lò Thị Hoa" in body and "hoalt@snv.sonla.gov.vn" in body  # how to get help
        assert "unsubscribe" not in body.lower()
    assert mail.html.count("<a ") == 1 + len(offered) and "mailto:" not in mail.html
    assert mail.text.startswith(
        "Kính gửi đồng chí Cầm Văn Thắng, Trưởng phòng Tổ chức cán bộ – Sở Nông nghiệp và Phát "
        "triển nông thôn,\n\n"
    )


def test_a_reminder_knows_which_it_is_and_the_time_left(templates: Templates) -> None:
    context = sample_contexts("reminder")[0]
    mail = templates.render("reminder", context)
    assert mail.subject.startswith("Nhắc lần 2:") and mail.subject.endswith("còn 3 ngày 7 giờ")
    assert "thư nhắc lần 2/4" in mail.text and "còn 3 ngày 7 giờ" in mail.text
    later = templates.render(
        "reminder",
        {**context, "reminder_number": 4, "now": context["deadline"] - timedelta(hours=3)},
    )
    assert "lần 4/4" in later.text and "còn 3 giờ." in later.text


def test_the_last_day_says_so(templates: Templates) -> None:
    context = sample_contexts("last_day")[0]
    context["now"] = context["deadline"] - timedelta(hours=6, minutes=50)
    mail = templates.render("last_day", context)
    assert mail.subject.startswith("Hôm nay là ngày cuối")
    assert "Hôm nay là ngày cuối cùng" in mail.text and "chỉ còn 6 giờ 50 phút" in mail.text
    assert "ngày cuối cùng" in mail.html


def test_the_digest_lists_units_and_who_has_not_answered(templates: Templates) -> None:
    mail = templates.render("digest", sample_contexts("digest")[0])
    assert "1. Sở Tư pháp: đã trả lời 12/20 (60%)." in mail.text
    assert "   - Nguyễn Văn Hùng, Phó Giám đốc (nhóm Lãnh đạo sở)\n" in mail.text
    assert "   - Đặng Thị Ngọc Ánh (nhóm Công chức)\n" in mail.text
    assert "2. Sở Tài chính: đã trả lời 1.240/1.240 (100%)." in mail.text
    assert _urls(mail.text) == [] and _urls(mail.html) == []  # no personal link leaks here
    last = templates.render("digest", sample_contexts("digest")[-1])
    assert "hôm nay là hạn chót" in last.subject


def test_bounce_alerts_explain_each_class(templates: Templates) -> None:
    texts = {
        c["bounce_class"]: templates.render("bounce_alert", c).text
        for c in sample_contexts("bounce_alert")
    }
    assert "không tồn tại" in texts["bad_address"] and "Quàng Văn Hoà" in texts["bad_address"]
    assert "đã đầy" in texts["mailbox_full"]
    assert "chính sách" in texts["policy"]
    assert "550 5.1.1" in texts["bad_address"]


def test_html_is_escaped_and_text_is_not(templates: Templates) -> None:
    context = {**sample_contexts("problem_report")[0], "problem_text": 'Lỗi <b>"404"</b> & trắng'}
    mail = templates.render("problem_report", context)
    assert 'Lỗi <b>"404"</b> & trắng' in mail.text
    assert "Lỗi &lt;b&gt;&#34;404&#34;&lt;/b&gt; &amp; trắng" in mail.html
    assert "<b>" not in mail.html


def test_a_missing_variable_is_an_error_not_a_blank(templates: Templates) -> None:
    context = dict(sample_contexts("invitation")[0])
    del context["survey_link"]
    with pytest.raises(jinja2.UndefinedError, match="survey_link"):
        templates.render("invitation", context)
    with pytest.raises(ValueError, match="unknown reason"):
        templates.render("newsletter", context)


def test_vn_percent() -> None:
    assert [vn_percent(r) for r in (0.6, 0.596, 1.0, 0.0, 0.0451)] == [
        "60%",
        "59,6%",
        "100%",
        "0%",
        "4,5%",
    ]


def test_the_package_templates_pass_the_check() -> None:
    assert check_templates(None) == []


def _override(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_campaign_override_wins_for_that_template_only(tmp_path: Path) -> None:
    _override(
        tmp_path, "invitation.subject.j2", "[{{ campaign_code }}] Thư mời {{ recipient_name }}\n"
    )
    context = sample_contexts("invitation")[0]
    mail = render("invitation", context, override_dir=tmp_path)
    assert mail.subject == "[cchc-2024-sonla] Thư mời Cầm Văn Thắng"
    assert mail.text == render("invitation", context).text
    assert check_templates(tmp_path) == []


def test_an_override_can_replace_a_shared_part(tmp_path: Path) -> None:
    _override(tmp_path, "_salutation.txt.j2", "Thân gửi {{ recipient_name }},\n")
    mail = render("reminder", sample_contexts("reminder")[0], override_dir=tmp_path)
    assert mail.text.startswith("Thân gửi Cầm Văn Thắng,\n\n")


def _problems(folder: Path) -> list[tuple[str, int | None, str]]:
    return [(Path(p.file).name, p.row, p.message_en) for p in check_templates(folder)]


def test_a_syntax_error_is_reported_with_file_and_line(tmp_path: Path) -> None:
    path = _override(
        tmp_path,
        "reminder.txt.j2",
        "Kính gửi đồng chí {{ recipient_name }},\n\n{% if reminder_number > 1 %}\nNhắc lại.\n",
    )
    [problem] = check_templates(tmp_path)
    assert problem.file == str(path) and problem.row == 4
    assert "cú pháp" in problem.message_vi and "syntax" in problem.message_en
    assert problem.render_vi().startswith(f"Tệp {path}, dòng 4")


def test_an_unknown_variable_is_reported_even_in_a_branch_not_taken(tmp_path: Path) -> None:
    path = _override(
        tmp_path,
        "invitation.txt.j2",
        "Kính gửi {{ recipient_name }},\n{% if false %}\n{{ recipient_nickname }}\n{% endif %}\n"
        "{{ survey_link }}\n",
    )
    problems = check_templates(tmp_path)
    assert [(p.file, p.row, p.value) for p in problems] == [(str(path), 3, "recipient_nickname")]


def test_a_variable_of_another_reason_fails_at_render_with_its_line(tmp_path: Path) -> None:
    _override(
        tmp_path, "digest.html.j2", "<p>{{ recipient_name }}</p>\n<p>{{ units[0].nam.x }}</p>\n"
    )
    [(name, row, message)] = _problems(tmp_path)
    assert (name, row) == ("digest.html.j2", 2) and "variable" in message


def test_a_misspelt_override_file_is_reported(tmp_path: Path) -> None:
    _override(tmp_path, "invitaton.txt.j2", "{{ survey_link }}\n")
    assert _problems(tmp_path) == [
        ("invitaton.txt.j2", None, "this file replaces no template (misspelt name?)")
    ]
    assert check_templates(tmp_path / "missing")[0].message_en.endswith("does not exist")


def test_tracking_and_extra_links_are_refused(tmp_path: Path) -> None:
    _override(
        tmp_path,
        "invitation.html.j2",
        '<p>{{ survey_link }}</p><img src="https://track.example/p.gif?id={{ campaign_code }}">\n',
    )
    _override(
        tmp_path,
        "reminder.txt.j2",
        "Kính gửi {{ recipient_name }}: {{ survey_link }}\nXem thêm https://snv.sonla.gov.vn/tin\n",
    )
    problems = check_templates(tmp_path)
    found = {(Path(p.file).name, p.value) for p in problems}
    assert ("invitation.html.j2", "<img") in found
    assert ("invitation.html.j2", "https://track.example/p.gif?id=cchc-2024-sonla") in found
    assert ("reminder.txt.j2", "https://snv.sonla.gov.vn/tin") in found


def test_the_readme_documents_every_variable() -> None:
    readme = (PACKAGE_DIR.parent / "README.md").read_text(encoding="utf-8")
    for reason, keys in CONTEXT_KEYS.items():
        assert f"`{reason}`" in readme
        for key in keys:
            assert f"`{key}`" in readme, key


def _all_contexts() -> list[tuple[str, dict[str, Any]]]:
    return [(r, c) for r in REASONS for c in sample_contexts(r)]


def test_samples_cover_the_optional_branches() -> None:
    contexts = _all_contexts()
    assert any(c.get("organiser_name") == "" for _, c in contexts)
    assert any(r == "link_code" and c["telegram_link"] is None for r, c in contexts)


def test_an_invitation_offers_the_chat_bots_only_when_they_are_configured(
    templates: Templates,
) -> None:
    with_telegram, zalo_only, no_chat = sample_contexts("invitation")[-3:]
    mail = templates.render("invitation", with_telegram)
    assert with_telegram["telegram_link"] in mail.text
    assert f'"/start {with_telegram["link_code"]}"' in mail.text
    mail = templates.render("invitation", zalo_only)
    assert "t.me" not in mail.text and "Zalo" in mail.text
    assert f'"/start {zalo_only["link_code"]}"' in mail.text
    mail = templates.render("invitation", no_chat)
    assert "/start" not in mail.text and "Zalo" not in mail.text and "Telegram" not in mail.html
