"""Tests for storage.phones: every format people type, the 2018 renumbering, strict refusals."""

from __future__ import annotations

import pytest

from storage.phones import OLD_MOBILE_PREFIXES, PhoneError, format_national, normalize_phone


@pytest.mark.parametrize(
    "raw",
    [
        "0912480190",
        "0912.480.190",
        "0912 480 190",
        "0912-480-190",
        "0912\u2013480\u2013190",
        "+84 912 480 190",
        "+84912480190",
        "84912480190",
        "0084912480190",
        "(+84) 912 480 190",
        "(+84)912480190",
        "(0912) 480 190",
        "912480190",
        " 0912\u00a0480\u00a0190 ",
    ],
)
def test_accepted_formats(raw: str) -> None:
    assert normalize_phone(raw) == "+84912480190"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("(+84) 98 262 7828", "+84982627828"),
        ("0982-627-828", "+84982627828"),
        ("0982.627.828", "+84982627828"),
        ("0321234567", "+84321234567"),
        ("0561234567", "+84561234567"),
        ("0591234567", "+84591234567"),
        ("0701234567", "+84701234567"),
        ("0861234567", "+84861234567"),
        ("0961234567", "+84961234567"),
        # A 084 VinaPhone number that lost its 0 is not mistaken for country code 84.
        ("845123456", "+84845123456"),
    ],
)
def test_other_mobiles(raw: str, expected: str) -> None:
    assert normalize_phone(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("024 3824 0000", "+842438240000"),
        ("(024) 3824.0000", "+842438240000"),
        ("+84 24 3824 0000", "+842438240000"),
        ("2438240000", "+842438240000"),
        ("842438240000", "+842438240000"),
        ("028 3822 1234", "+842838221234"),
        ("0212 3851 234", "+842123851234"),
    ],
)
def test_landlines(raw: str, expected: str) -> None:
    assert normalize_phone(raw) == expected


OLD_TO_NEW = [
    ("0162", "032"),
    ("0163", "033"),
    ("0164", "034"),
    ("0165", "035"),
    ("0166", "036"),
    ("0167", "037"),
    ("0168", "038"),
    ("0169", "039"),
    ("0120", "070"),
    ("0121", "079"),
    ("0122", "077"),
    ("0126", "076"),
    ("0128", "078"),
    ("0123", "083"),
    ("0124", "084"),
    ("0125", "085"),
    ("0127", "081"),
    ("0129", "082"),
    ("0186", "056"),
    ("0188", "058"),
    ("0199", "059"),
]


def test_old_prefix_table_is_complete() -> None:
    assert {f"0{old}" for old in OLD_MOBILE_PREFIXES} == {old for old, _ in OLD_TO_NEW}


@pytest.mark.parametrize(("old", "new"), OLD_TO_NEW)
def test_old_eleven_digit_mobiles_are_renumbered(old: str, new: str) -> None:
    expected = "+84" + new[1:] + "8480190"
    assert normalize_phone(f"{old}8480190") == expected
    assert normalize_phone(f"{old}.848.0190") == expected
    assert normalize_phone(f"+84 {old[1:]} 848 0190") == expected
    # Excel dropped the 0 of the old number.
    assert normalize_phone(f"{old[1:]}8480190") == expected


@pytest.mark.parametrize(
    "raw",
    [
        "0912480190x",
        "0912480190 ext 12",
        "0912480190#",
        "09124801go",
        "abc",
        "Số: 0912480190",
        "0912,480,190",
        "091248019",
        "09124801",
        "091248019012",
        "0551234567",
        "0891234567",
        "+1 202 555 0143",
        "+",
        "()",
        "-",
    ],
)
def test_refused(raw: str) -> None:
    with pytest.raises(PhoneError) as info:
        normalize_phone(raw)
    assert info.value.message_vi
    assert info.value.message_en == str(info.value)


def test_empty_is_an_error() -> None:
    with pytest.raises(PhoneError) as info:
        normalize_phone("  ")
    assert info.value.message_vi == "Chưa có số điện thoại."


def test_letters_message_says_what_to_remove() -> None:
    with pytest.raises(PhoneError) as info:
        normalize_phone("0912480190x")
    assert "chỉ được có chữ số" in info.value.message_vi


def test_unassigned_prefix_message() -> None:
    with pytest.raises(PhoneError) as info:
        normalize_phone("0551234567")
    assert info.value.message_vi.startswith("Số điện thoại không hợp lệ")


def test_premium_rate_is_refused_as_not_personal() -> None:
    with pytest.raises(PhoneError) as info:
        normalize_phone("1900 1234")
    assert "1900/1800" in info.value.message_vi


def test_foreign_number_is_refused() -> None:
    with pytest.raises(PhoneError) as info:
        normalize_phone("+1 202 555 0143")
    assert "Chỉ nhận số điện thoại Việt Nam" in info.value.message_vi


@pytest.mark.parametrize(
    "raw",
    [
        "0912.480.190 - 0982.627.828",
        "0912480190/0982627828",
        "0912480190 / 0982627828",
        "0912480190; 0982627828",
        "0912480190, 0982627828",
        "0912480190 hoặc 0982627828",
        "0912480190\n0982627828",
        "0912480190 0982627828",
        "0912480190-0982627828",
    ],
)
def test_two_numbers_in_one_cell(raw: str) -> None:
    with pytest.raises(PhoneError) as info:
        normalize_phone(raw)
    assert "Mỗi ô chỉ ghi một số" in info.value.message_vi
    assert (
        info.value.message_en == "more than one phone number in the cell; keep one number per cell"
    )


def test_phone_error_is_a_value_error() -> None:
    assert issubclass(PhoneError, ValueError)


@pytest.mark.parametrize(
    ("e164", "expected"),
    [
        ("+84912480190", "0912 480 190"),
        ("+84982627828", "0982 627 828"),
        ("+842438240000", "024 3824 0000"),
    ],
)
def test_format_national(e164: str, expected: str) -> None:
    assert format_national(e164) == expected
