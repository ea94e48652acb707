"""Campaign files: read the organiser's TOML, check all of it, and return a ``CampaignSpec``.

The file is written by hand by a Department of Home Affairs officer, so every problem found is
reported at once, each with the key it concerns and what to write instead, in Vietnamese.
The [policy] table is checked by ``storage.policy_file`` and becomes a ``storage.policy.Policy``.
"""

from __future__ import annotations

import difflib
import json
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, tzinfo
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# The policy's names are re-exported: callers have always imported them from here.
from storage.policy import CHANNELS, DEFAULT_POLICY, Policy, Window, parse_clock, parse_duration
from storage.policy_file import read_policy
from storage.presets import PRESETS, GroupSpec, UnitKindSpec, find_preset, infer_unit_kind
from storage.problems import InputError, Problem, UnreadableFile, read_utf8_text
from storage.text import fold

__all__ = [
    "CHANNELS",
    "DEFAULT_POLICY",
    "DEFAULT_TIMEZONE",
    "CampaignSpec",
    "GroupSpec",
    "Policy",
    "UnitKindSpec",
    "Window",
    "infer_unit_kind",
    "load_campaign_file",
    "parse_campaign",
    "parse_duration",
]

DEFAULT_TIMEZONE: Final = "Asia/Ho_Chi_Minh"
# Where each person's own code goes in a survey link.
URL_SLOT: Final = "{token}"

# A bare date means the working day's start for opening and its end for the deadline, as in the
# documents' "chậm nhất là ngày 10/01/2025".
OPENS_AT_TIME: Final = time(8, 0)
DEADLINE_TIME: Final = time(17, 0)


@dataclass(frozen=True, slots=True)
class CampaignSpec:
    """A checked campaign file, ready to be saved."""

    code: str
    title: str
    # The questionnaire of every group without its own ``GroupSpec.survey_url``.
    survey_url: str
    opens_at: datetime
    deadline: datetime
    timezone: str
    preset: str | None
    groups: tuple[GroupSpec, ...]
    unit_kinds: tuple[UnitKindSpec, ...]
    policy: Policy
    source_file: str
    # The campaign's own email/chat templates, overriding the built-in ones of the same name.
    templates_dir: Path | None = None
    # How the survey platform's "response completed" emails are recognised: each a mapping
    # with sender, pattern and optionally subject and name (see mail.triage.CompletionRule).
    completion_rules: tuple[Mapping[str, str], ...] = ()
    # The [limesurvey] table checked (survey.limesurvey.LimeSurveyConfig reads it back): url,
    # user, survey_id, password_env (the NAME of the variable holding the password), poll_seconds.
    limesurvey: Mapping[str, Any] | None = None
    _by_cell: Mapping[str, GroupSpec] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        groups = tuple(sorted(self.groups, key=lambda g: g.priority))
        object.__setattr__(self, "groups", groups)
        index: dict[str, GroupSpec] = {}
        for position, group in enumerate(groups, start=1):
            for key in group.match_keys(position):
                index.setdefault(key, group)
        object.__setattr__(self, "_by_cell", MappingProxyType(index))

    def group_by_cell(self, cell: str) -> GroupSpec | None:
        """The group a roster's "Nhóm đối tượng" cell names: code, name, alias or number."""
        return self._by_cell.get(fold(cell))

    def unit_kind_for(self, unit_name: str) -> str | None:
        return infer_unit_kind(unit_name, self.unit_kinds)


# --- reading the file ------------------------------------------------------------------------

_CODE: Final = re.compile(r"[a-z0-9][a-z0-9-]{1,62}[a-z0-9]")
_KEY_CODE: Final = re.compile(r"[a-z][a-z0-9_]*")
_TOP_KEYS: Final = (
    "campaign",
    "policy",
    "groups",
    "unit_kinds",
    "completion_email",
    "limesurvey",
)
_LIMESURVEY_KEYS: Final = ("url", "user", "survey_id", "password_env", "poll_every")
_LIMESURVEY_EXAMPLE_URL: Final = "https://khaosat.example.vn/index.php/admin/remotecontrol"
DEFAULT_LIMESURVEY_PASSWORD_ENV: Final = "DONDOC_LIMESURVEY_PASSWORD"  # noqa: S105 (a name)
_ENV_NAME: Final = re.compile(r"[A-Z_][A-Z0-9_]{0,99}")
# Polling more often than a minute loads the survey server for nothing; less than daily is blind.
_POLL_LIMITS: Final = (60, 86400)
_DEFAULT_POLL_SECONDS: Final = 300
_COMPLETION_KEYS: Final = ("name", "sender", "subject", "pattern")
_CAMPAIGN_KEYS: Final = (
    "code",
    "title",
    "survey_url",
    "opens_at",
    "deadline",
    "timezone",
    "groups",
    "templates",
)
_GROUP_KEYS: Final = ("code", "name", "priority", "quota", "aliases")
_UNIT_KIND_KEYS: Final = ("code", "name", "match")
_DEFAULT_URL_KEY: Final = "default"
_URL_EXAMPLE: Final = "https://survey.example.vn/s/{token}"

