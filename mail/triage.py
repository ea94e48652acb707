"""What one message in the organiser's mailbox is: bounce, delay, auto-reply, reply, completion.

``triage(raw)`` is pure (no database, no network, no clock): it reads the bytes of one message
and returns one typed result. The order of the questions is the point of this module:

1. Is it a delivery status notification (RFC 3464 ``message/delivery-status``)? Then the report
   itself says which recipients failed, with which status code, and whether the server gave up
   (``Action: failed``) or is still trying (``Action: delayed``). That part is read here.
2. Is it a read receipt (RFC 8098)? That is an automatic answer, nothing more.
3. Is it a completion notice from the survey platform (a configured ``CompletionRule``)?
4. Does it *look* like a bounce without being a standard one (MAILER-DAEMON or postmaster as
   sender, an empty Return-Path, an "Undeliverable" subject)? Only then is flufl.bounce asked
   which addresses failed: it finds "addresses" in ordinary mail, and it can raise on odd
   messages, so it is a guarded fallback and never the first judge.
5. Is it an auto-reply (``Auto-Submitted``, ``X-Autoreply``, ``Precedence``, out-of-office
   subjects in Vietnamese and English)? It is logged, never a bounce and never a reply.
6. Is it a human reply to something we sent (our signed Reply-To tag, or one of our Message-IDs
   in In-Reply-To / References)? Then a short excerpt without the quoted text is kept.
7. Anything else is ``Other``.

Who the message is about comes from the signed tag in the address it was delivered to
(``+b<id>`` bounces through the envelope sender, ``+r<id>`` replies through Reply-To; ``c``/``f``
are the same for contacts), from our Message-ID in the returned headers, or, for bounces, from the
failed address itself; ``mail.inbound`` turns those into people.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes
from email.header import decode_header, make_header
from email.message import Message
from email.parser import HeaderParser
from email.utils import getaddresses, parseaddr, parsedate_to_datetime
from html.parser import HTMLParser
from typing import ClassVar, Literal, TypedDict

from flufl.bounce import all_failures

from mail.signing import Tag, read_tag, tag_of_address
from storage.text import fold

log = logging.getLogger(__name__)

BounceClass = Literal["bad_address", "mailbox_full", "policy", "other"]

# Our Message-IDs: <dondoc.{delivery_id}.{16 hex}@domain> (see mail.signing's module doc).
OUR_MESSAGE_ID = re.compile(r"<dondoc\.(\d{1,18})\.[0-9a-f]{16}@[^<>\s]+>", re.IGNORECASE)
# RFC 3463 enhanced status codes; the look-arounds keep IP addresses and versions out.
ENHANCED_STATUS = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?!\.?\d)")
BASIC_STATUS = re.compile(r"(?<![\d.])([245])\d\d(?![\d.])")
EXCERPT_CHARS = 1000
# Bigger bodies are cut before any pattern runs on them: triage must stay fast on junk.
MAX_TEXT_CHARS = 200_000


# --- results ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Triaged:
    """Facts every result carries. ``tag`` is a verified signed tag; ``delivery_ids`` are the
    delivery ids of our Message-IDs the message refers to (to be checked against the outbox)."""

    kind: ClassVar[str] = "other"
    message_id: str | None = None
    sender: str | None = None
    subject: str = ""
    date: datetime | None = None
    tag: Tag | None = None
    our_message_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Bounce(Triaged):
    """The server gave up on these recipients. ``permanent`` is true for a 5.x.x status (or a
    failure without any status); a 4.x.x failure means the server stopped trying a temporary
    problem (Postfix after its queue lifetime), so the address itself is not known to be bad."""

    kind: ClassVar[str] = "bounce"
    addresses: tuple[str, ...] = ()
    status: str | None = None
    klass: BounceClass = "other"
    permanent: bool = True
    diagnostic: str = ""
    # "dsn" when read from an RFC 3464 report, "heuristic" when from flufl.bounce or the text.
    source: str = "dsn"


@dataclass(frozen=True, slots=True, kw_only=True)
class Delayed(Triaged):
    """The server is still trying (``Action: delayed``, or a "warning: not yet delivered")."""

    kind: ClassVar[str] = "delayed"
    addresses: tuple[str, ...] = ()
    status: str | None = None
    klass: BounceClass = "other"
    diagnostic: str = ""
    source: str = "dsn"


@dataclass(frozen=True, slots=True, kw_only=True)
class AutoReply(Triaged):
    """Out of office, vacation, read receipt, "your message was received"."""

    kind: ClassVar[str] = "auto_reply"
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Reply(Triaged):
    """A person wrote back. ``excerpt`` is their own text, quoted lines removed, shortened."""

    kind: ClassVar[str] = "reply"
    in_reply_to: str | None = None
    excerpt: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Completion(Triaged):
    """The survey platform says someone finished: by token (preferred) or by email."""

    kind: ClassVar[str] = "completion"
    rule: str = ""
    token: str | None = None
    email: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Other(Triaged):
    kind: ClassVar[str] = "other"
    reason: str = ""


Result = Bounce | Delayed | AutoReply | Reply | Completion | Other


class _Common(TypedDict):
    message_id: str | None
    sender: str | None
    subject: str
    date: datetime | None
    tag: Tag | None
    our_message_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CompletionRule:
    """How a survey platform's "response completed" email is recognised.

    ``sender`` is an address (``noreply@survey.gov.vn``) or a whole domain (``@survey.gov.vn``);
    ``subject`` (optional) is a regex the subject must match; ``pattern`` is a regex searched in
    the subject, then in the text of the body, with a named group ``token`` and/or ``email``.
    Prefer the token: it cannot be guessed, while an email address in a forged message could
    mark someone answered who has not.
    """

    sender: str
    pattern: str
    subject: str | None = None
    name: str = "completion"
    _compiled: re.Pattern[str] = field(init=False, repr=False, compare=False)
    _subject: re.Pattern[str] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            compiled = re.compile(self.pattern, re.IGNORECASE)
            subject = re.compile(self.subject, re.IGNORECASE) if self.subject else None
        except re.error as exc:
            raise ValueError(
                f"completion rule {self.name!r}: bad regular expression: {exc}"
            ) from exc
        if not {"token", "email"} & set(compiled.groupindex):
            raise ValueError(
                f"completion rule {self.name!r}: the pattern needs a named group (?P<token>...) "
                "or (?P<email>...)"
            )
        if "@" not in self.sender:
            raise ValueError(
                f"completion rule {self.name!r}: sender must be an address or '@domain', "
                f"got {self.sender!r}"
            )
        object.__setattr__(self, "_compiled", compiled)
        object.__setattr__(self, "_subject", subject)

    def sender_matches(self, sender: str | None) -> bool:
        if not sender:
            return False
        wanted = self.sender.strip().lower()
        return sender.endswith(wanted) if wanted.startswith("@") else sender == wanted

    def find(self, subject: str, body: str) -> tuple[str | None, str | None] | None:
        if self._subject is not None and not self._subject.search(subject):
            return None
        for text in (subject, body):
            match = self._compiled.search(text)
            if match is None:
                continue
            groups = match.groupdict()
            token = (groups.get("token") or "").strip() or None
            email = (groups.get("email") or "").strip().lower() or None
            if token or email:
                return token, email
        return None


# --- reading a message -----------------------------------------------------------------------


def header_text(msg: Message, name: str) -> str:
    """A header as text, RFC 2047 words decoded, whitespace folded; "" when absent or broken."""
    value = msg.get(name)
    if value is None:
        return ""
    try:
        text = str(make_header(decode_header(str(value))))
    except (LookupError, UnicodeError, ValueError, TypeError):
        text = str(value)
    return " ".join(unicodedata.normalize("NFC", text).split())


def _addresses(msg: Message, *names: str) -> list[str]:
    values: list[str] = []
    for name in names:
        values.extend(str(v) for v in msg.get_all(name, []))
    return [addr.strip().lower() for _, addr in getaddresses(values) if "@" in addr]


def _sender(msg: Message) -> str | None:
    _, addr = parseaddr(str(msg.get("From", "")))
    return addr.strip().lower() or None


def _date(msg: Message) -> datetime | None:
    value = msg.get("Date")
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(str(value))
    except (TypeError, ValueError, IndexError):
        return None
    return moment if moment.tzinfo is not None else None


def _message_id(msg: Message) -> str | None:
    value = " ".join(str(msg.get("Message-ID", "")).split())
    return value[:998] or None


def _our_message_ids(*values: str) -> tuple[str, ...]:
    found: list[str] = []
    for value in values:
        for match in OUR_MESSAGE_ID.finditer(value):
            mid = match.group(0)
            if mid not in found:
                found.append(mid)
    return tuple(found)


def _decoded(part: Message) -> str:
    try:
        payload = part.get_payload(decode=True)
    except (AssertionError, ValueError, TypeError):  # broken transfer encodings
        payload = None
    if not isinstance(payload, bytes):
        raw = part.get_payload()
        return raw[:MAX_TEXT_CHARS] if isinstance(raw, str) else ""
    charset = part.get_content_charset() or "utf-8"
    try:
        text = payload[: MAX_TEXT_CHARS * 4].decode(charset, errors="replace")
    except LookupError:
        text = payload[: MAX_TEXT_CHARS * 4].decode("utf-8", errors="replace")
    return unicodedata.normalize("NFC", text)[:MAX_TEXT_CHARS]


class _HtmlText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in ("br", "p", "div", "tr", "li", "blockquote"):
            self.chunks.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.chunks.append(data)


def html_to_text(html: str) -> str:
    parser = _HtmlText()
    try:
        parser.feed(html)
        parser.close()
    except (AssertionError, ValueError):  # malformed markup: keep what was read
        pass
    return "".join(parser.chunks)


def _walk_own_parts(msg: Message) -> Iterator[Message]:
    """The parts of this message, not of the messages it carries (a bounce's returned copy)."""
    stack = [msg]
    while stack:
        part = stack.pop(0)
        if part.get_content_maintype() == "message" and part is not msg:
            continue
        yield part
        if part.is_multipart():
            payload = part.get_payload()
            if isinstance(payload, list):
                stack[:0] = [p for p in payload if isinstance(p, Message)]


def body_text(msg: Message) -> str:
    """The readable text of the message itself: the first text/plain part, else its HTML."""
    html: str | None = None
    for part in _walk_own_parts(msg):
        if part.is_multipart() or part.get_content_disposition() == "attachment":
            continue
        ctype = part.get_content_type()
        if ctype == "text/plain":
            return _decoded(part)
        if ctype == "text/html" and html is None:
            html = _decoded(part)
    return html_to_text(html) if html is not None else ""


def _returned_headers(msg: Message) -> Message | None:
    """Headers of our message as the bounce returns them (message/rfc822, text/rfc822-headers)."""
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype in ("message/rfc822", "message/global") and part is not msg:
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                return payload[0]
            if isinstance(payload, str):
                return HeaderParser().parsestr(payload)
        if ctype in ("text/rfc822-headers", "message/global-headers"):
            return HeaderParser().parsestr(_decoded(part))
    return None


def _verified_tag(secret: bytes | None, addresses: Sequence[str]) -> Tag | None:
    if secret is None:
        return None
    for address in addresses:
        tag_text = tag_of_address(address)
        if tag_text is None:
            continue
        tag = read_tag(secret, tag_text)
        if tag is not None:
            return tag
    return None


# --- bounces ---------------------------------------------------------------------------------

BOUNCE_SENDERS = frozenset(
    {
        "mailer-daemon",
        "mailerdaemon",
        "mailer_daemon",
        "mail-daemon",
        "maildaemon",
        "mdaemon",
        "postmaster",
    }
)
BOUNCE_SUBJECT = re.compile(
    r"undeliver|undelivered|not\s+(?:be\s+)?delivered|delivery\s+(?:status\s+)?notification"
    r"|delivery\s+(?:failure|failed|problem|report|notification)|delivery\s+has\s+failed"
    r"|returned\s+(?:mail|to\s+sender)|mail\s+delivery\s+(?:failed|failure|warning|system)"
    r"|failure\s+(?:notice|delivery)|non[-\s]?delivery|nondeliverable|failed\s+mail"
    r"|permanent\s+delivery|delivery\s+warning|message\s+delayed|delayed\s+mail"
    r"|mail\s+(?:error|failed|not\s+delivered)|could\s+not\s+be\s+delivered"
    r"|rejected\s+mail|your\s+message\s+to\s.+\s(?:was|could|has)"
    r"|warning:\s+message|user\s+unknown|no\s+such\s+user|non\s+remis|unzustellbar|khong\s+(?:the\s+)?(?:gui|chuyen)",
    re.IGNORECASE,
)
BAD_ADDRESS_WORDS = re.compile(
    r"user\s+unknown|unknown\s+(?:user|recipient|address|local)|no\s+such\s+(?:user|recipient"
    r"|mailbox|address)|does\s*n[o']t\s+exist|not\s+exist|invalid\s+(?:recipient|address|mailbox)"
    r"|recipient\s+address\s+rejected|address\s+rejected|mailbox\s+(?:unavailable|not\s+found"
    r"|does)|no\s+mailbox|not\s+a\s+valid\s+(?:mailbox|user|recipient)|account\s+(?:is\s+)?"
    r"(?:disabled|closed|inactive)|unrouteable\s+address|host\s+not\s+found"
    r"|khong\s+ton\s+tai",
    re.IGNORECASE,
)
FULL_WORDS = re.compile(
    r"quota|mailbox\s+(?:is\s+)?full|over\s*quota|insufficient\s+(?:disk\s+)?(?:storage|space)"
    r"|storage\s+(?:limit|exceeded)|exceeded\s+storage|hop\s+thu\s+(?:da\s+)?day",
    re.IGNORECASE,
)
POLICY_WORDS = re.compile(r"\bspam\b|blacklist|blocklist|\bpolicy\b", re.IGNORECASE)


def _status_from(text: str, *, delivered_too: bool = False) -> str | None:
    """The first status code in ``text`` as "C.S.D"; a bare SMTP reply code gives "C.0.0".

    Only a DSN's own Status field may say 2.x.x (delivered); in free text a 2.x.x is a version
    or a log line, never the failure.
    """
    classes = "245" if delivered_too else "45"
    for match in ENHANCED_STATUS.finditer(text):
        if match[1] in classes:
            return f"{match[1]}.{int(match[2])}.{int(match[3])}"
    for basic in BASIC_STATUS.finditer(text):
        if basic[1] in classes:
            return f"{basic[1]}.0.0"
    return None


def classify(status: str | None, text: str = "") -> BounceClass:
    """RFC 3463: X.1.x is the address, X.2.2 a full mailbox, X.7.x policy; the text decides when
    the code is missing or says nothing (X.0.0)."""
    subject = detail = -1
    if status:
        _cls, subject, detail = (int(n) for n in status.split("."))
        if (subject, detail) == (2, 2):
            return "mailbox_full"
        if subject == 1 and detail != 0:
            return "bad_address"
        if subject == 7 and detail != 0:
            return "policy"
        if detail != 0:
            return "other"
    # A generic code (X.Y.0) or none: the server's words say more ("4.3.0 Quota exceeded").
    folded = fold(text[:20_000])
    if FULL_WORDS.search(folded):
        return "mailbox_full"
    if subject == 1 or BAD_ADDRESS_WORDS.search(folded):
        return "bad_address"
    if subject == 7 or POLICY_WORDS.search(folded):
        return "policy"
    return "other"


def _status_rank(status: str | None) -> int:
    """How much a status says: a specific code beats X.0.0, which beats none."""
    if status is None:
        return 0
    return 1 if status.endswith(".0.0") else 2


@dataclass(slots=True)
class _Recipient:
    address: str
    action: str
    status: str | None
    diagnostic: str
    # The Status field as written ("5.0.0 (recipient reached disk quota)"): words to classify.
    status_text: str = ""


def _field(block: Message, name: str) -> str:
    return " ".join(str(block.get(name, "")).split())


def _report_blocks(part: Message) -> list[Message]:
    payload = part.get_payload()
    if isinstance(payload, list):
        return [p for p in payload if isinstance(p, Message)]
    text = _decoded(part)
    parser = HeaderParser()
    return [parser.parsestr(chunk.strip() + "\n") for chunk in re.split(r"\n\s*\n", text)]


def _report_recipients(msg: Message) -> list[_Recipient] | None:
    """The per-recipient fields of the delivery-status parts, or None when there is none."""
    parts = [
        part
        for part in msg.walk()
        if part.get_content_type() in ("message/delivery-status", "message/global-delivery-status")
    ]
    if not parts:
        return None
    recipients: list[_Recipient] = []
    for part in parts:
        for block in _report_blocks(part):
            # The original recipient is the address we wrote to; the final one may be an
            # internal alias of the receiving system ("userx@sims-ms-daemon").
            address = ""
            for name in ("Original-Recipient", "Final-Recipient", "X-Actual-Recipient"):
                candidate = _field(block, name).rpartition(";")[2].strip().strip("<>").strip()
                if "@" in candidate:
                    address = candidate.lower()
                    break
            if not address:
                continue  # the per-message block (Reporting-MTA, Arrival-Date)
            status_text = _field(block, "Status")
            diagnostic = _field(block, "Diagnostic-Code")
            status = _status_from(status_text, delivered_too=True)
            from_diagnostic = _status_from(diagnostic)
            if _status_rank(from_diagnostic) > _status_rank(status):
                status = from_diagnostic
            recipients.append(
                _Recipient(
                    address,
                    _action(_field(block, "Action"), status),
                    status,
                    diagnostic,
                    status_text,
                )
            )
    return recipients


def _action(text: str, status: str | None) -> str:
    """RFC 3464 actions, with the variants servers write ("failure", "error")."""
    word = text.lower().split(" ")[0] if text else ""
    if word in ("delivered", "relayed", "expanded"):
        return word
    if word.startswith("delay"):
        return "delayed"
    if not word and status and status.startswith("2"):
        return "delivered"
    if not word and status and status.startswith("4"):
        return "delayed"
    return "failed"


def _best(recipients: list[_Recipient]) -> _Recipient:
    return max(recipients, key=lambda r: _status_rank(r.status))


def _from_report(recipients: list[_Recipient], common: _Common) -> Result | None:
    failed = [r for r in recipients if r.action == "failed"]
    delayed = [r for r in recipients if r.action == "delayed"]
    if failed:
        best = _best(failed)
        status = best.status
        return Bounce(
            addresses=tuple(dict.fromkeys(r.address for r in failed)),
            status=status,
            klass=classify(status, f"{best.diagnostic} {best.status_text}"),
            permanent=status is None or status.startswith("5"),
            diagnostic=best.diagnostic[:500],
            source="dsn",
            **common,
        )
    if delayed:
        best = _best(delayed)
        return Delayed(
            addresses=tuple(dict.fromkeys(r.address for r in delayed)),
            status=best.status,
            klass=classify(best.status, f"{best.diagnostic} {best.status_text}"),
            diagnostic=best.diagnostic[:500],
            source="dsn",
            **common,
        )
    if recipients:
        return Other(reason="delivery report without failures", **common)
    return None


def _disposition(msg: Message) -> tuple[str, str, str] | None:
    """(disposition, final recipient, human text) of an RFC 8098 MDN, or None."""
    if msg.get_content_type() != "multipart/report":
        return None
    if "disposition-notification" not in str(msg.get_param("report-type", "")).lower():
        return None
    disposition = address = ""
    for part in msg.walk():
        if part.get_content_type() != "message/disposition-notification":
            continue
        for block in _report_blocks(part):
            disposition = disposition or _field(block, "Disposition").lower()
            final = _field(block, "Final-Recipient") or _field(block, "Original-Recipient")
            candidate = final.rpartition(";")[2].strip().strip("<>").strip().lower()
            address = address or (candidate if "@" in candidate else "")
    return disposition, address, body_text(msg)


def _flufl(msg: Message) -> tuple[set[str], set[str]]:
    """flufl.bounce's (temporary, permanent) addresses; nothing when it fails on the message."""
    try:
        temporary, permanent = all_failures(msg)
    except Exception:  # a third-party parser on hostile input: any failure means "no answer"
        log.warning("flufl.bounce failed on a message; treating it as unreadable", exc_info=True)
        return set(), set()

    def clean(items: object) -> set[str]:
        out: set[str] = set()
        for item in items if isinstance(items, set | frozenset | list | tuple) else ():
            text = item.decode("utf-8", "replace") if isinstance(item, bytes) else str(item)
            text = text.strip().strip("<>").strip().lower()
            if "@" in text and " " not in text:
                out.add(text)
        return out

    return clean(temporary), clean(permanent)


def _heuristic_bounce(msg: Message, common: _Common, strong: bool) -> Result | None:
    temporary, permanent = _flufl(msg)
    text = body_text(msg)
    status = _status_from(text) if (temporary or permanent or strong) else None
    if permanent:
        # The detector read "this failed for good"; a 4.x.x in the text is then the last
        # temporary error before the server gave up, so the verdict stays the detector's.
        return Bounce(
            addresses=tuple(sorted(permanent)),
            status=status,
            klass=classify(status, text),
            permanent=True,
            diagnostic=_first_line_about(text, permanent),
            source="heuristic",
            **common,
        )
    if temporary:
        return Delayed(
            addresses=tuple(sorted(temporary)),
            status=status,
            klass=classify(status, text),
            diagnostic=_first_line_about(text, temporary),
            source="heuristic",
            **common,
        )
    if strong:
        # MAILER-DAEMON wrote, but in no format anyone can read: still a bounce. The signed tag
        # of the address it came back to tells whose; its text tells, maybe, why.
        return Bounce(
            addresses=(),
            status=status,
            klass=classify(status, text),
            permanent=status is None or status.startswith("5"),
            diagnostic=_first_line_about(text, set()),
            source="heuristic",
            **common,
        )
    return None


def _first_line_about(text: str, addresses: set[str]) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        low = line.lower()
        if any(a in low for a in addresses) or ENHANCED_STATUS.search(line):
            return line[:500]
    return (lines[0] if lines else "")[:500]


def _is_bounce_sender(msg: Message, sender: str | None) -> bool:
    if "From" in msg and not sender:
        return True  # "From: Mail System <>": only delivery systems write from nowhere
    if sender:
        local = sender.partition("@")[0].strip('"').lower()
        if local in BOUNCE_SENDERS or local.startswith("mailer-daemon"):
            return True
    name, _ = parseaddr(str(msg.get("From", "")))
    return fold(name).startswith(("mail delivery", "mailer-daemon", "mailer daemon"))


def _null_return_path(msg: Message) -> bool:
    values = [str(v).strip() for v in msg.get_all("Return-Path", [])]
    return any(v in ("<>", "") or "mailer-daemon" in v.lower() for v in values)


# --- auto-replies ----------------------------------------------------------------------------

# Folded (no diacritics, lower case): the Vietnamese phrases match typed with or without marks.
AUTO_SUBJECT = re.compile(
    r"tra loi tu dong|tu dong tra loi|thu tu dong|vang mat|nghi phep|di cong tac"
    r"|out of (?:the )?office|automatic reply|auto[- ]?reply|autoreply|auto[- ]?response"
    r"|away from (?:the |my )?(?:office|desk)|on vacation|on leave|\bvacation\b|abwesenheit"
    r"|absence|read:|read receipt|da doc:",
)
AUTO_HEADERS = ("X-Autoreply", "X-Autorespond", "X-AutoReply-From", "X-Mail-Autoreply")


@dataclass(frozen=True, slots=True)
class AutoSign:
    reason: str
    # RFC 3834 headers and out-of-office subjects are strong; "Precedence: bulk" is weak: many
    # non-standard bounces carry it too.
    strong: bool


def auto_reply_sign(msg: Message, subject: str) -> AutoSign | None:
    """Why this message is an automatic answer, or None. RFC 3834 first, then habits."""
    submitted = str(msg.get("Auto-Submitted", "")).split(";")[0].split("(")[0].strip().lower()
    if submitted and submitted != "no":
        return AutoSign(f"auto-submitted: {submitted}", strong=True)
    for name in AUTO_HEADERS:
        value = str(msg.get(name, "")).strip().lower()
        if name in msg and value not in ("no", "false", "0"):
            return AutoSign(name.lower(), strong=True)
    if str(msg.get("X-Autogenerated", "")).strip().lower() == "reply":
        return AutoSign("x-autogenerated", strong=True)
    if AUTO_SUBJECT.search(fold(subject)):
        return AutoSign("subject", strong=True)
    precedence = str(msg.get("Precedence", "")).strip().lower()
    if precedence in ("auto_reply", "bulk", "junk"):
        return AutoSign(f"precedence: {precedence}", strong=precedence == "auto_reply")
    return None


# --- replies ---------------------------------------------------------------------------------

# Where the quoted message begins, in the mail programs Vietnamese offices use.
QUOTE_START = re.compile(
    r"^\s*(?:on\s.+wrote:|vao\s.+(?:da\s+)?viet:|.+\s(?:a\s+ecrit|schrieb):"
    r"|-{2,}\s*(?:original\s+message|thu\s+goc|forwarded\s+message|tin\s+nhan\s+goc)\s*-{2,}"
    r"|_{10,}|from:\s|tu:\s|sent:\s|gui\s+luc:\s)",
    re.IGNORECASE,
)


def reply_excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """The writer's own words: quoted lines and everything after the quote header dropped."""
    kept: list[str] = []
    for line in text.splitlines():
        if QUOTE_START.match(fold(line)):
            break
        if line.lstrip().startswith(">"):
            continue
        kept.append(line.rstrip())
    excerpt = "\n".join(kept).strip()
    excerpt = re.sub(r"\n{3,}", "\n\n", excerpt)
    return excerpt if len(excerpt) <= limit else excerpt[: limit - 1].rstrip() + "…"


# --- the entry point -------------------------------------------------------------------------


_SURROGATES = re.compile("[\udc80-\udcff]")


def _repair_headers(msg: Message) -> None:
    """Headers in raw UTF-8 (RFC 6532, common in Vietnamese mail) come out of the compat32
    parser as byte soup wrapped in ``Header`` objects, on which flufl.bounce's detectors crash;
    they are decoded here once, as UTF-8."""
    for part in msg.walk():
        items = list(part.raw_items())
        if not any(isinstance(v, str) and _SURROGATES.search(v) for _, v in items):
            continue
        for name in dict.fromkeys(name for name, _ in items):
            del part[name]
        for name, value in items:
            if isinstance(value, str) and _SURROGATES.search(value):
                value = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            part.set_raw(name, value)


def parse(raw: bytes) -> Message:
    # compat32 never raises on malformed headers, and it is what flufl.bounce expects.
    msg = message_from_bytes(raw)
    _repair_headers(msg)
    return msg


def triage(
    raw: bytes,
    *,
    secret: bytes | None = None,
    completion_rules: Sequence[CompletionRule] = (),
) -> Result:
    """Classify one message; see the module docstring for the order of the questions."""
    msg = parse(raw)
    subject = header_text(msg, "Subject")
    sender = _sender(msg)
    delivered = _addresses(
        msg, "Delivered-To", "X-Original-To", "X-Envelope-To", "Envelope-To", "To", "Cc"
    )
    returned = _returned_headers(msg)
    tag = _verified_tag(secret, delivered)
    ours = _our_message_ids(str(msg.get("In-Reply-To", "")), str(msg.get("References", "")))
    if returned is not None:
        if tag is None:
            tag = _verified_tag(
                secret, _addresses(returned, "Return-Path", "Sender", "Reply-To", "From")
            )
        ours = ours + _our_message_ids(str(returned.get("Message-ID", "")))
    common = _Common(
        message_id=_message_id(msg),
        sender=sender,
        subject=subject,
        date=_date(msg),
        tag=tag,
        our_message_ids=tuple(dict.fromkeys(ours)),
    )

    recipients = _report_recipients(msg)
    if recipients is not None:
        result = _from_report(recipients, common)
        if result is not None:
            return result

    mdn = _disposition(msg)
    if mdn is not None:
        disposition, address, text = mdn
        if "deleted" not in disposition:
            return AutoReply(reason="read receipt", **common)
        # A Sieve "reject" or a delivery agent's refusal (RFC 5429) comes as an MDN whose
        # disposition is "deleted": the message was refused, so it is a bounce.
        status = _status_from(text)
        return Bounce(
            addresses=(address,) if address else (),
            status=status,
            klass=classify(status, text),
            permanent=status is None or status.startswith("5"),
            diagnostic=_first_line_about(text, {address} if address else set()),
            source="mdn",
            **common,
        )

    for rule in completion_rules:
        if rule.sender_matches(sender):
            found = rule.find(subject, body_text(msg))
            if found is not None:
                token, email = found
                return Completion(rule=rule.name, token=token, email=email, **common)

    auto = auto_reply_sign(msg, subject)
    strong = _is_bounce_sender(msg, sender) or recipients is not None
    looks = bool(BOUNCE_SUBJECT.search(fold(subject))) or _null_return_path(msg)
    if strong or (looks and (auto is None or not auto.strong)):
        bounce = _heuristic_bounce(msg, common, strong)
        if bounce is not None:
            return bounce

    if auto is not None:
        return AutoReply(reason=auto.reason, **common)

    # A tag of any kind counts: someone who writes to the bounce address is still a person
    # answering what we sent them.
    if tag is not None or common["our_message_ids"]:
        in_reply_to = next(iter(_our_message_ids(str(msg.get("In-Reply-To", "")))), None)
        return Reply(
            in_reply_to=in_reply_to or next(iter(ours), None),
            excerpt=reply_excerpt(body_text(msg)),
            **common,
        )
    return Other(reason="not addressed to dondoc", **common)
