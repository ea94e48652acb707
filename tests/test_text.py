"""Tests for storage.text: cleaning, fold keys, slugs, Vietnamese name order, legacy fonts."""

from __future__ import annotations

import random
import unicodedata

import pytest

from storage.text import clean, fold, looks_like_legacy_encoding, name_sort_key, slug


def nfd(s: str) -> str:
    return unicodedata.normalize("NFD", s)


# --- clean ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, ""),
        ("", ""),
        ("   ", ""),
        (42, "42"),
        (1.5, "1.5"),
        ("  Nguyễn  Văn   An ", "Nguyễn Văn An"),
        ("Nguyễn\u00a0Văn\tAn\r\nSở", "Nguyễn Văn An Sở"),
        ("\ufeffSở\u200bNội\u200c vụ\u2060", "Sở Nội vụ"),
        ("already clean", "already clean"),
    ],
)
def test_clean(value: object, expected: str) -> None:
    assert clean(value) == expected


def test_clean_composes_nfd_text() -> None:
    decomposed = nfd("Nguyễn Văn Đức")
    assert len(decomposed) == 19
    result = clean(decomposed)
    assert result == "Nguyễn Văn Đức"
    assert len(result) == 14


def test_clean_keeps_soft_hyphen_for_legacy_detection() -> None:
    # U+00AD is "ư" in TCVN3; cleaning it away would hide the legacy encoding.
    assert clean("Tr\u00adêng") == "Tr\u00adêng"


# --- fold / slug ----------------------------------------------------------------------------


def test_fold_removes_tones_case_and_extra_spaces() -> None:
    assert fold("NGUYỄN Văn  Đức") == "nguyen van duc"
    assert fold(" Trương\u00a0Thị Phượng ") == "truong thi phuong"
    assert fold("ĐẶNG đình") == "dang dinh"


def test_fold_unifies_tone_placement_and_normal_forms() -> None:
    assert len({"Hoà", "Hòa"}) == 2
    assert fold("Hoà") == fold("Hòa") == "hoa"
    assert fold("Thuý") == fold("Thúy") == "thuy"
    assert fold(nfd("Nguyễn Văn Đức")) == fold("Nguyễn Văn Đức")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Sở Nội vụ", "so-noi-vu"),
        ("UBND huyện Mộc Châu", "ubnd-huyen-moc-chau"),
        ("  Sở Tư pháp (tỉnh Sơn La) ", "so-tu-phap-tinh-son-la"),
        ("Phòng Nội vụ - UBND TP. Sơn La", "phong-noi-vu-ubnd-tp-son-la"),
        ("Đảng ủy Khối", "dang-uy-khoi"),
        ("---", ""),
    ],
)
def test_slug(name: str, expected: str) -> None:
    assert slug(name) == expected


# --- name_sort_key --------------------------------------------------------------------------

# Order verified against ICU's 'vi' collation (reference/vietnam.md, section 2).
VERIFIED_ORDER = [
    "Trần An",
    "Lê Anh",
    "Phạm Ánh",
    "Ngô Ắc",
    "Vũ Ăn",
    "Bùi Ầm",
    "Đỗ Minh Ân",
    "Lê Thị Ân",
    "Hồ Ấn",
    "Nguyễn Thị Dung",
    "Phan Văn Dũng",
    "Trịnh Đạt",
    "Nguyễn Văn Đức",
    "Lý En",
    "Mai Ê",
    "Tạ Ô",
    "Đinh Ốc",
    "Dương Ơn",
    "Cao Thị Uyên",
    "Lò Văn Ư",
]


def test_name_sort_key_matches_icu_vi_order() -> None:
    shuffled = VERIFIED_ORDER[:]
    random.Random(7).shuffle(shuffled)
    assert shuffled != VERIFIED_ORDER
    assert sorted(shuffled, key=name_sort_key) == VERIFIED_ORDER
    assert sorted(reversed(VERIFIED_ORDER), key=name_sort_key) == VERIFIED_ORDER


def test_name_sort_key_d_stroke_is_its_own_letter() -> None:
    # Python's default order and DUCET both get this wrong.
    assert sorted(["Đạt", "Dung"], key=name_sort_key) == ["Dung", "Đạt"]
    assert sorted(["Đào Văn A", "Dương Văn A"], key=name_sort_key) == [
        "Dương Văn A",
        "Đào Văn A",
    ]


def test_name_sort_key_tone_order() -> None:
    tones = ["a", "à", "ả", "ã", "á", "ạ"]
    assert sorted(reversed(tones), key=name_sort_key) == tones


def test_name_sort_key_given_then_middle_then_family() -> None:
    names = ["Trần Văn Bình", "Nguyễn Thị Bình", "Nguyễn Văn An", "Lê Bình"]
    assert sorted(names, key=name_sort_key) == [
        "Nguyễn Văn An",
        "Lê Bình",
        "Nguyễn Thị Bình",
        "Trần Văn Bình",
    ]


def test_name_sort_key_ignores_form_and_spacing() -> None:
    assert name_sort_key(nfd(" Nguyễn  Văn Đức ")) == name_sort_key("Nguyễn Văn Đức")
    assert name_sort_key("") == ()


# --- looks_like_legacy_encoding -------------------------------------------------------------

