"""Output UID derivation: deterministic, valid, distinct (property tests)."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from dicom_node.reports import codes as C
from dicom_node.reports.uids import derive_uid

UID_RE = re.compile(r"^(0|[1-9]\d*)(\.(0|[1-9]\d*))*$")
roots = st.one_of(st.none(), st.from_regex(r"1\.2\.(0|[1-9]\d{0,5})\.(0|[1-9]\d{0,8})\.?", fullmatch=True))


@given(roots, st.text(max_size=80), st.sampled_from(["sr", "sc-cine", "sc-summary", "sc-mr"]), st.integers(0, 99))
def test_derived_uids_are_valid_and_deterministic(root: str | None, seed: str, kind: str, index: int) -> None:
    uid = derive_uid(root, seed, kind, index)
    assert UID_RE.match(uid) and len(uid) <= 64
    assert uid == derive_uid(root, seed, kind, index)
    assert uid.startswith(root.rstrip(".") + "." if root else "2.25.")


@given(st.text(max_size=40), st.text(max_size=40))
def test_different_seeds_give_different_uids(a: str, b: str) -> None:
    if a != b:
        assert derive_uid(None, a, "sr") != derive_uid(None, b, "sr")
    assert derive_uid(None, a, "sr", 0) != derive_uid(None, a, "sr", 1)
    assert derive_uid(None, a, "sr") != derive_uid(None, a, "sc-summary")


def test_private_codes_are_unique_and_short() -> None:
    codes = C.all_private_codes()
    assert len({c.value for c in codes}) == len(codes)
    assert all(c.scheme_designator == "99CQA" and len(c.value) <= 16 and len(c.meaning) <= 64 for c in codes)
