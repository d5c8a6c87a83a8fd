import h5py
import numpy as np
from dexego_sources_testkit import INTRINSICS, check_converted, make_scene, read_episode, write_mp4

from dexego.sources.base import SourceOptions
from dexego.sources.convert import convert
from dexego.sources.egodex import ARKIT_FROM_OPENCV, JOINTS


def write_egodex(root, scene, task="basic_pick_place", idx=0, description="put the cup on the plate", drop=None):
    folder = root / task
    folder.mkdir(parents=True, exist_ok=True)
    with h5py.File(folder / f"{idx}.hdf5", "w") as f:
        f["camera/intrinsic"] = INTRINSICS.matrix.astype(np.float32)
        f["transforms/camera"] = (scene.world_from_camera @ np.linalg.inv(ARKIT_FROM_OPENCV)).astype(np.float32)
        for h, side in enumerate(("left", "right")):
            for j, joint in enumerate(JOINTS):
                name = f"{side}{joint}"
                if name == drop:
                    continue
                pose = np.tile(np.eye(4), (scene.length, 1, 1))
                pose[:, :3, 3] = scene.keypoints_world[:, h, j]
                f[f"transforms/{name}"] = pose.astype(np.float32)
                f[f"confidences/{name}"] = np.where(scene.valid[:, h], 0.9, 0.0).astype(np.float32)
            for extra in ("IndexFingerMetacarpal", "LittleFingerMetacarpal"):
                f[f"transforms/{side}{extra}"] = np.tile(np.eye(4), (scene.length, 1, 1)).astype(np.float32)
        f["transforms/hip"] = np.tile(np.eye(4), (scene.length, 1, 1)).astype(np.float32)
        if description:
            f.attrs["llm_description"] = description
        f.attrs["environment"] = "kitchen table"
    write_mp4(folder / f"{idx}.mp4", scene.frames())


def test_egodex_converts_with_known_hands(tmp_path):
    valid = np.ones((6, 2), dtype=bool)
    valid[2, 0] = False  # left hand lost in frame 2
    scene = make_scene(6, seed=1, valid=valid)
    write_egodex(tmp_path / "in", scene)
    summary = convert("egodex", tmp_path / "in", tmp_path / "out", progress=lambda m: None)
    assert summary.converted == ["basic_pick_place/0"] and not summary.skipped
    got = check_converted(tmp_path / "out", scene)
    assert got["meta"]["source"] == "egodex"
    assert got["columns"]["task_index"].tolist() == [0] * 6


def test_egodex_skips_broken_sequence_and_resumes(tmp_path):
    scene = make_scene(4, seed=2)
    write_egodex(tmp_path / "in", scene, idx=0)
    write_egodex(tmp_path / "in", scene, idx=1, drop="rightThumbTip")  # truncated export: a joint is missing
    write_egodex(tmp_path / "in", scene, idx=2)
    (tmp_path / "in" / "basic_pick_place" / "2.mp4").unlink()  # and one without its video
    summary = convert("egodex", tmp_path / "in", tmp_path / "out", progress=lambda m: None)
    assert summary.converted == ["basic_pick_place/0"]
    reasons = dict(summary.skipped)
    assert "rightThumbTip" in reasons["basic_pick_place/1"]
    assert "2.mp4" in reasons["basic_pick_place/2"]
    assert read_episode(tmp_path / "out")["num_episodes"] == 1
    # the missing video arrives: a second run converts only that one
    write_mp4(tmp_path / "in" / "basic_pick_place" / "2.mp4", scene.frames())
    again = convert("egodex", tmp_path / "in", tmp_path / "out", progress=lambda m: None)
    assert again.converted == ["basic_pick_place/2"] and again.already_present == ["basic_pick_place/0"]
    assert read_episode(tmp_path / "out")["num_episodes"] == 2


def test_egodex_placeholder_instruction_is_marked(tmp_path):
    scene = make_scene(3, seed=3)
    write_egodex(tmp_path / "in", scene, description=None)
    from dexego.sources import egodex
    from dexego.sources.base import SequenceRef

    ep = egodex.load(
        SequenceRef("basic_pick_place/0", tmp_path / "in" / "basic_pick_place" / "0.hdf5"), SourceOptions()
    )
    assert ep.metadata["instruction_placeholder"] is True
    assert ep.instructions == [(0, 3, "basic pick place")]
