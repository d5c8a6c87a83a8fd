import json

import numpy as np
from dexego_sources_testkit import INTRINSICS, check_converted, make_scene, write_mp4

from dexego.sources.convert import convert
from dexego.sources.holoassist import KEYPOINT_JOINTS, PSI_FROM_OPENCV


def _hand_lines(scene, h, lead=5):
    lines = []
    for t in range(scene.length):
        poses = np.tile(np.eye(4), (26, 1, 1)) * 1.0
        poses[:, :3, 3] = 9.0  # palm / metacarpals: present in the file, unused
        poses[list(KEYPOINT_JOINTS), :3, 3] = scene.keypoints_world[t, h]
        tracked = float(scene.valid[t, h])
        head = [t / 30, 0, 0, tracked, 1][:lead]
        values = head + poses.reshape(-1).tolist() + [tracked] * 26 + [tracked] * 26
        lines.append(" ".join(f"{v:.9g}" for v in values))
    return "\n".join(lines) + "\n"


def write_holoassist(root, name, scene, annotate=True):
    export = root / name / "Export_py"
    (export / "Hands").mkdir(parents=True)
    (export / "Video").mkdir()
    (export / "Hands" / "Left_sync.txt").write_text(_hand_lines(scene, 0))
    (export / "Hands" / "Right_sync.txt").write_text(_hand_lines(scene, 1, lead=5))
    psi = scene.world_from_camera @ np.linalg.inv(PSI_FROM_OPENCV)
    (export / "Video" / "Pose_sync.txt").write_text(
        "".join(f"{t / 30} {t} " + " ".join(f"{v:.9g}" for v in psi[t].reshape(-1)) + "\n" for t in range(scene.length))
    )
    k = INTRINSICS.matrix.reshape(-1).tolist() + [INTRINSICS.width, INTRINSICS.height]
    (export / "Video" / "Intrinsics.txt").write_text(" ".join(str(v) for v in k) + "\n")
    write_mp4(export / "Video_pitchshift.mp4", scene.frames())
    if annotate:
        events = [
            {
                "label": "Coarse grained action",
                "start": 0.0,
                "end": 2 / 30,
                "attributes": {"Action sentence": "grab the knob"},
            },
            {"label": "Fine grained action", "start": 0.0, "end": 0.1, "attributes": {"Verb": "turn"}},
        ]
        (root / "data-annotation-trainval-v1_1.json").write_text(
            json.dumps([{"video_name": name, "taskType": "knob", "events": events}])
        )


def test_holoassist_converts_psi_axes_and_labels(tmp_path):
    valid = np.ones((5, 2), dtype=bool)
    valid[3, 1] = False
    scene = make_scene(5, seed=4, valid=valid)
    write_holoassist(tmp_path / "in", "R007-7July-DSLR", scene)
    summary = convert("holoassist", tmp_path / "in", tmp_path / "out", progress=lambda m: None)
    assert summary.converted == ["R007-7July-DSLR"]
    got = check_converted(tmp_path / "out", scene)
    instructions = got["meta"]["instructions"]
    instructions = json.loads(instructions) if isinstance(instructions, str) else instructions
    assert [list(seg) for seg in instructions] == [[0, 2, "grab the knob"]]


def test_holoassist_truncated_hand_file_is_skipped(tmp_path):
    scene = make_scene(3, seed=5)
    write_holoassist(tmp_path / "in", "R1", scene, annotate=False)
    write_holoassist(tmp_path / "in", "R2", scene, annotate=False)
    path = tmp_path / "in" / "R2" / "Export_py" / "Hands" / "Left_sync.txt"
    path.write_text(path.read_text()[:-3000])  # cut mid-line
    summary = convert("holoassist", tmp_path / "in", tmp_path / "out", progress=lambda m: None)
    assert summary.converted == ["R1"]
    assert "Left_sync.txt" in dict(summary.skipped)["R2"]
