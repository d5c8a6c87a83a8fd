"""The README's Python snippets run as written (the action-space example and the quickstart), each in a fresh
working directory, so the documented Python API stays correct."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)


def test_the_readme_has_a_quickstart():
    assert len(BLOCKS) >= 2
    quickstart = next(b for b in BLOCKS if "predict_action_chunk" in b)
    for step in ("Dataset(", "samples[0]", "Policy(", "predict_action_chunk(", "select_action(", "env.step("):
        assert step in quickstart, step


@pytest.mark.parametrize("index", range(len(BLOCKS)), ids=lambda i: f"block{i}")
def test_readme_python_block_runs(index, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__readme__"}
    exec(compile(BLOCKS[index], f"README.md python block {index}", "exec"), namespace)
    if "predict_action_chunk" in BLOCKS[index]:
        out = capsys.readouterr().out
        assert "1 episode, 90 frames at 30" in out and "(30, 48)" in out and "subtasks done:" in out
        assert namespace["chunk"].shape == (30, 48) and namespace["action"].shape == (48,)
        assert namespace["info"]["subtasks"].keys() == {"reach", "success"}
    elif "keypoints_to_action" in BLOCKS[index]:  # the round trip gives the wrists and fingertips back in the world
        import numpy as np

        back, keypoints = namespace["back"], namespace["keypoints"]
        assert namespace["ego48"].shape == (90, 48)
        assert np.nanmax(np.abs(back.points - keypoints[:, :, list(back.keypoint_indices)])) < 1e-5
