"""Vietnamese phone numbers from spreadsheet cells: strict validation, E.164 storage form and
the national display form ("0912 480 190").

Cells come in every shape ("0912.480.190", "(+84) 98 262 7828", a number Excel stripped of its
leading 0, a pre-2018 11-digit mobile); anything that is not exactly one Vietnamese mobile or
landline number is refused with a message saying what to fix.
"""

from __future__ import annotations

import re

import phonenumbers

from storage.text import clean

__all__ = ["PhoneError", "format_national", "normalize_phone"]


class PhoneError(ValueError):
    """A cell that is not one valid Vietnamese phone number; says what is wrong and what to do."""

    def __init__(self, message_vi: str, message_en: str) -> None:
        super().__init__(message_en)
        self.message_vi = message_vi
        self.message_en = message_en


# The 2018-2019 renumbering of 11-digit mobiles: old prefix (without the 0) -> new prefix.
# The last 7 digits are kept.
OLD_MOBILE_PREFIXES: dict[str, str] = {
    **{f"16{d}": f"3{d}" for d in "23456789"},
    "120": "70",
    "121": "79",
    "122": "77",
    "126": "76",
    "128": "78",
    "123": "83",
    "124": "84",
    "125": "85",
    "127": "81",
    "129": "82",
    "186": "56",
    "188": "58",
    "199": "59",
}

# Only what people type around a number. phonenumbers is lenient ("0912480190x" parses as valid,
# the x read as an extension), so anything else is refused before it gets there.
_ALLOWED = re.compile(r"[(\s]*\+?[\d\s.()\-\u2013]+")
# Ways people put two numbers in one cell: "a / b", "a; b", "a, b", "a - b", "a hoặc b".
_SEPARATORS = re.compile(r"[/;,|\n]|\s[-\u2013]\s|\s(?:và|hoặc|or|and)\s", re.IGNORECASE)
_NON_DIGITS = re.compile(r"\D")

_ACCEPTED_TYPES = frozenset(
    {
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    }
)


def _multiple() -> PhoneError:
    return PhoneError(
        "Ô này có nhiều hơn một số điện thoại. Mỗi ô chỉ ghi một số; "
        "hãy giữ số di động chính và xoá số còn lại.",
        "more than one phone number in the cell; keep one number per cell",
    )


def _national_significant(digits: str, international: bool) -> str:
    """The number after +84, from the digits as typed."""
    if international:
        if not digits.startswith("84"):
            raise PhoneError(
                "Chỉ nhận số điện thoại Việt Nam (+84). Hãy ghi số trong nước, ví dụ 0912 480 190.",
                "only Vietnamese numbers (+84) are accepted",
            )
        return digits[2:]
    if digits.startswith("0084"):
        return digits[4:]
    if digits.startswith("0"):
        return digits[1:]
    # 84 + 9 digits (mobile) or 84 + 10 digits (landline, old mobile); Vietnamese numbers
    # without their 0 are 9 or 10 digits, so these lengths are unambiguous.
    if digits.startswith("84") and len(digits) in (11, 12):
        return digits[2:]
    # Excel drops the leading 0 of a number typed into a number-formatted cell.
    return digits


def normalize_phone(raw: str) -> str:
    """One Vietnamese mobile or landline number as E.164 ("+84912480190"), or PhoneError."""
    text = clean(raw)
    if not text:
        raise PhoneError(
            "Chưa có số điện thoại.",
            "the phone number is empty",
        )
    parts = [p for p in _SEPARATORS.split(text) if sum(ch.isdigit() for ch in p) >= 7]
    if len(parts) >= 2:
        raise _multiple()
    if not _ALLOWED.fullmatch(text):
        raise PhoneError(
            "Số điện thoại chỉ được có chữ số, dấu cách, dấu chấm, gạch ngang, ngoặc đơn và dấu + "
            "ở đầu. Hãy xoá chữ và ký hiệu khác (ví dụ ghi 0912 480 190).",
            "a phone number may only contain digits, spaces, dots, dashes, parentheses "
            "and a leading +",
        )
    digits = _NON_DIGITS.sub("", text)
    if len(digits) >= 18:
        # Two 10-digit numbers typed without a separator we recognise.
        raise _multiple()
    nsn = _national_significant(digits, "+" in text)
    if len(nsn) == 10 and nsn[:3] in OLD_MOBILE_PREFIXES:
        nsn = OLD_MOBILE_PREFIXES[nsn[:3]] + nsn[-7:]
    invalid = PhoneError(
        "Số điện thoại không hợp lệ (sai số chữ số hoặc đầu số không tồn tại). "
        "Hãy kiểm tra lại: số di động có 10 chữ số, ví dụ 0912 480 190; "
        "số cố định gồm mã vùng, ví dụ 024 3824 0000.",
        "not a valid Vietnamese phone number (wrong length or unassigned prefix)",
    )
    if not 8 <= len(nsn) <= 10:
        raise invalid
    try:
        number = phonenumbers.parse("+84" + nsn)
    except phonenumbers.NumberParseException:
        raise invalid from None
    if not phonenumbers.is_valid_number(number):
        raise invalid
    if phonenumbers.number_type(number) not in _ACCEPTED_TYPES:
        raise PhoneError(
            "Đây không phải số di động hay số cố định của một người (ví dụ số 1900/1800). "
            "Hãy ghi số di động hoặc số máy bàn cơ quan.",
            "not a personal mobile or landline number (premium-rate, toll-free...)",
        )
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def format_national(e164: str) -> str:
    """The way Vietnamese people write a number: "+84912480190" -> "0912 480 190"."""
    number = phonenumbers.parse(e164, "VN")
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL))
