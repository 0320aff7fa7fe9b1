"""The member list's SQL text: enum filter values are written into it as literals."""

from enum import StrEnum

import pytest

from backend.domain.member import list_repository
from backend.domain.member.models import Gender, MemberStatus, Plan


@pytest.mark.parametrize("enum", [MemberStatus, Gender, Plan])
def test_every_filterable_enum_value_can_be_written_as_a_literal(enum: type[StrEnum]) -> None:
    for value in enum:
        assert list_repository._one_of("c", [value]) == f"c = '{value.value}'"


def test_several_values_become_one_in_list_in_a_stable_order() -> None:
    one = list_repository._one_of("u.status", [MemberStatus.suspended, MemberStatus.active, MemberStatus.active])
    other = list_repository._one_of("u.status", [MemberStatus.active, MemberStatus.suspended])
    assert one == other == "u.status IN ('active', 'suspended')"


def test_a_value_that_is_not_a_plain_word_never_reaches_the_sql_text() -> None:
    class Odd(StrEnum):
        QUOTED = "x' OR '1'='1"

    with pytest.raises(ValueError, match="not a plain enum value"):
        list_repository._one_of("u.status", [Odd.QUOTED])
