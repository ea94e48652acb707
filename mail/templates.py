"""Turn a reason and its context into a mail's subject, plain text and HTML.

Templates live in ``templates/email`` (``<reason>.subject.j2``, ``.txt.j2``, ``.html.j2`` plus
shared ``_partials``); a campaign may put files with the same names in its own folder, and
those win. HTML is autoescaped, and a variable the template needs but the context lacks is an
error (``StrictUndefined``), never a blank in a letter to a civil servant.

``check_templates`` renders everything with complete sample contexts when a campaign is created,
so a broken or misspelt override is refused then, with its file and line, instead of failing
at eight in the morning on the first reminder. ``CONTEXT_KEYS`` is the contract with the
dispatcher; templates/README.md explains each key.
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo

import jinja2
from jinja2 import meta

import templates as _templates_package
from storage.channel import REASONS
from storage.problems import Problem
from storage.vnformat import DEFAULT_TZ, FILTERS

PACKAGE_DIR: Final = Path(_templates_package.__file__).parent / "email"
PARTS: Final = ("subject", "txt", "html")

# Every reason gets these. The email channel fills sender_name from its MailIdentity, and
# recipient_* and unit_name from the Recipient, when the dispatcher leaves them out.
_COMMON: Final = frozenset(
    {
        "sender_name",
        "recipient_name",
        "campaign_title",
        "campaign_code",
        "organiser_name",
        "organiser_email",
        "organiser_phone",
    }
)
_TIMED: Final = frozenset({"deadline", "timezone", "now"})
_RESPONDENT: Final = (
    _COMMON | _TIMED | frozenset({"recipient_position", "unit_name", "group_name", "survey_link"})
)
_PROGRESS: Final = _COMMON | _TIMED | frozenset({"units", "days_left"})

CONTEXT_KEYS: Final[Mapping[str, frozenset[str]]] = {
    # link_code / telegram_link: None unless a chat bot is offered (then the deep link is the
    # one other link an invitation may carry).
    "invitation": _RESPONDENT | {"link_code", "telegram_link"},
    "reminder": _RESPONDENT | {"reminder_number", "reminders_max"},
    "last_day": _RESPONDENT,
    "digest": _PROGRESS,
    "escalation": _PROGRESS | {"threshold"},
    "bounce_alert": _COMMON | {"person", "bounce_class", "bounce_detail"},
    "problem_report": _COMMON | {"person", "problem_text", "channel"},
    "link_code": _COMMON | {"link_code", "telegram_link"},
    "reply_forward": _COMMON | {"person", "reply_subject", "reply_text"},
}
"""The variables each reason's templates may use, and the dispatcher must give."""

RESPONDENT_REASONS: Final = frozenset({"invitation", "reminder", "last_day"})
"""Mails whose only link is the person's survey link."""

_URL = re.compile(r"""https?://[^\s"'<>]+""", re.IGNORECASE)
# Anything that makes a mail client fetch from outside: tracking pixels, remote CSS, scripts.
_REMOTE = re.compile(r"<img\b|<script\b|<link\b|<iframe\b|<object\b|\bsrc\s*=|url\(", re.I)


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str
    html: str


def make_environment(override_dir: Path | None = None) -> jinja2.Environment:
    """The Jinja2 environment: the campaign's folder first, then the package's templates."""
    loaders: list[jinja2.BaseLoader] = []
    if override_dir is not None:
        loaders.append(jinja2.FileSystemLoader(override_dir))
    loaders.append(jinja2.FileSystemLoader(PACKAGE_DIR))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        # HTML is escaped; text and subjects are not (they would show "&amp;"). Anything else
        # is escaped, to be safe.
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html.j2",),
            disabled_extensions=("txt.j2", "subject.j2"),
            default=True,
            default_for_string=True,
        ),
        undefined=jinja2.StrictUndefined,
        # Block tags on their own line leave no blank line behind, and a partial keeps its final
        # newline, so an include line reads as "the partial's lines go here".
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        # Templates are read once per process; a daemon sending 50,000 mails should not stat
        # every file for every mail.
        auto_reload=False,
    )
    env.filters.update(FILTERS)
    return env


