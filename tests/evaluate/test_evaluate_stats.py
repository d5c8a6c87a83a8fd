"""Wilson intervals against scipy's own implementation and textbook values; the exact McNemar test by hand."""

import math

import pytest
from scipy.stats import binomtest

from dexego.evaluate.stats import mcnemar_exact, paired_rollouts, pooled, wilson_interval


@pytest.mark.parametrize(("k", "n"), [(0, 10), (1, 10), (5, 10), (10, 10), (7, 60), (33, 60), (0, 1)])
def test_wilson_matches_scipy(k, n):
    expected = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    low, high = wilson_interval(k, n)
    assert low == pytest.approx(expected.low, abs=1e-12) and high == pytest.approx(expected.high, abs=1e-12)


def test_wilson_textbook_values_and_bad_input():
    # Newcombe (1998), Table I: 81/263 -> 0.2553 to 0.3662; 0/10 -> 0 to 0.2775
    low, high = wilson_interval(81, 263)
    assert (round(low, 4), round(high, 4)) == (0.2553, 0.3662)
    assert wilson_interval(0, 10)[0] == 0.0 and round(wilson_interval(0, 10)[1], 4) == 0.2775
    assert wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError, match="k <= n"):
        wilson_interval(3, 2)
    p = pooled([True, False, True, True])
    assert (p.k, p.n, p.rate) == (3, 4, 0.75) and p.text().startswith("3/4 = 75.0 % (95 % Wilson CI")


def test_exact_mcnemar_is_the_binomial_test_on_discordant_pairs():
    # 6 discordant pairs all one way: p = 2 * 0.5**6
    assert mcnemar_exact(6, 0).p_value == pytest.approx(2 * 0.5**6)
    # 9 vs 3: p = 2 * P(X <= 3), X ~ Bin(12, 0.5)
    expected = 2 * sum(math.comb(12, i) for i in range(4)) / 2**12
    assert mcnemar_exact(9, 3).p_value == pytest.approx(expected)
    assert mcnemar_exact(0, 0).p_value == 1.0 and mcnemar_exact(4, 4).p_value == 1.0


def test_paired_rollouts_match_on_task_split_seed_and_look():
    def r(seed, success, task="Push-Box", split="unseen"):
        return {"task": task, "split": split, "seed": seed, "room": 5, "table": 1, "success": success}

    a = [r(1, True), r(2, True), r(3, False), r(4, True), r(9, True)]
    b = [r(1, False), r(2, True), r(3, True), r(4, False), r(5, False)]
    test = paired_rollouts(a, b)
    assert (test.pairs, test.a_only, test.b_only) == (4, 2, 1)  # seeds 9 and 5 are unpaired
    with pytest.raises(ValueError, match="share"):
        paired_rollouts(a + [r(1, False)], b)