_TOML_ERRORS_VI: Final = (
    ("Invalid value", "giá trị không hợp lệ (chữ phải đặt trong dấu ngoặc kép)"),
    ("Expected '=' after a key", "thiếu dấu «=» giữa tên mục và giá trị"),
    ("Unterminated string", "thiếu dấu ngoặc kép đóng chuỗi"),
    ("Unclosed array", "thiếu dấu «]» đóng danh sách"),
    (
        "Unclosed inline table",
        "thiếu dấu «}» đóng bảng (bảng viết trong { } phải nằm trên một dòng)",
    ),
    ("Invalid date or datetime", "ngày giờ không hợp lệ (ví dụ đúng: 2025-01-10T17:00:00+07:00)"),
    (
        "Expected newline or end",
        "còn ký tự thừa sau giá trị (mỗi mục phải nằm trên một dòng riêng)",
    ),
    ("Expected ']", "thiếu dấu ngoặc vuông đóng tên bảng"),
    ("Invalid statement", "dòng không đúng dạng «tên = giá trị»"),
    ("Cannot overwrite", "một mục được khai báo hai lần"),
    ("Cannot declare", "một bảng được khai báo hai lần"),
    ("Cannot redefine", "một bảng được khai báo hai lần"),
    ("Duplicate inline table key", "một mục được khai báo hai lần"),
    ("Illegal character", "có ký tự không hợp lệ"),
    ("Found invalid character", "có ký tự không hợp lệ"),
)
_TOML_WHERE: Final = re.compile(r"\s*\((?:at line (\d+), column (\d+)|at end of document)\)$")


def load_campaign_file(path: Path) -> CampaignSpec:
    """Read and check a campaign file; InputError lists every problem found."""
    file = path.name
    try:
        text = read_utf8_text(path, what_vi="tệp cấu hình đợt khảo sát")
    except UnreadableFile as exc:
        raise _refuse(file, [exc.problem]) from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _refuse(file, [_syntax_problem(file, str(exc))]) from exc
    return _Reader(file).campaign(data, source_file=str(path))


def parse_campaign(data: Mapping[str, Any], *, source: str) -> CampaignSpec:
    """Check an already-parsed campaign file; ``source`` names it in problems."""
    return _Reader(source).campaign(data, source_file=source)


def _refuse(file: str, problems: Sequence[Problem]) -> InputError:
    return InputError(
        problems,
        f"Tệp cấu hình đợt khảo sát «{file}» có {len(problems)} lỗi nên chưa dùng được. "
        "Vui lòng sửa các lỗi dưới đây rồi chạy lại lệnh.",
        f"campaign file {file} refused ({len(problems)} problems)",
    )


def _syntax_problem(file: str, message: str) -> Problem:
    where = _TOML_WHERE.search(message)
    detail = message[: where.start()] if where else message
    row = int(where.group(1)) if where and where.group(1) else None
    column = where.group(2) if where and where.group(2) else None
    detail_vi = next((vi for en, vi in _TOML_ERRORS_VI if detail.startswith(en)), detail)
    # tomllib reports an unfinished string or list where the file ends, not where it began.
    where_vi = "dòng này (và cả dòng ngay trước nó)" if row is not None else "phần cuối tệp"
    place = "" if row is not None else " (ở cuối tệp)"
    return Problem(
        file=file,
        row=row,
        column=column,
        message_vi=(
            f"Tệp không đúng cú pháp TOML{place}: {detail_vi}. Vui lòng kiểm tra {where_vi}: "
            "chữ đặt trong dấu ngoặc kép, mỗi dòng có dạng tên = giá trị, tên bảng đặt trong "
            "ngoặc vuông như [campaign]."
        ),
        message_en=f"not valid TOML: {message}",
    )


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