_BLANK_RUNS = re.compile(r"\n{3,}")
_TRAILING_SPACE = re.compile(r"[ \t]+\n")


def _tidy_text(text: str) -> str:
    text = _TRAILING_SPACE.sub("\n", text)
    return _BLANK_RUNS.sub("\n\n", text).strip() + "\n"


class Templates:
    """The templates of one campaign (or the package's alone), ready to render."""

    def __init__(self, override_dir: Path | None = None) -> None:
        self.override_dir = override_dir
        self._env = make_environment(override_dir)

    def render(self, reason: str, context: Mapping[str, Any]) -> Rendered:
        """Render the three parts; raises jinja2.TemplateError when a template is broken."""
        if reason not in CONTEXT_KEYS:
            raise ValueError(f"unknown reason {reason!r}")
        values = dict(context)
        subject = self._env.get_template(f"{reason}.subject.j2").render(values)
        text = self._env.get_template(f"{reason}.txt.j2").render(values)
        html = self._env.get_template(f"{reason}.html.j2").render(values)
        # A subject is one header line: newlines from a template or a name would break it.
        return Rendered(" ".join(subject.split()), _tidy_text(text), html.strip() + "\n")


def render(reason: str, context: Mapping[str, Any], override_dir: Path | None = None) -> Rendered:
    """One-off rendering; long-lived callers keep a ``Templates`` instead."""
    return Templates(override_dir).render(reason, context)


# --- samples and checks -------------------------------------------------------------------

_TZ = ZoneInfo(DEFAULT_TZ)
SAMPLE_SURVEY_LINK: Final = "https://survey.example.vn/s/q7Hc2xPz9LmT4vRk8sWn3A"
SAMPLE_TELEGRAM_LINK: Final = "https://t.me/dondoc_sonla_bot?start=482913"

_PERSON: Final = {
    "full_name": "Quàng Văn Hoà",
    "email": "hoaqv@sotuphap.sonla.gov.vn",
    "unit": "Phòng Hành chính tư pháp, Sở Tư pháp",
}
_UNITS: Final = [
    {
        "name": "Sở Tư pháp",
        "answered": 12,
        "total": 20,
        "rate": 0.6,
        "pending": [
            {"full_name": "Nguyễn Văn Hùng", "position": "Phó Giám đốc", "group": "Lãnh đạo sở"},
            {"full_name": "Đặng Thị Ngọc Ánh", "position": None, "group": "Công chức"},
        ],
    },
    {"name": "Sở Tài chính", "answered": 1240, "total": 1240, "rate": 1.0, "pending": []},
]