# TCVN3 (TCVN 5712:1993, .VnTime fonts): Unicode letter -> the byte it is typed as, shown as the
# Latin-1 character Excel displays. Upper-case toned letters do not exist in TCVN3 (.VnTimeH
# fonts draw the lower-case codes in capitals), so they map to the lower-case code.
TCVN3 = {
    "Ă": "\xa1", "Â": "\xa2", "Ê": "\xa3", "Ô": "\xa4", "Ơ": "\xa5", "Ư": "\xa6", "Đ": "\xa7",
    "ă": "\xa8", "â": "\xa9", "ê": "\xaa", "ô": "\xab", "ơ": "\xac", "ư": "\xad", "đ": "\xae",
    "à": "\xb5", "ả": "\xb6", "ã": "\xb7", "á": "\xb8", "ạ": "\xb9",
    "ằ": "\xbb", "ẳ": "\xbc", "ẵ": "\xbd", "ắ": "\xbe", "ặ": "\xc6",
    "ầ": "\xc7", "ẩ": "\xc8", "ẫ": "\xc9", "ấ": "\xca", "ậ": "\xcb",
    "è": "\xcc", "ẻ": "\xce", "ẽ": "\xcf", "é": "\xd0", "ẹ": "\xd1",
    "ề": "\xd2", "ể": "\xd3", "ễ": "\xd4", "ế": "\xd5", "ệ": "\xd6",
    "ì": "\xd7", "ỉ": "\xd8", "ĩ": "\xdc", "í": "\xdd", "ị": "\xde",
    "ò": "\xdf", "ỏ": "\xe1", "õ": "\xe2", "ó": "\xe3", "ọ": "\xe4",
    "ồ": "\xe5", "ổ": "\xe6", "ỗ": "\xe7", "ố": "\xe8", "ộ": "\xe9",
    "ờ": "\xea", "ở": "\xeb", "ỡ": "\xec", "ớ": "\xed", "ợ": "\xee",
    "ù": "\xef", "ủ": "\xf1", "ũ": "\xf2", "ú": "\xf3", "ụ": "\xf4",
    "ừ": "\xf5", "ử": "\xf6", "ữ": "\xf7", "ứ": "\xf8", "ự": "\xf9",
    "ỳ": "\xfa", "ỷ": "\xfb", "ỹ": "\xfc", "ý": "\xfd", "ỵ": "\xfe",
}  # fmt: skip


def to_tcvn3(text: str) -> str:
    out = []
    for ch in text:
        if ch in TCVN3:
            out.append(TCVN3[ch])
        elif ch.lower() in TCVN3:
            out.append(TCVN3[ch.lower()])
        else:
            assert ch.isascii(), f"no TCVN3 code for {ch!r}"
            out.append(ch)
    return "".join(out)


ROSTER = [
    "Họ và tên",
    "Đơn vị công tác",
    "Nguyễn Văn Đức",
    "Trần Thị Thuỷ",
    "Lê Hoàng Phương",
    "Phạm Ngọc Ánh",
    "Đỗ Minh Ân",
    "Vũ Thị Hương",
    "Lò Văn Sướng",
    "Hà Thị Phượng",
    "Sở Nội vụ tỉnh Sơn La",
    "UBND huyện Mộc Châu",
    "Chuyên viên phòng Tổ chức cán bộ",
]


def test_tcvn3_sample_is_the_familiar_garbage() -> None:
    assert to_tcvn3("Nguyễn Văn Đức") == "NguyÔn V¨n §øc"
    assert to_tcvn3("Họ và tên") == "Hä vµ tªn"


def test_tcvn3_roster_is_flagged() -> None:
    assert looks_like_legacy_encoding([to_tcvn3(v) for v in ROSTER])


def test_tcvn3_names_among_ascii_columns_are_flagged() -> None:
    rows = []
    for i, name in enumerate(ROSTER[2:10]):
        rows += [to_tcvn3(name), f"user{i}@sonla.gov.vn", f"09124801{i:02d}", "Cong chuc"]
    assert looks_like_legacy_encoding(rows)


def test_vni_sample_is_flagged() -> None:
    assert looks_like_legacy_encoding(["Nguyeãn Vaên Ñöùc"])
    assert looks_like_legacy_encoding(["NGUYEÃN VAÊN ÑÖÙC", "Sôû Noäi vuï"])
    assert looks_like_legacy_encoding(["Hoï vaø teân", "Ñôn vò coâng taùc"])


def test_unicode_vietnamese_is_not_flagged() -> None:
    assert not looks_like_legacy_encoding(ROSTER)
    assert not looks_like_legacy_encoding([nfd(v) for v in ROSTER])
    assert not looks_like_legacy_encoding([v.upper() for v in ROSTER])


def test_unicode_with_horn_letters_quotes_and_english_is_not_flagged() -> None:
    values = [
        "Trương Thị Ưng",
        "Dương Văn Ơn",
        "Hoà Thuý Khuê",
        "Toàn Hoá Hoãn Tuyên",
        "Sở «Nội vụ»",
        "Department of Home Affairs",
        "Müller",
        "naïve café",
        "user@sonla.gov.vn",
    ]
    assert not looks_like_legacy_encoding(values)


def test_empty_and_ascii_only_are_not_flagged() -> None:
    assert not looks_like_legacy_encoding([])
    assert not looks_like_legacy_encoding(["", "STT", "Email", "0912480190"])
