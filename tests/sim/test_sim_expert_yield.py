"""Full expert yields on the benchmark protocol (slow: a few minutes)."""

import pytest

from dexego.sim.evaluation import ExpertFactory, evaluate


@pytest.mark.slow
@pytest.mark.parametrize("split", ["seen", "unseen"])
def test_every_expert_reaches_90_percent(split):
    results = evaluate(ExpertFactory(), "all", split, workers=2)
    low = {t: s["sr"] for t, s in results["summary"].items() if s["sr"] < 0.9}
    assert not low, f"expert SR below 0.9 on {split}: {low}"