def sample_contexts(reason: str) -> list[dict[str, Any]]:
    """Complete contexts for ``reason``, one per branch worth exercising (optional values
    missing, each bounce class, with and without a Telegram link)."""
    if reason not in CONTEXT_KEYS:
        raise ValueError(f"unknown reason {reason!r}")
    now = datetime(2025, 1, 7, 9, 30, tzinfo=_TZ)
    pool: dict[str, Any] = {
        "recipient_name": "Cầm Văn Thắng",
        "recipient_position": "Trưởng phòng Tổ chức cán bộ",
        "unit_name": "Sở Nông nghiệp và Phát triển nông thôn",
        "group_name": "Lãnh đạo cấp phòng",
        "campaign_title": "Điều tra XHH xác định Chỉ số CCHC năm 2024",
        "campaign_code": "cchc-2024-sonla",
        "sender_name": "Sở Nội vụ tỉnh Sơn La",
        "organiser_name": "Lò Thị Hoa",
        "organiser_email": "hoalt@snv.sonla.gov.vn",
        "organiser_phone": "+84212385248",
        "survey_link": SAMPLE_SURVEY_LINK,
        "deadline": datetime(2025, 1, 10, 17, 0, tzinfo=_TZ),
        "timezone": DEFAULT_TZ,
        "now": now,
        "reminder_number": 2,
        "reminders_max": 4,
        "units": _UNITS,
        "days_left": 3,
        "threshold": 0.6,
        "person": _PERSON,
        "bounce_class": "bad_address",
        "bounce_detail": "550 5.1.1 <hoaqv@sotuphap.sonla.gov.vn>: Recipient address rejected",
        "problem_text": "Đường link báo lỗi 404 khi mở trên điện thoại.",
        "channel": "telegram",
        "link_code": "482913",
        "telegram_link": SAMPLE_TELEGRAM_LINK,
        "reply_subject": "Re: Mời đồng chí trả lời phiếu khảo sát",
        "reply_text": "Tôi đã nghỉ hưu từ tháng 10/2024, đề nghị bỏ tên khỏi danh sách.",
    }
    base = {key: pool[key] for key in CONTEXT_KEYS[reason]}
    # The dispatcher gives "" for what a campaign lacks (no organiser named, no position).
    no_organiser = {"organiser_name": "", "organiser_email": "", "organiser_phone": ""}
    variants = [base, {**base, **no_organiser}]
    if reason in RESPONDENT_REASONS:
        variants.append({**base, "recipient_position": "", "organiser_phone": None})
    if reason == "last_day":
        variants.append({**base, "now": datetime(2025, 1, 10, 16, 10, tzinfo=_TZ)})
    if reason in ("digest", "escalation"):
        variants.append({**base, "days_left": 0, "organiser_phone": ""})
    if reason == "bounce_alert":
        variants += [{**base, "bounce_class": c} for c in ("mailbox_full", "policy", "other")]
        variants.append({**base, "person": {**_PERSON, "unit": None}})
    if reason == "problem_report":
        variants.append({**base, "channel": "email", "person": {**_PERSON, "email": None}})
    if reason == "link_code":
        variants.append({**base, "telegram_link": None})
    if reason == "invitation":
        variants.append({**base, "telegram_link": None})
        variants.append({**base, "link_code": None, "telegram_link": None})
    return variants


def _template_names(reason: str) -> list[str]:
    return [f"{reason}.{part}.j2" for part in PARTS]


def _where(env: jinja2.Environment, name: str) -> str:
    """The file a template name resolves to (the campaign's or the package's)."""
    try:
        source = env.loader.get_source(env, name)[1] if env.loader else None
    except jinja2.TemplateNotFound:
        source = None
    return source or name


def _problem(file: str, line: int | None, vi: str, en: str, value: str | None = None) -> Problem:
    return Problem(file=file, row=line, message_vi=vi, message_en=en, value=value)


def _error_problem(env: jinja2.Environment, name: str, exc: Exception) -> Problem:
    if isinstance(exc, jinja2.TemplateSyntaxError):
        file = exc.filename or _where(env, exc.name or name)
        return _problem(
            file,
            exc.lineno,
            f"Lỗi cú pháp mẫu thư: {exc.message}",
            f"template syntax error: {exc.message}",
        )
    # Jinja rewrites tracebacks so the template's own frames carry its file and line.
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.endswith(".j2")]
    file, line = (frames[-1].filename, frames[-1].lineno) if frames else (_where(env, name), None)
    if isinstance(exc, jinja2.UndefinedError):
        return _problem(
            file,
            line,
            f"Mẫu thư dùng một biến không có trong thư loại này: {exc.message}. Xem "
            "templates/README.md để biết các biến được dùng.",
            f"the template uses a variable this kind of mail does not have: {exc.message}",
        )
    return _problem(
        file,
        line,
        f"Mẫu thư không hiển thị được: {exc}",
        f"the template fails to render: {type(exc).__name__}: {exc}",
    )


