import numpy as np
import pytest

from dexego.data import (
    Dataset,
    DatasetWriter,
    LoaderConfig,
    MixtureEntry,
    SampleConfig,
    SampleDataset,
    SampleSource,
    SampleStream,
    split_episodes,
)
from dexego.data.loader import open_sources
from dexego.data.samples import anchor_frames
from dexego.data.synthetic import synthetic_episode
from dexego.geometry import matrix_to_rot6d
from dexego.hands import hand_frames

CFG = SampleConfig(image_size=(32, 48))


def test_future_chunk_is_in_the_current_camera_frame(small_dataset):
    root, episodes = small_dataset
    source = SampleSource(root, CFG)
    anchor = 6
    sample = source.samples(2, [anchor])[0]
    ep = episodes[2]
    camera = ep.world_from_camera[anchor].astype(np.float64)
    rot, centre = camera[:3, :3], camera[:3, 3]
    for h in (1, 15, 30):
        wrist_world = ep.keypoints_world[anchor + h, 1, 0].astype(np.float64)
        expected = rot.T @ (wrist_world - centre)  # right wrist in the camera of the anchor frame
        np.testing.assert_allclose(sample["actions"][h - 1, 24:27], expected, atol=1e-5)
        world_from_hand = hand_frames(ep.keypoints_world[anchor + h].astype(np.float64))[1]
        np.testing.assert_allclose(
            sample["actions"][h - 1, 27:33], matrix_to_rot6d(rot.T @ world_from_hand[:3, :3]), atol=1e-5
        )
    np.testing.assert_allclose(sample["state"][24:27], rot.T @ (ep.keypoints_world[anchor, 1, 0] - centre), atol=1e-5)
    assert sample["images"].shape == (6, 3, 32, 48) and sample["images"].dtype == np.uint8
    assert sample["actions"].shape == (30, 48) and sample["action_valid"].all()
    np.testing.assert_array_equal(
        sample["image_mask"], [False, False, False, False, True, True]
    )  # frame 0 is 0.2 s back
    assert sample["intrinsics"][0] == pytest.approx(32 * 48 / 64) and sample["intrinsics"][1] == pytest.approx(
        32 * 32 / 64
    )
    np.testing.assert_allclose(sample["fov"], [np.pi / 2, np.pi / 2], atol=1e-6)


def test_masks_at_episode_end_and_for_invalid_hands(small_dataset):
    root, episodes = small_dataset
    source = SampleSource(root, CFG)
    n = episodes[1].length  # 41; left hand invalid at frames 5..8
    late = source.samples(1, [n - 11])[0]
    assert late["action_valid"][:10].all() and not late["action_valid"][10:].any()
    np.testing.assert_array_equal(late["image_mask"], [True] * 6)
    early = source.samples(1, [2])[0]
    # steps h = 3..6 land on frames 5..8 (chunk rows 2..5)
    assert not early["action_valid"][2:6, 0].any() and early["action_valid"][:, 1].all()
    assert early["action_valid"][:2, 0].all() and early["action_valid"][6:, 0].all()
    np.testing.assert_array_equal(early["actions"][2:6, :24], 0)
    np.testing.assert_array_equal(early["image_mask"], [False] * 5 + [True])


def test_history_frames_are_the_decoded_frames_at_0_2s_spacing(small_dataset):
    root, _ = small_dataset
    source = SampleSource(root, SampleConfig(image_size=(64, 64)))
    sample = source.samples(0, [35])[0]
    frames = Dataset(root).frames(0, [5, 11, 17, 23, 29, 35])
    np.testing.assert_array_equal(sample["images"], frames.transpose(0, 3, 1, 2))


