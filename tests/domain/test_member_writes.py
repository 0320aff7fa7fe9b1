"""The review decisions' rules, as data: every decision has one, and each leads somewhere new."""

from __future__ import annotations

from backend.domain.member.models import MemberStatus
from backend.domain.member.writes import REVIEW_RULES, ReviewAction


def test_every_review_action_has_a_rule() -> None:
    assert set(REVIEW_RULES) == set(ReviewAction)


def test_a_decision_changes_the_status_and_says_so_in_the_audit_trail_and_the_outbox() -> None:
    for action, rule in REVIEW_RULES.items():
        assert rule.to_status not in rule.from_statuses, action
        assert rule.audit_action == rule.outbox_topic == f"member.{rule.note_kind.value}", action


def test_only_an_approval_or_an_unban_may_go_without_a_reason_code() -> None:
    uncoded = {action for action, rule in REVIEW_RULES.items() if not rule.reason_code_required}
    assert uncoded == {ReviewAction.approve, ReviewAction.unban}
    assert REVIEW_RULES[ReviewAction.approve].from_statuses == {MemberStatus.pending, MemberStatus.suspended}


def test_any_live_member_but_a_banned_one_may_be_banned_and_an_unban_makes_them_active() -> None:
    assert REVIEW_RULES[ReviewAction.ban].from_statuses == set(MemberStatus) - {MemberStatus.banned}
    assert REVIEW_RULES[ReviewAction.unban].from_statuses == {MemberStatus.banned}
    assert REVIEW_RULES[ReviewAction.unban].to_status == MemberStatus.active
