"""Signed tags that identify a person in a return address without exposing their token.

A tag is ``<kind><id>.<mac>``: the kind says what the address is for (``b`` bounces through the
envelope sender, ``r`` replies through Reply-To), the id is the respondent's or contact's row id,
and the mac is a truncated HMAC-SHA256 over both, keyed with the deployment's secret. A tag
cannot be forged for another person, and it reveals nothing that opens a survey link.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

MAC_CHARS = 10  # 40 bits of HMAC: forging one needs ~10^12 tries against a mail server
_TAG = re.compile(rf"^(?P<kind>[a-z])(?P<id>[0-9]{{1,18}})\.(?P<mac>[0-9a-f]{{{MAC_CHARS}}})$")


@dataclass(frozen=True, slots=True)
class Tag:
    kind: str
    ident: int


def _mac(secret: bytes, kind: str, ident: int) -> str:
    digest = hmac.new(secret, f"{kind}{ident}".encode(), hashlib.sha256).hexdigest()
    return digest[:MAC_CHARS]


def make_tag(secret: bytes, kind: str, ident: int) -> str:
    if not (len(kind) == 1 and kind.isalpha() and kind.islower()) or ident < 0:
        raise ValueError(f"bad tag parts: kind={kind!r} ident={ident!r}")
    return f"{kind}{ident}.{_mac(secret, kind, ident)}"


def read_tag(secret: bytes, text: str) -> Tag | None:
    """The tag in ``text`` if it is well formed and its mac is right, else None."""
    match = _TAG.match(text.strip().lower())
    if match is None:
        return None
    kind, ident = match["kind"], int(match["id"])
    if not hmac.compare_digest(match["mac"], _mac(secret, kind, ident)):
        return None
    return Tag(kind, ident)


def tagged_address(address: str, tag: str) -> str:
    """'dondoc@snv.gov.vn' + tag -> 'dondoc+tag@snv.gov.vn' (sub-addressing, RFC 5233)."""
    local, _, domain = address.rpartition("@")
    if not local or not domain:
        raise ValueError(f"not an email address: {address!r}")
    return f"{local}+{tag}@{domain}"


def tag_of_address(address: str) -> str | None:
    """The tag part of a sub-address, or None: 'dondoc+r12.ab@x' -> 'r12.ab'."""
    local, _, _domain = address.strip().strip("<>").rpartition("@")
    base, plus, tag = local.partition("+")
    return tag if plus and base and tag else None