def test_sources_at_other_frame_rates_are_resampled(tmp_path):
    full = synthetic_episode(60, seed=3, fps=30)
    half = synthetic_episode(60, seed=3, fps=30)
    for name in ("keypoints_world", "hand_valid", "world_from_camera", "frames"):
        setattr(half, name, getattr(half, name)[::2])
    half.fps, half.instructions = 15, [(0, 30, "x")]
    for name, ep, fps in (("a30", full, 30), ("a15", half, 15)):
        with DatasetWriter(tmp_path / name, fps=fps) as writer:
            writer.add_episode(ep)
    s30 = SampleSource(tmp_path / "a30", CFG).samples(0, [12])[0]
    s15 = SampleSource(tmp_path / "a15", CFG).samples(0, [6])[0]  # the same instant
    np.testing.assert_allclose(s15["state"], s30["state"], atol=1e-5)
    np.testing.assert_allclose(s15["actions"][1::2], s30["actions"][1::2], atol=1e-5)  # steps on stored frames
    np.testing.assert_allclose(s15["actions"][0::2, 24:27], s30["actions"][0::2, 24:27], atol=2e-3)  # interpolated
    assert anchor_frames(30, 15, 3.0).tolist() == [0, 5, 10, 15, 20, 25]


def test_three_samples_per_second_and_map_dataset(small_dataset):
    root, episodes = small_dataset
    assert anchor_frames(90, 30, 3.0).tolist() == list(range(0, 90, 10))
    dataset = SampleDataset([SampleSource(root, CFG)])
    assert len(dataset) == sum(len(anchor_frames(e.length, 30, 3.0)) for e in episodes)
    assert int(dataset[5]["frame_index"]) == dataset.items[5][2]


def _keys(stream, epoch=0):
    stream.set_epoch(epoch)
    return [(int(s["episode_index"]), int(s["frame_index"])) for s in stream]


def test_stream_is_deterministic_and_covers_every_anchor_once(small_dataset):
    root, _ = small_dataset
    config = LoaderConfig(
        datasets=(MixtureEntry(str(root)),), sample=CFG, shuffle_buffer=4, block_seconds=0.5, val_fraction=0.0
    )
    sources, weights = open_sources(config, "all")
    stream = SampleStream(sources, weights, config)
    first, again, other = _keys(stream), _keys(stream), _keys(stream, epoch=1)
    assert first == again and first != other
    expected = sorted((ep, a) for ep, anchors in sources[0].anchors.items() for a in anchors.tolist())
    assert sorted(first) == expected and sorted(other) == expected


def test_mixture_weights_set_the_share_of_each_dataset(tmp_path, small_dataset):
    root, _ = small_dataset
    with DatasetWriter(tmp_path / "other") as writer:
        writer.add_episode(synthetic_episode(45, seed=7))
    config = LoaderConfig(
        datasets=(MixtureEntry(str(root), 1.0, "a"), MixtureEntry(str(tmp_path / "other"), 0.1, "b")),
        sample=SampleConfig(image_size=(16, 16)), samples_per_epoch=110, val_fraction=0.0,
    )  # fmt: skip
    sources, weights = open_sources(config, "all")
    blocks = SampleStream(sources, weights, config).plan()
    counts = [sum(len(a) for s, _, a in blocks if s == sid) for sid in (0, 1)]
    assert counts == [100, 10]


def test_split_is_by_episode_disjoint_and_stable():
    train, val = split_episodes(200, 0.1, seed=3, name="egodex")
    assert set(train).isdisjoint(val) and sorted(train + val) == list(range(200)) and 5 <= len(val) <= 40
    train_more, val_more = split_episodes(300, 0.1, seed=3, name="egodex")
    assert set(val) == {e for e in val_more if e < 200}
    assert split_episodes(3, 0.05)[1] != []  # at least one validation episode


