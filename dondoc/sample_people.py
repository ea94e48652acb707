"""Who the sample rosters' people are: their names, phone numbers and position titles.

Holds the name tables (family names with their approximate shares, middle and given names), the
mobile prefixes, the staff ranks and commune posts, and the small functions that draw a name or a
phone number from a seeded ``random.Random`` and turn a name into an e-mail local part.
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Sequence
from typing import Final

# Family names with their approximate share of the population (percent). Lò, Cầm, Quàng and
# Lường are Thái family names, common in Sơn La.
FAMILY_NAMES: Final = (
    ("Nguyễn", 38.0),
    ("Trần", 11.0),
    ("Lê", 9.5),
    ("Phạm", 7.0),
    ("Hoàng", 3.0),
    ("Huỳnh", 2.0),
    ("Phan", 4.5),
    ("Vũ", 2.4),
    ("Võ", 1.5),
    ("Đặng", 2.1),
    ("Bùi", 2.0),
    ("Đỗ", 1.4),
    ("Hồ", 1.3),
    ("Ngô", 1.3),
    ("Dương", 1.0),
    ("Lý", 0.5),
    ("Lò", 1.2),
    ("Cầm", 0.8),
    ("Quàng", 0.6),
    ("Lường", 0.6),
    ("Đinh", 0.9),
    ("Hà", 0.9),
    ("Mai", 0.6),
    ("Trịnh", 0.6),
    ("Đào", 0.6),
    ("Trương", 0.7),
    ("Cao", 0.5),
    ("Lương", 0.5),
    ("Lưu", 0.4),
    ("Nông", 0.4),
    ("Tạ", 0.3),
    ("Lâm", 0.3),
    ("Tô", 0.3),
    ("Chu", 0.3),
    ("Triệu", 0.3),
    ("Phùng", 0.3),
    ("Vương", 0.2),
    ("Kiều", 0.2),
)
MALE_MIDDLE: Final = (
    ("Văn", 35),
    ("Đức", 8),
    ("Minh", 8),
    ("Quang", 6),
    ("Hữu", 5),
    ("Đình", 4),
    ("Xuân", 4),
    ("Công", 4),
    ("Ngọc", 4),
    ("Thành", 3),
    ("Tiến", 3),
    ("Mạnh", 3),
    ("Trọng", 3),
    ("Duy", 3),
    ("Thanh", 3),
    ("Quốc", 3),
    ("Anh", 2),
    ("Việt", 2),
    ("Bá", 2),
    ("Hoàng", 2),
)
FEMALE_MIDDLE: Final = (
    ("Thị", 45),
    ("Thu", 7),
    ("Ngọc", 6),
    ("Thanh", 6),
    ("Hồng", 5),
    ("Minh", 4),
    ("Kim", 4),
    ("Phương", 3),
    ("Bích", 3),
    ("Thúy", 2),
    ("Thuý", 1),
    ("Mai", 2),
    ("Hải", 2),
    ("Khánh", 2),
    ("Diệu", 1),
    ("Hoài", 1),
)
SECOND_FEMALE_MIDDLE: Final = ("Thu", "Thanh", "Hồng", "Ngọc", "Kim", "Minh", "Phương", "Bích")
# Both tone placements ("Hoà"/"Hòa", "Thuý"/"Thúy") occur in real names: NFC keeps them apart.
MALE_GIVEN: Final = (
    "Hùng", "Dũng", "Tuấn", "Minh", "Hải", "Nam", "Sơn", "Thắng", "Long", "Cường", "Đức",
    "Hoàng", "Quân", "Trung", "Thành", "Phong", "Bình", "Hòa", "Hoà", "Khánh", "Việt", "Hiếu",
    "Toàn", "Huy", "Tùng", "Quang", "Lợi", "Tú", "Kiên", "Hưng", "Vinh", "Lâm", "Tiến", "Chiến",
    "Đạt", "Thịnh", "Khoa", "Hiển", "Định", "Tân", "Phúc", "Thuận", "Trường", "Quyết", "Tuyên",
    "Thủy", "Thuỷ", "Lực", "Ngọc", "Hậu",
)  # fmt: skip
FEMALE_GIVEN: Final = (
    "Hương", "Lan", "Hoa", "Hằng", "Hạnh", "Huyền", "Trang", "Linh", "Ngọc", "Thảo", "Nga",
    "Nhung", "Phương", "Thủy", "Thuỷ", "Thúy", "Thuý", "Hòa", "Hoà", "Mai", "Yến", "Oanh",
    "Loan", "Dung", "Vân", "Hà", "Hiền", "Liên", "Nhàn", "Quỳnh", "Duyên", "Thơm", "Giang",
    "Hồng", "Tâm", "Chi", "Anh", "Ánh", "Nguyệt", "Xuân", "Lụa", "Hiên",
)  # fmt: skip


def _cumulative(pairs: Sequence[tuple[str, float]]) -> tuple[list[str], list[float]]:
    names, cum, total = [], [], 0.0
    for name, weight in pairs:
        total += weight
        names.append(name)
        cum.append(total)
    return names, cum


_FAMILY_CUM: Final = _cumulative(FAMILY_NAMES)
_MALE_MIDDLE_CUM: Final = _cumulative(MALE_MIDDLE)
_FEMALE_MIDDLE_CUM: Final = _cumulative(FEMALE_MIDDLE)

# Mobile prefixes in use since the 2018 renumbering. phonenumbers' metadata only accepts 089
# followed by 6-9, hence "0896"; every other prefix is valid for all its 7 remaining digits.
MOBILE_PREFIXES: Final = (
    "032", "033", "034", "035", "036", "037", "038", "039",
    "070", "076", "077", "078", "079",
    "081", "082", "083", "084", "085", "086", "088", "0896",
    "090", "091", "093", "094", "096", "097", "098",
)  # fmt: skip


def _ascii(text: str) -> str:
    """ "Nguyễn Đức" -> "Nguyen Duc": what e-mail local parts are made of."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def squash(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", _ascii(text).lower())