class _Reader:
    """Walks one parsed file, collecting problems instead of stopping at the first."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []

    # --- reporting; the [policy] section (storage.policy_file) reports through these too

    def problem(self, path: str, value: object, vi: str, en: str) -> None:
        self.problems.append(
            Problem(
                file=self.file,
                column=path or None,
                value=None if value is None else self.show(value),
                message_vi=vi,
                message_en=en,
            )
        )

    @staticmethod
    def show(value: object) -> str:
        """``value`` as the organiser would write it, cut short if long."""
        if isinstance(value, str):
            text = value
        elif isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, date | time):
            text = value.isoformat()
        elif isinstance(value, list | dict):
            text = json.dumps(value, ensure_ascii=False, default=str)
        else:
            text = str(value)
        return text if len(text) <= 200 else text[:199] + "…"

    @staticmethod
    def closest(word: str, options: Iterable[str]) -> str | None:
        """The option ``word`` was probably meant to be, for a "did you mean"."""
        found = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
        return found[0] if found else None

    # --- generic checks

    def unknown_keys(self, table: Mapping[str, Any], known: Sequence[str], path: str) -> None:
        for key in table:
            if key in known:
                continue
            guess = self.closest(key, known)
            if guess:
                vi = (
                    f"Không có mục «{key}». Có phải là «{guess}»? Vui lòng sửa lại tên mục cho "
                    "đúng chính tả."
                )
                en = f"unknown key {key!r}; did you mean {guess!r}?"
            else:
                vi = (
                    f"Không có mục «{key}» ở đây. Vui lòng xóa mục này hoặc sửa lại tên; các mục "
                    f"dùng được: {', '.join(known)}."
                )
                en = f"unknown key {key!r}; known keys: {', '.join(known)}"
            self.problem(_join(path, key), None, vi, en)

    def table(self, value: object, path: str, example: str) -> Mapping[str, Any] | None:
        if isinstance(value, dict):
            return value
        self.problem(
            path,
            value,
            f"Mục «{path}» phải là một bảng các cặp tên = giá trị. Vui lòng viết lại theo "
            f"dạng: {example}",
            f"{path} must be a table, e.g. {example}",
        )
        return None

    def tables(self, value: object, path: str) -> list[Mapping[str, Any]] | None:
        if isinstance(value, list) and all(isinstance(v, dict) for v in value):
            return value
        self.problem(
            path,
            value,
            f"Mục «{path}» phải là danh sách các bảng, mỗi bảng mở đầu bằng dòng [[{path}]]. "
            "Vui lòng viết lại theo tệp mẫu.",
            f"{path} must be an array of tables ([[{path}]])",
        )
        return None

    def missing(self, path: str, what_vi: str, example: str) -> None:
        self.problem(
            path,
            None,
            f"Thiếu mục bắt buộc «{path}» ({what_vi}). Vui lòng bổ sung, ví dụ: {example}",
            f"required key {path} is missing",
        )

    def text(
        self, table: Mapping[str, Any], key: str, path: str, *, limit: int, example: str
    ) -> str | None:
        value = table[key]
        if isinstance(value, str) and value.strip() and len(value) <= limit:
            return value.strip()
        self.problem(
            _join(path, key),
            value,
            f"Giá trị phải là một đoạn chữ không rỗng, tối đa {limit} ký tự, đặt trong dấu "
            f"ngoặc kép. Vui lòng sửa lại, ví dụ: {example}",
            f"must be a non-empty string of at most {limit} characters",
        )
        return None

    # --- the file

    def campaign(self, data: Mapping[str, Any], *, source_file: str) -> CampaignSpec:
        self.unknown_keys(data, _TOP_KEYS, "")
        raw = data.get("campaign")
        if raw is None:
            self.problem(
                "campaign",
                None,
                "Thiếu bảng [campaign] (mã, tên, đường dẫn phiếu, thời gian của đợt khảo sát). "
                "Vui lòng thêm bảng này ở đầu tệp như trong tệp mẫu.",
                "the [campaign] table is missing",
            )
            camp: Mapping[str, Any] = {}
        else:
            camp = (
                self.table(raw, "campaign", '[campaign] rồi các dòng code = "...", title = "..."')
                or {}
            )
        self.unknown_keys(camp, _CAMPAIGN_KEYS, "campaign")

        code = self.code(camp)
        title = self.title(camp)
        tz_name, tz = self.timezone(camp)
        opens_at = self.moment(camp, "opens_at", tz, OPENS_AT_TIME, "opens_at = 2024-12-20")
        deadline = self.moment(camp, "deadline", tz, DEADLINE_TIME, "deadline = 2025-01-10")
        if opens_at is not None and deadline is not None and deadline <= opens_at:
            self.problem(
                "campaign.deadline",
                deadline,
                "Hạn trả lời phiếu (deadline) phải sau thời điểm bắt đầu đợt khảo sát "
                "(opens_at). Vui lòng kiểm tra lại hai mốc thời gian này.",
                "deadline must be after opens_at",
            )
        span = deadline - opens_at if opens_at is not None and deadline is not None else None

        preset, groups, kinds = self.groups_and_kinds(
            camp.get("groups"), data.get("groups"), data.get("unit_kinds")
        )
        survey_url, groups = self.survey_urls(camp, groups)
        policy = read_policy(self, data.get("policy"), span)
        templates_dir = self.templates_dir(camp, source_file)
        completion_rules = self.completion_rules(data.get("completion_email"))
        limesurvey = self.limesurvey(data.get("limesurvey"))

        if (
            self.problems
            or code is None
            or title is None
            or survey_url is None
            or opens_at is None
            or deadline is None
            or groups is None
            or policy is None
        ):
            raise _refuse(self.file, self.problems)
        return CampaignSpec(
            code=code,
            title=title,
            survey_url=survey_url,
            opens_at=opens_at,
            deadline=deadline,
            timezone=tz_name,
            preset=preset,
            groups=groups,
            unit_kinds=kinds,
            policy=policy,
            source_file=source_file,
            templates_dir=templates_dir,
            completion_rules=completion_rules,
            limesurvey=limesurvey,
        )

    def completion_rules(self, value: object) -> tuple[Mapping[str, str], ...]:
        if value is None:
            return ()
        tables = self.tables(value, "completion_email")
        rules: list[Mapping[str, str]] = []
        for number, table in enumerate(tables or [], start=1):
            path = f"completion_email[{number}]"
            self.unknown_keys(table, _COMPLETION_KEYS, path)
            rule: dict[str, str] = {"name": f"completion-{number}"}
            for key in _COMPLETION_KEYS:
                item = table.get(key)
                if item is None:
                    continue
                if not isinstance(item, str) or not item.strip():
                    self.problem(
                        f"{path}.{key}",
                        item,
                        "Vui lòng ghi giá trị này dưới dạng chuỗi trong dấu nháy kép.",
                        f"{key} must be a non-empty string",
                    )
                    continue
                rule[key] = item.strip()
            sender = rule.get("sender")
            if sender is None or "@" not in sender:
                self.problem(
                    f"{path}.sender",
                    sender,
                    "Vui lòng ghi địa chỉ gửi thư báo hoàn thành của phần mềm khảo sát, "
                    'ví dụ sender = "noreply@khaosat.gov.vn" hoặc cả tên miền "@khaosat.gov.vn".',
                    "sender must be an address or '@domain'",
                )
            for key in ("pattern", "subject"):
                if key not in rule:
                    continue
                try:
                    compiled = re.compile(rule[key])
                except re.error as exc:
                    self.problem(
                        f"{path}.{key}",
                        rule[key],
                        f"Biểu thức tìm kiếm viết sai ({exc}). Vui lòng kiểm tra lại dấu ngoặc "
                        "và ký tự đặc biệt.",
                        f"bad regular expression: {exc}",
                    )
                    continue
                if key == "pattern" and not {"token", "email"} & set(compiled.groupindex):
                    self.problem(
                        f"{path}.pattern",
                        rule[key],
                        "Vui lòng đặt tên nhóm (?P<token>...) cho mã phiếu hoặc (?P<email>...) cho "
                        'địa chỉ thư, ví dụ pattern = "Mã phiếu: (?P<token>[A-Za-z0-9_-]{16,})".',
                        "pattern needs a named group token or email",
                    )
            if "pattern" not in rule:
                self.problem(
                    f"{path}.pattern",
                    None,
                    "Thiếu pattern. Vui lòng ghi cách tìm mã phiếu trong thư, ví dụ "
                    'pattern = "Mã phiếu: (?P<token>[A-Za-z0-9_-]{16,})".',
                    "pattern is missing",
                )
            rules.append(rule)
        return tuple(rules)

    def limesurvey(self, value: object) -> Mapping[str, Any] | None:
        if value is None:
            return None
        table = self.table(
            value,
            "limesurvey",
            '[limesurvey] rồi các dòng url = "...", user = "...", survey_id = 1',
        )
        if table is None:
            return None
        if "password" in table:
            self.problem(
                "limesurvey.password",
                None,
                "Không ghi mật khẩu LimeSurvey vào tệp cấu hình. Vui lòng xóa dòng này và đặt mật "
                f"khẩu vào biến môi trường {DEFAULT_LIMESURVEY_PASSWORD_ENV} (hoặc biến có tên "
                "ghi ở mục password_env) trên máy chạy dondoc.",
                "the password must not be in the file: put it in the environment",
            )
        self.unknown_keys(
            {k: v for k, v in table.items() if k != "password"}, _LIMESURVEY_KEYS, "limesurvey"
        )
        checked: dict[str, Any] = {}
        url = table.get("url")
        if url is None:
            self.missing(
                "limesurvey.url", "địa chỉ RemoteControl", f'url = "{_LIMESURVEY_EXAMPLE_URL}"'
            )
        else:
            parts = urlsplit(url.strip()) if isinstance(url, str) else None
            if (
                parts is None
                or parts.scheme not in ("http", "https")
                or not parts.hostname
                or parts.username is not None
                or any(c.isspace() for c in url.strip())
                or "remotecontrol" not in url
                or len(url) > 1000
            ):
                self.problem(
                    "limesurvey.url",
                    url,
                    "Cần địa chỉ giao diện RemoteControl (JSON-RPC) của LimeSurvey, bắt đầu bằng "
                    "http:// hoặc https://, không chứa tên đăng nhập hay mật khẩu, ví dụ "
                    f'url = "{_LIMESURVEY_EXAMPLE_URL}" (máy chủ cài kiểu urlFormat=get thì '
                    'dùng ".../index.php?r=admin/remotecontrol"). Vui lòng sửa lại.',
                    "url must be the http(s) RemoteControl URL without credentials",
                )
            else:
                checked["url"] = url.strip()
        if "user" not in table:
            self.missing("limesurvey.user", "tên đăng nhập LimeSurvey", 'user = "dondoc"')
        else:
            user = self.text(table, "user", "limesurvey", limit=200, example='user = "dondoc"')
            if user is not None:
                checked["user"] = user
        survey_id = table.get("survey_id")
        if survey_id is None:
            self.missing(
                "limesurvey.survey_id", "mã số khảo sát trên LimeSurvey", "survey_id = 123456"
            )
        elif isinstance(survey_id, bool) or not isinstance(survey_id, int) or survey_id <= 0:
            self.problem(
                "limesurvey.survey_id",
                survey_id,
                "Mã khảo sát (survey ID) là số nguyên dương. Vui lòng viết số, không có dấu ngoặc "
                "kép, ví dụ survey_id = 123456 (xem trong địa chỉ trang khảo sát: "
                ".../index.php/123456).",
                "survey_id must be a positive integer",
            )
        else:
            checked["survey_id"] = survey_id
        env = table.get("password_env", DEFAULT_LIMESURVEY_PASSWORD_ENV)
        if isinstance(env, str) and _ENV_NAME.fullmatch(env):
            checked["password_env"] = env
        else:
            self.problem(
                "limesurvey.password_env",
                env,
                "Vui lòng ghi TÊN biến môi trường chứa mật khẩu (chữ in hoa, số và dấu gạch dưới), "
                "không ghi chính mật khẩu, ví dụ "
                f'password_env = "{DEFAULT_LIMESURVEY_PASSWORD_ENV}".',
                "password_env must name an environment variable ([A-Z_][A-Z0-9_]*)",
            )
        every = table.get("poll_every", None)
        seconds: int | None = _DEFAULT_POLL_SECONDS
        if every is not None:
            try:
                seconds = (
                    int(parse_duration(every).total_seconds()) if isinstance(every, str) else None
                )
            except ValueError:
                seconds = None
            if seconds is None or not _POLL_LIMITS[0] <= seconds <= _POLL_LIMITS[1]:
                self.problem(
                    "limesurvey.poll_every",
                    every,
                    "Khoảng thời gian giữa hai lần hỏi LimeSurvey phải từ 1 phút đến 1 ngày. Vui "
                    'lòng viết trong dấu ngoặc kép, ví dụ poll_every = "5m" (5 phút) hoặc '
                    '"1h" (1 giờ).',
                    "poll_every must be a duration between 1m and 1d, e.g. '5m'",
                )
                seconds = None
        if seconds is not None:
            checked["poll_seconds"] = seconds
        if set(checked) != {"url", "user", "survey_id", "password_env", "poll_seconds"}:
            return None
        return checked

    def templates_dir(self, camp: Mapping[str, Any], source_file: str) -> Path | None:
        if "templates" not in camp:
            return None
        value = camp["templates"]
        if isinstance(value, str) and value.strip():
            # Relative to the campaign file, so the file and its templates travel together.
            folder = (Path(source_file).parent / value.strip()).resolve()
            if folder.is_dir():
                return folder
        self.problem(
            "campaign.templates",
            value,
            "Không tìm thấy thư mục mẫu thư này. Vui lòng ghi đường dẫn thư mục (tính từ thư mục "
            'chứa tệp cấu hình), ví dụ templates = "mau-thu", hoặc bỏ dòng này để dùng mẫu có sẵn.',
            "templates must name an existing folder, relative to the campaign file",
        )
        return None

    def code(self, camp: Mapping[str, Any]) -> str | None:
        if "code" not in camp:
            self.missing("campaign.code", "mã đợt khảo sát", 'code = "cchc-2024-sonla"')
            return None
        value = camp["code"]
        if isinstance(value, str) and _CODE.fullmatch(value):
            return value
        self.problem(
            "campaign.code",
            value,
            "Mã đợt khảo sát chỉ gồm chữ thường không dấu (a-z), chữ số và dấu gạch ngang «-», "
            "dài từ 3 đến 64 ký tự, không bắt đầu hay kết thúc bằng «-». Vui lòng sửa lại, "
            'ví dụ: code = "cchc-2024-sonla".',
            "code must be 3..64 characters of lowercase letters, digits and '-'",
        )
        return None

    def title(self, camp: Mapping[str, Any]) -> str | None:
        example = 'title = "Điều tra XHH xác định Chỉ số CCHC năm 2024"'
        if "title" not in camp:
            self.missing("campaign.title", "tên đợt khảo sát", example)
            return None
        return self.text(camp, "title", "campaign", limit=300, example=example)

    def timezone(self, camp: Mapping[str, Any]) -> tuple[str, tzinfo]:
        value = camp.get("timezone", DEFAULT_TIMEZONE)
        if isinstance(value, str):
            try:
                return value, ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError, OSError):
                pass
        self.problem(
            "campaign.timezone",
            value,
            f"Múi giờ «{self.show(value)}» không tồn tại. Vui lòng dùng tên múi giờ chuẩn, ví dụ "
            f'timezone = "{DEFAULT_TIMEZONE}", hoặc bỏ dòng này để dùng giờ Việt Nam.',
            f"unknown time zone {value!r}",
        )
        # Keep checking the rest of the file in Vietnam's time.
        return DEFAULT_TIMEZONE, ZoneInfo(DEFAULT_TIMEZONE)

    def moment(
        self, camp: Mapping[str, Any], key: str, tz: tzinfo, default: time, example: str
    ) -> datetime | None:
        path = f"campaign.{key}"
        if key not in camp:
            what = "thời điểm bắt đầu" if key == "opens_at" else "hạn trả lời phiếu"
            self.missing(path, what, example)
            return None
        value = camp[key]
        found = _moment(value, tz, default)
        if found is None:
            self.problem(
                path,
                value,
                "Không hiểu được ngày giờ này. Vui lòng ghi theo một trong các dạng (không đặt "
                "trong dấu ngoặc kép): 2025-01-10T17:00:00+07:00, 2025-01-10T17:00:00 (giờ "
                "theo múi giờ của đợt) hoặc 2025-01-10 (bắt đầu lúc 08:00, hạn chót lúc 17:00).",
                "not a date or datetime; write e.g. 2025-01-10T17:00:00+07:00 or 2025-01-10",
            )
        return found

    # --- groups and unit kinds

    def groups_and_kinds(
        self, preset_value: object, groups_value: object, kinds_value: object
    ) -> tuple[str | None, tuple[GroupSpec, ...] | None, tuple[UnitKindSpec, ...]]:
        preset = None
        if preset_value is not None:
            preset = find_preset(preset_value) if isinstance(preset_value, str) else None
            if preset is None:
                names = ", ".join(sorted(PRESETS))
                self.problem(
                    "campaign.groups",
                    preset_value,
                    f"Không có bộ nhóm đối tượng mẫu tên «{self.show(preset_value)}». "
                    f"Vui lòng dùng một trong các tên: {names}; hoặc bỏ dòng này và tự khai báo "
                    "các nhóm bằng [[groups]].",
                    f"unknown preset {preset_value!r}; available: {names}",
                )
        if preset_value is not None and groups_value is not None:
            self.problem(
                "campaign.groups",
                preset_value,
                "Tệp vừa chọn bộ nhóm mẫu (groups = ... trong [campaign]) vừa khai báo "
                "[[groups]]. Vui lòng chỉ dùng một cách: xóa dòng groups = ... trong [campaign] "
                "hoặc xóa các bảng [[groups]].",
                "both a preset (campaign.groups) and [[groups]] tables; keep one",
            )
        elif preset_value is None and groups_value is None:
            self.problem(
                "campaign.groups",
                None,
                "Đợt khảo sát chưa có nhóm đối tượng nào. Vui lòng chọn bộ nhóm mẫu, ví dụ "
                'groups = "bnv-cap-tinh" trong [campaign], hoặc tự khai báo các nhóm bằng '
                "[[groups]].",
                "no groups: name a preset in campaign.groups or define [[groups]]",
            )

        kinds = self.unit_kinds(kinds_value, preset.unit_kinds if preset else ())
        if groups_value is None:
            return (preset.name if preset else None), (preset.groups if preset else None), kinds
        entries = self.tables(groups_value, "groups")
        if entries is None:
            return None, None, kinds
        if not entries:
            self.problem(
                "groups",
                groups_value,
                "Danh sách nhóm đối tượng đang trống. Vui lòng khai báo ít nhất một nhóm bằng "
                "[[groups]].",
                "[[groups]] is empty",
            )
            return None, None, kinds
        kind_codes = [k.code for k in kinds]
        before = len(self.problems)
        parsed = [(i, self.group(entry, i, kind_codes)) for i, entry in enumerate(entries, 1)]
        groups = [(i, g) for i, g in parsed if g is not None]
        # Clashes are checked among the groups readable so far, to report them in the same run.
        self.check_group_clashes(groups)
        if len(self.problems) > before or len(groups) != len(parsed):
            return None, None, kinds
        return None, tuple(sorted((g for _, g in groups), key=lambda g: g.priority)), kinds

    def group(
        self, entry: Mapping[str, Any], i: int, kind_codes: Sequence[str]
    ) -> GroupSpec | None:
        path = f"groups[{i}]"
        self.unknown_keys(entry, _GROUP_KEYS, path)
        code = name = priority = None
        if "code" not in entry:
            self.missing(f"{path}.code", "mã nhóm", 'code = "lanh_dao_so"')
        else:
            code = _key_code(entry["code"], 64)
        if "code" in entry and code is None:
            self.problem(
                f"{path}.code",
                entry["code"],
                "Mã nhóm chỉ gồm chữ thường không dấu, chữ số và dấu gạch dưới «_», bắt đầu "
                'bằng chữ cái, tối đa 64 ký tự. Vui lòng sửa lại, ví dụ: code = "lanh_dao_so".',
                "group code must be lowercase letters, digits and '_', starting with a letter",
            )
        if "name" not in entry:
            self.missing(f"{path}.name", "tên nhóm", 'name = "Lãnh đạo cấp sở"')
        else:
            name = self.text(entry, "name", path, limit=300, example='name = "Lãnh đạo cấp sở"')
        if "priority" not in entry:
            self.missing(f"{path}.priority", "thứ tự ưu tiên", "priority = 1")
        elif isinstance(entry["priority"], int) and not isinstance(entry["priority"], bool):
            priority = entry["priority"]
        if "priority" in entry and (priority is None or priority < 1):
            self.problem(
                f"{path}.priority",
                entry["priority"],
                "Thứ tự ưu tiên phải là số nguyên dương; khi một người thuộc hai nhóm, nhóm có "
                "số nhỏ hơn được chọn. Vui lòng sửa lại, ví dụ: priority = 1.",
                "priority must be a positive integer",
            )
            priority = None
        quotas = self.quotas(entry.get("quota", {}), f"{path}.quota", kind_codes)
        aliases = self.aliases(entry.get("aliases", []), f"{path}.aliases")
        if code is None or name is None or priority is None:
            return None
        return GroupSpec(code=code, name=name, priority=priority, quotas=quotas, aliases=aliases)

    def quotas(self, value: object, path: str, kind_codes: Sequence[str]) -> dict[str, int]:
        table = self.table(value, path, "quota = { so = 3 }")
        found: dict[str, int] = {}
        for kind, count in (table or {}).items():
            if kind not in kind_codes:
                guess = self.closest(kind, kind_codes)
                hint_vi = f" Có phải là «{guess}»?" if guess else ""
                hint_en = f"; did you mean {guess!r}?" if guess else ""
                known = ", ".join(kind_codes) or "(chưa có)"
                self.problem(
                    _join(path, kind),
                    kind,
                    f"Loại đơn vị «{kind}» chưa được khai báo.{hint_vi} Vui lòng dùng một trong "
                    f"các loại: {known}; hoặc khai báo thêm loại này bằng [[unit_kinds]].",
                    f"unknown unit kind {kind!r}{hint_en}",
                )
            elif isinstance(count, bool) or not isinstance(count, int) or count < 1:
                self.problem(
                    _join(path, kind),
                    count,
                    "Số người cần khảo sát ở mỗi đơn vị phải là số nguyên dương. Vui lòng sửa "
                    "lại, ví dụ: quota = { so = 3 }; nếu khảo sát tất cả thì bỏ mục quota.",
                    "a quota is a positive integer (people per unit)",
                )
            else:
                found[kind] = count
        return found

    def aliases(self, value: object, path: str) -> tuple[str, ...]:
        if isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value):
            return tuple(v.strip() for v in value)
        self.problem(
            path,
            value,
            "Tên gọi khác của nhóm phải là danh sách các đoạn chữ không rỗng. Vui lòng sửa lại, "
            'ví dụ: aliases = ["Lãnh đạo sở", "LĐ sở"].',
            "aliases must be a list of non-empty strings",
        )
        return ()

    def check_group_clashes(self, groups: Sequence[tuple[int, GroupSpec]]) -> None:
        """Duplicate codes and priorities, then names or aliases that point at two groups."""
        codes: dict[str, GroupSpec] = {}
        priorities: dict[int, GroupSpec] = {}
        for i, group in groups:
            path = f"groups[{i}]"
            if group.code in codes:
                self.problem(
                    f"{path}.code",
                    group.code,
                    f"Mã nhóm «{group.code}» bị trùng với một nhóm khai báo phía trên. Vui lòng "
                    "đặt cho mỗi nhóm một mã riêng.",
                    f"duplicate group code {group.code!r}",
                )
            codes.setdefault(group.code, group)
            other = priorities.setdefault(group.priority, group)
            if other is not group:
                self.problem(
                    f"{path}.priority",
                    group.priority,
                    f"Thứ tự ưu tiên {group.priority} bị trùng với nhóm «{other.name}». Vui lòng "
                    "đặt cho mỗi nhóm một số ưu tiên khác nhau (số nhỏ hơn được chọn khi một "
                    "người thuộc hai nhóm).",
                    f"priority {group.priority} is also the priority of group {other.code!r}",
                )
        if len(codes) != len(groups) or len(priorities) != len(groups):
            return
        # A roster cell must name one group only: no name or alias may point at two groups.
        owners: dict[str, tuple[int, GroupSpec]] = {}
        in_order = sorted(groups, key=lambda pair: pair[1].priority)
        for position, (i, group) in enumerate(in_order, start=1):
            for key in sorted(group.match_keys(position)):
                j, other = owners.setdefault(key, (i, group))
                if other is group:
                    continue
                # Blame what was written: the group whose number alone clashes is not at fault.
                culprit, culprit_i, innocent = group, i, other
                found = _written_as(group, key)
                if found is None:
                    culprit, culprit_i, innocent = other, j, group
                    found = _written_as(other, key) or ("code", key)
                field_name, written = found
                self.problem(
                    f"groups[{culprit_i}].{field_name}",
                    written,
                    f"Tên gọi «{written}» của nhóm «{culprit.name}» trùng với tên gọi hoặc số thứ "
                    f"tự của nhóm «{innocent.name}», nên không biết người ghi «{written}» trong "
                    "danh sách thuộc nhóm nào. Vui lòng đổi hoặc bỏ tên gọi này.",
                    f"{written!r} of group {culprit.code!r} also names group {innocent.code!r}",
                )

    def unit_kinds(
        self, value: object, preset_kinds: tuple[UnitKindSpec, ...]
    ) -> tuple[UnitKindSpec, ...]:
        if value is None:
            return preset_kinds
        entries = self.tables(value, "unit_kinds")
        if entries is None:
            return preset_kinds
        own: list[tuple[int, UnitKindSpec]] = []
        for i, entry in enumerate(entries, start=1):
            kind = self.unit_kind(entry, i)
            if kind is None:
                continue
            if any(k.code == kind.code for _, k in own):
                self.problem(
                    f"unit_kinds[{i}].code",
                    kind.code,
                    f"Loại đơn vị «{kind.code}» được khai báo hai lần. Vui lòng gộp hai khai báo "
                    "làm một.",
                    f"duplicate unit kind {kind.code!r}",
                )
                continue
            own.append((i, kind))
        # Own kinds replace the preset's of the same code, so an organiser can add local prefixes.
        own_codes = {k.code for _, k in own}
        kinds = [k for k in preset_kinds if k.code not in own_codes] + [k for _, k in own]
        owner: dict[str, str] = {}
        for kind in kinds:
            for prefix in kind.match:
                owner.setdefault(fold(prefix), kind.code)
        for i, kind in own:
            for prefix in kind.match:
                other = owner[fold(prefix)]
                if other != kind.code:
                    self.problem(
                        f"unit_kinds[{i}].match",
                        prefix,
                        f"Tiền tố «{prefix}» đã dùng cho loại đơn vị «{other}», nên không biết "
                        "đơn vị bắt đầu bằng tiền tố này thuộc loại nào. Vui lòng giữ tiền tố "
                        "ở một loại duy nhất.",
                        f"prefix {prefix!r} is also a prefix of unit kind {other!r}",
                    )
        return tuple(kinds)

    def unit_kind(self, entry: Mapping[str, Any], i: int) -> UnitKindSpec | None:
        path = f"unit_kinds[{i}]"
        self.unknown_keys(entry, _UNIT_KIND_KEYS, path)
        before = len(self.problems)
        code = name = None
        match: tuple[str, ...] = ()
        if "code" not in entry:
            self.missing(f"{path}.code", "mã loại đơn vị", 'code = "xa"')
        else:
            code = _key_code(entry["code"], 32)
        if "code" in entry and code is None:
            self.problem(
                f"{path}.code",
                entry["code"],
                "Mã loại đơn vị chỉ gồm chữ thường không dấu, chữ số và dấu gạch dưới «_», bắt "
                'đầu bằng chữ cái, tối đa 32 ký tự. Vui lòng sửa lại, ví dụ: code = "xa".',
                "unit kind code must be lowercase letters, digits and '_', at most 32",
            )
        if "name" not in entry:
            self.missing(f"{path}.name", "tên loại đơn vị", 'name = "Xã, phường, đặc khu"')
        else:
            name = self.text(entry, "name", path, limit=300, example='name = "Xã, phường"')
        value = entry.get("match")
        if value is None:
            self.missing(f"{path}.match", "tiền tố tên đơn vị", 'match = ["UBND xã", "Xã"]')
        elif (
            isinstance(value, list) and value and all(isinstance(v, str) and fold(v) for v in value)
        ):
            match = tuple(v.strip() for v in value)
        else:
            self.problem(
                f"{path}.match",
                value,
                "Mục match phải là danh sách các chữ mở đầu tên đơn vị thuộc loại này. Vui lòng "
                'sửa lại, ví dụ: match = ["UBND xã", "Xã", "Phường"].',
                "match must be a non-empty list of unit-name prefixes",
            )
        if len(self.problems) > before or code is None or name is None:
            return None
        return UnitKindSpec(code=code, name=name, match=match)

    # --- survey URLs

    def survey_urls(
        self, camp: Mapping[str, Any], groups: tuple[GroupSpec, ...] | None
    ) -> tuple[str | None, tuple[GroupSpec, ...] | None]:
        if "survey_url" not in camp:
            self.missing(
                "campaign.survey_url",
                "đường dẫn phiếu khảo sát",
                f'survey_url = "{_URL_EXAMPLE}"',
            )
            return None, groups
        value = camp["survey_url"]
        if isinstance(value, str):
            return self.url(value, "campaign.survey_url"), groups
        if not isinstance(value, dict):
            self.problem(
                "campaign.survey_url",
                value,
                "Đường dẫn phiếu khảo sát phải là một đoạn chữ, hoặc một bảng ghi đường dẫn "
                "riêng cho từng nhóm. Vui lòng sửa lại, ví dụ: "
                f'survey_url = "{_URL_EXAMPLE}".',
                "survey_url must be a string or a table {group_code = url}",
            )
            return None, groups
        urls: dict[str, str] = {}
        codes = [g.code for g in groups] if groups is not None else None
        for key, url in value.items():
            path = f"campaign.survey_url.{key}"
            if codes is not None and key != _DEFAULT_URL_KEY and key not in codes:
                guess = self.closest(key, [*codes, _DEFAULT_URL_KEY])
                hint_vi = f" Có phải là «{guess}»?" if guess else ""
                hint_en = f"; did you mean {guess!r}?" if guess else ""
                self.problem(
                    path,
                    key,
                    f"Không có nhóm đối tượng mã «{key}» trong đợt khảo sát này.{hint_vi} "
                    f"Vui lòng dùng mã của một nhóm ({', '.join(codes)}) hoặc «default» cho "
                    "đường dẫn dùng chung.",
                    f"unknown group {key!r}{hint_en}",
                )
                continue
            checked = self.url(url, path)
            if checked is not None:
                urls[key] = checked
        if groups is None:
            return None, None
        default = urls.get(_DEFAULT_URL_KEY)
        uncovered = [g for g in groups if g.code not in value]
        if default is None and uncovered and _DEFAULT_URL_KEY not in value:
            self.problem(
                "campaign.survey_url",
                None,
                "Các nhóm sau chưa có đường dẫn phiếu khảo sát: "
                f"{', '.join(g.code for g in uncovered)}. Vui lòng thêm đường dẫn cho từng nhóm "
                "này, hoặc thêm mục «default» làm đường dẫn dùng chung.",
                f"no survey URL for groups {', '.join(g.code for g in uncovered)}; add them or "
                "a 'default'",
            )
            return None, groups
        if len(urls) != len(value):
            return None, groups
        groups = tuple(replace(g, survey_url=urls.get(g.code)) for g in groups)
        # Every group has its own questionnaire when there is no default: the campaign's URL is
        # then never used alone, and the first group's keeps the column a usable link.
        campaign_url = default if default is not None else urls[groups[0].code]
        return campaign_url, groups

    def url(self, value: object, path: str) -> str | None:
        if not isinstance(value, str):
            self.problem(
                path,
                value,
                "Đường dẫn phiếu khảo sát phải là chữ đặt trong dấu ngoặc kép. Vui lòng sửa lại, "
                f'ví dụ: "{_URL_EXAMPLE}".',
                "a survey URL is a string",
            )
            return None
        url = value.strip()
        parts = urlsplit(url.replace(URL_SLOT, "x"))
        if url.count(URL_SLOT) != 1:
            self.problem(
                path,
                value,
                "Đường dẫn phiếu khảo sát phải chứa đúng một lần «{token}» — chỗ dondoc điền mã "
                "riêng của từng người. Vui lòng thêm «{token}» vào đường dẫn, ví dụ: "
                f"{_URL_EXAMPLE}.",
                "a survey URL needs exactly one {token}",
            )
        elif "{" in url.replace(URL_SLOT, "") or "}" in url.replace(URL_SLOT, ""):
            self.problem(
                path,
                value,
                "Đường dẫn chỉ được có «{token}» trong ngoặc nhọn. Vui lòng bỏ các dấu «{», «}» "
                "khác (nếu nền tảng khảo sát cần, hãy mã hóa thành %7B và %7D).",
                "a survey URL may hold no braces other than {token}",
            )
        elif (
            parts.scheme not in ("http", "https")
            or not parts.netloc
            or any(c.isspace() for c in url)
            or len(url) > 1000
        ):
            self.problem(
                path,
                value,
                "Đường dẫn phiếu khảo sát phải bắt đầu bằng http:// hoặc https://, có tên miền, "
                "không chứa dấu cách và dài không quá 1000 ký tự. Vui lòng sửa lại, ví dụ: "
                f"{_URL_EXAMPLE}.",
                "a survey URL must be an http(s) link with a host, without spaces",
            )
        else:
            return url
        return None


def _written_as(group: GroupSpec, key: str) -> tuple[str, str] | None:
    """The key and text of ``group`` in the file whose fold is ``key``, if any."""
    words = [("aliases", a) for a in group.aliases] + [("name", group.name), ("code", group.code)]
    return next(((k, w) for k, w in words if fold(w) == key), None)


def _key_code(value: object, limit: int) -> str | None:
    if isinstance(value, str) and len(value) <= limit and _KEY_CODE.fullmatch(value):
        return value
    return None


_VN_DATE: Final = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})(?:\s+(.+))?")


def _moment(value: object, tz: tzinfo, default: time) -> datetime | None:
    """An aware datetime from a TOML date, datetime or text; None when it is none of them."""
    if isinstance(value, str):
        value = _moment_text(value.strip())
        if value is None:
            return None
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=tz)
    if isinstance(value, date):
        return datetime.combine(value, default, tzinfo=tz)
    return None


def _moment_text(text: str) -> date | None:
    # Organisers copy dates from the documents ("10/01/2025"), always day first.
    found = _VN_DATE.fullmatch(text)
    try:
        if found is None:
            if "T" in text or " " in text:
                return datetime.fromisoformat(text)
            return date.fromisoformat(text)
        day = date(int(found.group(3)), int(found.group(2)), int(found.group(1)))
        if found.group(4) is None:
            return day
        return datetime.combine(day, parse_clock(found.group(4)))
    except ValueError:
        return None