def _check_output(
    env: jinja2.Environment, reason: str, context: Mapping[str, Any], rendered: Rendered
) -> list[Problem]:
    problems: list[Problem] = []
    subject_file, text_file, html_file = (_where(env, n) for n in _template_names(reason))
    if not rendered.subject:
        problems.append(_problem(subject_file, None, "Tiêu đề thư trống.", "the subject is empty"))
    match = _REMOTE.search(rendered.html)
    if match:
        problems.append(
            _problem(
                html_file,
                None,
                "Thư HTML không được tải ảnh, kiểu trình bày hay mã từ bên ngoài (ảnh theo dõi "
                "là xử lý dữ liệu hành vi): hãy bỏ thẻ này.",
                "HTML mail must not load images, styles or scripts from outside (tracking)",
                match.group(0),
            )
        )
    if reason in RESPONDENT_REASONS or reason == "link_code":
        allowed = {context["survey_link"]} if reason in RESPONDENT_REASONS else set()
        if reason in ("link_code", "invitation") and context["telegram_link"]:
            allowed.add(context["telegram_link"])
        for file, body in ((text_file, rendered.text), (html_file, rendered.html)):
            for url in _URL.findall(body.replace("&amp;", "&")):
                if url not in allowed:
                    problems.append(
                        _problem(
                            file,
                            None,
                            "Thư gửi người trả lời chỉ được có một đường link (link khảo sát cá "
                            "nhân): hãy bỏ đường link này.",
                            "a respondent mail may carry only the personal survey link",
                            url,
                        )
                    )
    return problems


def _unknown_variables(env: jinja2.Environment, reason: str) -> list[Problem]:
    """Variables a reason's templates name that the dispatcher never gives, even in branches
    the samples do not reach."""
    problems: list[Problem] = []
    loader = env.loader
    if loader is None:
        return problems
    for name in _template_names(reason):
        source, filename, _ = loader.get_source(env, name)
        used = meta.find_undeclared_variables(env.parse(source, name, filename))
        for variable in sorted(used - CONTEXT_KEYS[reason]):
            line = next(
                (i for i, text in enumerate(source.splitlines(), 1) if variable in text), None
            )
            problems.append(
                _problem(
                    filename or name,
                    line,
                    f"Biến «{variable}» không có trong thư loại «{reason}». Xem "
                    "templates/README.md để biết các biến được dùng.",
                    f"variable {variable!r} is not given to {reason!r} mails",
                    variable,
                )
            )
    return problems


def check_templates(override_dir: Path | None) -> list[Problem]:
    """Render every reason with complete sample contexts; every problem found, with its file
    and line. Also refuses files in ``override_dir`` that replace no template (a misspelt
    name would otherwise be ignored without a word)."""
    problems: list[Problem] = []
    known = {p.name for p in PACKAGE_DIR.glob("*.j2")}
    if override_dir is not None:
        if not override_dir.is_dir():
            return [
                _problem(
                    str(override_dir),
                    None,
                    "Không tìm thấy thư mục mẫu thư của đợt khảo sát.",
                    "the campaign's template folder does not exist",
                )
            ]
        for path in sorted(override_dir.iterdir()):
            if path.is_file() and path.name not in known:
                problems.append(
                    _problem(
                        str(path),
                        None,
                        "Tệp này không thay thế mẫu thư nào (sai tên?). Tên hợp lệ: "
                        "<loại thư>.subject.j2, .txt.j2, .html.j2, ví dụ invitation.txt.j2.",
                        "this file replaces no template (misspelt name?)",
                        path.name,
                    )
                )
    env = make_environment(override_dir)
    templates = Templates(override_dir)
    for reason in REASONS:
        try:
            problems.extend(_unknown_variables(env, reason))
        except jinja2.TemplateSyntaxError as exc:
            problems.append(_error_problem(env, f"{reason}.*.j2", exc))
            continue
        for context in sample_contexts(reason):
            try:
                rendered = templates.render(reason, context)
            except Exception as exc:  # any failure is reported, not raised
                problem = _error_problem(env, reason, exc)
                if problem not in problems:
                    problems.append(problem)
                break
            for problem in _check_output(env, reason, context, rendered):
                if problem not in problems:
                    problems.append(problem)
    return problems