def test_loader_batches_with_worker_processes(small_dataset):
    from dexego.data import make_loader

    root, _ = small_dataset
    config = LoaderConfig(
        datasets=(MixtureEntry(str(root)),),
        sample=SampleConfig(image_size=(16, 16)),
        batch_size=4,
        num_workers=2,
        val_fraction=0.0,
    )
    batches = list(make_loader(config, split="all"))
    total = sum(len(b["frame_index"]) for b in batches)
    assert total == sum(len(a) for a in SampleSource(root, CFG).anchors.values())
    assert batches[0]["images"].shape[1:] == (6, 3, 16, 16) and batches[0]["actions"].shape[1:] == (30, 48)
    assert isinstance(batches[0]["instruction"][0], str)


def test_nan_camera_pose_at_an_anchor_names_the_episode_frame_and_field(small_dataset):
    from dexego.data import features as F
    from dexego.data.samples import build_samples
    from dexego.errors import InputError

    root, _ = small_dataset
    source = SampleSource(root, CFG)
    columns = dict(source.dataset.episode_columns(0))
    pose = np.array(columns[F.CAMERA_POSE], dtype=np.float32, copy=True)
    pose[10] = np.nan
    columns[F.CAMERA_POSE] = pose
    meta = {"embodiment": "human", "source": "synthetic", "episode_index": 0}
    samples = build_samples(columns, [None, None], [0, 20], 30.0, CFG, None, meta, ["a", "b"], "ds (episode 0)")
    assert all(np.isfinite(s["actions"]).all() for s in samples)  # a NaN pose inside a chunk is never read
    with pytest.raises(
        InputError, match=r"ds \(episode 0\): observation\.camera\.world_from_camera: NaN or inf at frame 10"
    ):
        build_samples(columns, [None, None], [0, 10], 30.0, CFG, None, meta, ["a", "b"], "ds (episode 0)")


@pytest.mark.parametrize(
    "field, value",
    [
        ("horizon", 0),
        ("history", -1),
        ("history_spacing_s", float("nan")),
        ("action_fps", 0.0),
        ("samples_per_second", -3.0),
        ("image_size", (0, 64)),
    ],
)
def test_sample_config_out_of_range_is_a_config_error(field, value):
    from dexego.config import load_config
    from dexego.errors import ConfigError

    with pytest.raises(ConfigError, match=f"{field} = .* is out of range"):
        SampleConfig(**{field: value})
    with pytest.raises(ConfigError, match=f"{field}"):  # through the config loader too
        load_config(SampleConfig, {field: value if not isinstance(value, tuple) else list(value)})


def test_placeholder_tasks_of_older_datasets_reach_the_model_as_no_instruction(tmp_path):
    """A segment stored as "<uncaptioned>" by older annotate runs gives an empty instruction; captions pass unchanged."""
    episode = synthetic_episode(60, seed=5)
    episode.instructions = [(0, 30, "<uncaptioned>"), (30, 60, "open the drawer")]
    with DatasetWriter(tmp_path / "old") as writer:
        writer.add_episode(episode)
    source = SampleSource(tmp_path / "old", CFG)
    assert "<uncaptioned>" in source.dataset.tasks  # stored as written: the reader does not rewrite files
    first, second = source.samples(0, [10, 40])
    assert first["instruction"] == "" and second["instruction"] == "open the drawer"
    assert first["action_valid"].all()  # the actions still train


def test_plan_texts_come_from_the_episode_plan_segments_or_the_instruction(tmp_path):
    episode = synthetic_episode(60, seed=7)
    episode.instructions = [(0, 60, "open the drawer")]
    episode.metadata = {**(episode.metadata or {}), "plan": [[0, 20, "reach drawer"], [20, 45, "lift"]]}
    with DatasetWriter(tmp_path / "planned") as writer:
        writer.add_episode(episode)
    source = SampleSource(tmp_path / "planned", SampleConfig(image_size=(16, 16), plan=True))
    plans = [s["plan"] for s in source.samples(0, [0, 19, 20, 44, 50])]
    assert plans == ["reach drawer", "reach drawer", "lift", "lift", "open the drawer"]
    assert "plan" not in SampleSource(tmp_path / "planned", SampleConfig(image_size=(16, 16))).samples(0, [0])[0]
