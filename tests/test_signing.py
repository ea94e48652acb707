"""Signed tags in return addresses."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mail.signing import Tag, make_tag, read_tag, tag_of_address, tagged_address

SECRET = b"k" * 32


@given(st.sampled_from("br"), st.integers(min_value=0, max_value=10**15))
def test_tags_round_trip(kind: str, ident: int) -> None:
    assert read_tag(SECRET, make_tag(SECRET, kind, ident)) == Tag(kind, ident)


def test_a_tag_cannot_be_moved_to_another_person_or_key() -> None:
    tag = make_tag(SECRET, "r", 12)
    mac = tag.split(".")[1]
    assert read_tag(SECRET, f"r13.{mac}") is None
    assert read_tag(SECRET, f"b12.{mac}") is None
    assert read_tag(b"other" * 8, tag) is None
    assert read_tag(SECRET, "r12") is None and read_tag(SECRET, "") is None


def test_sub_addresses() -> None:
    tag = make_tag(SECRET, "b", 7)
    address = tagged_address("dondoc@snv.gov.vn", tag)
    assert address == f"dondoc+{tag}@snv.gov.vn"
    assert tag_of_address(f"<{address}>") == tag
    assert read_tag(SECRET, tag_of_address(address.upper()) or "") == Tag("b", 7)
    assert tag_of_address("dondoc@snv.gov.vn") is None
