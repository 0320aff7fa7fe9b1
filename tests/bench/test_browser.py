from __future__ import annotations

import pytest

from bench.browser import FILTER_CHANGES, FILTER_TOGGLES, filter_walk


def test_every_filter_change_lands_on_filters_not_asked_for_before() -> None:
    by_label = {label: (key, value) for key, label, value in FILTER_TOGGLES}
    state: dict[str, str | bool] = {}
    seen = {frozenset(state.items())}
    clicks = filter_walk(FILTER_CHANGES)
    assert len(clicks) == FILTER_CHANGES
    for label in clicks:
        key, value = by_label[label]
        if state.get(key) == value:
            del state[key]
        else:
            state[key] = value
        assert frozenset(state.items()) not in seen, f"{label} goes back to {state}"
        seen.add(frozenset(state.items()))


def test_a_walk_longer_than_the_combinations_is_refused() -> None:
    # 5 statuses (none included) x 3 genders x 3 photo states, less the page's first one.
    assert len(filter_walk(44)) == 44
    with pytest.raises(ValueError, match="no new combination"):
        filter_walk(45)