def random_name(rng: random.Random, female: bool) -> str:
    """A full name in NFC: family, middle and given name, drawn by their frequencies."""
    family = rng.choices(_FAMILY_CUM[0], cum_weights=_FAMILY_CUM[1])[0]
    names, cum = _FEMALE_MIDDLE_CUM if female else _MALE_MIDDLE_CUM
    middle = rng.choices(names, cum_weights=cum)[0]
    if female and middle == "Thị" and rng.random() < 0.15:
        middle += " " + rng.choice(SECOND_FEMALE_MIDDLE)
    given = rng.choice(FEMALE_GIVEN if female else MALE_GIVEN)
    while given == middle.split()[-1]:
        given = rng.choice(FEMALE_GIVEN if female else MALE_GIVEN)
    return unicodedata.normalize("NFC", f"{family} {middle} {given}")


def random_mobile(rng: random.Random) -> str:
    """A mobile number in national form ("0912345678"); not necessarily unused."""
    prefix = rng.choice(MOBILE_PREFIXES)
    width = 10 - len(prefix)
    return prefix + f"{rng.randrange(10**width):0{width}d}"


def email_name_parts(full_name: str) -> tuple[str, str]:
    """ "Nguyễn Văn Hùng" -> ("hung", "nv"): the given name and initials a mailbox starts with."""
    words = full_name.split()
    return squash(words[-1]), "".join(squash(w[0]) for w in words[:-1])


# Share of women by kind of post: leadership posts are still mostly held by men.
WOMEN_AMONG_LEADERS: Final = 0.3
WOMEN_AMONG_STAFF: Final = 0.55

STAFF_RANKS: Final = (
    ("Chuyên viên", 60),
    ("Chuyên viên chính", 20),
    ("Cán sự", 5),
    ("Kế toán viên", 5),
    ("Văn thư", 3),
    ("Viên chức", 7),
)

COMMUNE_CIVIL_SERVANTS: Final = (
    "Văn phòng - Thống kê",
    "Địa chính - Xây dựng",
    "Tư pháp - Hộ tịch",
    "Văn hóa - Xã hội",
    "Tài chính - Kế toán",
)
# The four commune leaders surveyed in each commune, before one of its civil servants.
COMMUNE_LEADERS: Final = ("Bí thư Đảng ủy", "Chủ tịch HĐND", "Chủ tịch UBND", "Phó Chủ tịch UBND")
