"""The retry schedule follows the policy: full jitter within [0, min(cap, base*2**(n-1))],
Retry-After honoured, per-kind settings."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from integrations.backoff import RetryPolicy, delay_for, policy_for

policies = st.builds(
    RetryPolicy,
    base=st.floats(min_value=0.01, max_value=60, allow_nan=False),
    cap=st.floats(min_value=0.01, max_value=3600, allow_nan=False),
    max_attempts=st.integers(min_value=1, max_value=20),
)


@settings(max_examples=300, deadline=None)
@given(policy=policies, attempt=st.integers(min_value=1, max_value=200), seed=st.integers())
def test_backoff_delay_is_within_the_jitter_bounds(
    policy: RetryPolicy, attempt: int, seed: int
) -> None:
    delay = delay_for(policy, attempt, rng=random.Random(seed))
    ceiling = min(policy.cap, policy.base * 2 ** min(attempt - 1, 62))
    assert 0.0 <= delay <= ceiling + 1e-9
    assert policy.ceiling(attempt) == pytest.approx(ceiling)


@settings(max_examples=200, deadline=None)
@given(policy=policies, attempt=st.integers(min_value=1, max_value=50))
def test_backoff_ceiling_grows_then_stays_at_the_cap(policy: RetryPolicy, attempt: int) -> None:
    assert policy.ceiling(attempt) <= policy.ceiling(attempt + 1) <= policy.cap + 1e-9


@settings(max_examples=200, deadline=None)
@given(
    policy=policies,
    attempt=st.integers(min_value=1, max_value=30),
    retry_after=st.floats(min_value=0.001, max_value=3600, allow_nan=False),
    seed=st.integers(),
)
def test_backoff_honours_retry_after(
    policy: RetryPolicy, attempt: int, retry_after: float, seed: int
) -> None:
    delay = delay_for(policy, attempt, retry_after=retry_after, rng=random.Random(seed))
    assert delay >= retry_after
    assert delay <= max(retry_after, policy.ceiling(attempt)) + 1e-9


def test_backoff_jitter_spreads_over_the_whole_window() -> None:
    rng = random.Random(7)
    policy = RetryPolicy(base=1.0, cap=300.0, max_attempts=8)
    samples = [delay_for(policy, 5, rng=rng) for _ in range(2000)]  # window [0, 16]
    assert min(samples) < 1.0 and max(samples) > 15.0


def test_policy_for_merges_the_kind_over_the_default(settings: Any) -> None:
    settings.INTEGRATIONS_RETRY_POLICY = {
        "default": {"base": 2.0, "cap": 300.0, "max_attempts": 8},
        "payments": {"base": 5.0, "max_attempts": 10},
    }
    assert policy_for("payments") == RetryPolicy(base=5.0, cap=300.0, max_attempts=10)
    assert policy_for("sms") == RetryPolicy(base=2.0, cap=300.0, max_attempts=8)
