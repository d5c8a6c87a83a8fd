import dataclasses
import pickle

import numpy as np
import pytest

from dexego.data import Dataset, DatasetWriter, SampleConfig, SampleDataset, SampleSource
from dexego.data.frame_cache import FrameCache, frame_cache_dir, prepare_frame_cache
from dexego.data.layout import TMP_MARK
from dexego.data.synthetic import synthetic_episode
from dexego.errors import ConfigError

SIZE = (32, 48)


def _write(root, seeds, lengths=None):
    lengths = lengths or [40 + i for i in range(len(seeds))]
    with DatasetWriter(root) as writer:
        for seed, length in zip(seeds, lengths):
            writer.add_episode(synthetic_episode(length, seed=seed))
    return root


def _cache_files(root, size=SIZE):
    return sorted(frame_cache_dir(root, size).glob("*.npy"))


def _assert_same_samples(a: list[dict], b: list[dict]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.keys() == y.keys()
        for key in x:
            if isinstance(x[key], np.ndarray):
                assert x[key].dtype == y[key].dtype and np.array_equal(x[key], y[key]), key
            else:
                assert x[key] == y[key], key


def test_cached_samples_equal_decoded_samples(tmp_path):
    root = _write(tmp_path / "ds", [0, 1, 2])
    config = SampleConfig(image_size=SIZE)
    decoded = SampleDataset([SampleSource(root, dataclasses.replace(config, frame_cache="off"))])
    source = SampleSource(root, config)
    cache = source.prepare_frame_cache(progress=False)
    assert cache is not None and all(ep in cache for ep in range(3))
    cached = SampleDataset([source])
    order = np.random.default_rng(0).permutation(len(decoded))  # random access, as the trainer's sampler
    assert len(order) == 3 * 4  # 40-42 frames at 30 fps: an anchor every 1/3 s
    _assert_same_samples([decoded[i] for i in order], [cached[i] for i in order])
    assert cached[int(order[0])]["images"].shape == (6, 3) + SIZE
    # the memory-mapped file holds every frame of the episode, equal to the decoder's output
    frames = Dataset(root, image_size=SIZE).frames(1, np.arange(41))
    np.testing.assert_array_equal(np.load(cache.files[1]), frames)
    assert cache.nbytes >= frames.nbytes


def test_cache_is_reused_and_appended_episodes_are_added(tmp_path):
    root = _write(tmp_path / "ds", [0, 1])
    first = prepare_frame_cache(Dataset(root, image_size=SIZE), [0, 1], progress=False)
    before = {p.name: p.stat().st_mtime_ns for p in _cache_files(root)}
    again = prepare_frame_cache(Dataset(root, image_size=SIZE), [0, 1], progress=False)
    assert again.files == first.files
    assert {p.name: p.stat().st_mtime_ns for p in _cache_files(root)} == before  # nothing rebuilt
    _write(root, [5])  # the writer resumes and appends episode 2
    dataset = Dataset(root, image_size=SIZE)
    assert dataset.num_episodes == 3
    grown = prepare_frame_cache(dataset, range(3), progress=False)
    assert grown.files[0] == first.files[0] and grown.files[1] == first.files[1]
    assert {p.name: p.stat().st_mtime_ns for p in _cache_files(root) if p.name in before} == before
    np.testing.assert_array_equal(grown.frames(2, [0, 39]), dataset.frames(2, [0, 39]))


def test_rewritten_dataset_is_not_read_from_a_stale_cache(tmp_path):
    root = _write(tmp_path / "ds", [0], lengths=[40])
    old = prepare_frame_cache(Dataset(root, image_size=SIZE), [0], progress=False)
    old_frames = old.frames(0, [10]).copy()
    for path in root.rglob("*"):  # a new dataset with the same shape (same episode length) in the same folder
        if path.is_file() and ".cache" not in path.parts:
            path.unlink()
    _write(root, [9], lengths=[40])
    dataset = Dataset(root, image_size=SIZE)
    new = prepare_frame_cache(dataset, [0], progress=False)
    assert new.files[0] != old.files[0]
    assert _cache_files(root) == [new.files[0]]  # the stale version of the episode is removed
    np.testing.assert_array_equal(new.frames(0, [10]), dataset.frames(0, [10]))
    assert not np.array_equal(new.frames(0, [10]), old_frames)


def test_modes_and_size_limit(tmp_path):
    root = _write(tmp_path / "ds", [0, 1])
    dataset = Dataset(root, image_size=SIZE)
    assert prepare_frame_cache(dataset, [0, 1], mode="off", progress=False) is None
    needed = (40 + 41) * SIZE[0] * SIZE[1] * 3
    assert prepare_frame_cache(dataset, [0, 1], mode="auto", max_gib=0.1 * needed / 2**30, progress=False) is None
    assert _cache_files(root) == []
    # beyond the limit, auto caches the episodes that fit (here episode 0's 40 frames) and the others decode video
    part = prepare_frame_cache(dataset, [0, 1], mode="auto", max_gib=0.9 * needed / 2**30, progress=False)
    assert 0 in part and 1 not in part and len(_cache_files(root)) == 1
    np.testing.assert_array_equal(part.frames(0, [3, 39]), dataset.frames(0, [3, 39]))
    assert prepare_frame_cache(dataset, [0, 1], mode="on", max_gib=0.9 * needed / 2**30, progress=False) is not None
    assert sum(np.load(p, mmap_mode="r").nbytes for p in _cache_files(root)) == needed
    with pytest.raises(ConfigError, match="frame_cache"):
        prepare_frame_cache(dataset, [0], mode="sometimes", progress=False)
    other = tmp_path / "elsewhere"
    cache = prepare_frame_cache(dataset, [1], base_dir=str(other), progress=False)
    assert cache.files[1].is_relative_to(other)


def test_dataset_without_video_has_no_cache(tmp_path):
    root = tmp_path / "novideo"
    with DatasetWriter(root) as writer:
        writer.add_episode(synthetic_episode(40, video=False))
    source = SampleSource(root, SampleConfig(image_size=SIZE))
    assert source.prepare_frame_cache(progress=False) is None
    assert source.samples(0, [3])[0]["images"].shape == (6, 3) + SIZE


def test_interrupted_build_leaves_no_cache_file(tmp_path, monkeypatch):
    root = _write(tmp_path / "ds", [0, 1])
    dataset = Dataset(root, image_size=SIZE)
    directory = frame_cache_dir(root, SIZE)
    directory.mkdir(parents=True)
    dead = directory / f"episode_000000-0123.npy{TMP_MARK}999999999"  # left by a process killed mid-build
    dead.write_bytes(b"partial")
    calls = []

    def failing_frames(episode, indices, key=None):
        calls.append(episode)
        if episode == 1:
            raise RuntimeError("decoder died")
        return Dataset.frames(dataset, episode, indices, key)

    monkeypatch.setattr(dataset, "frames", failing_frames)
    with pytest.raises(RuntimeError, match="decoder died"):
        prepare_frame_cache(dataset, [0, 1], progress=False)
    assert not dead.exists()
    names = sorted(p.name for p in directory.iterdir())
    assert (
        len(names) == 1 and names[0].startswith("episode_000000-") and names[0].endswith(".npy")
    )  # only the finished one
    monkeypatch.undo()
    cache = prepare_frame_cache(Dataset(root, image_size=SIZE), [0, 1], progress=False)
    assert cache.files[0].name == names[0] and cache.files[1].is_file()


def test_pickled_cache_carries_paths_not_frames(tmp_path):
    root = _write(tmp_path / "ds", [0])
    cache = prepare_frame_cache(Dataset(root, image_size=SIZE), [0], progress=False)
    expected = cache.frames(0, [3, 1, 3])  # opens the memory map
    assert expected.shape == (3,) + SIZE + (3,)
    payload = pickle.dumps(cache)
    assert len(payload) < 1000  # a worker process maps the file itself
    clone = pickle.loads(payload)
    assert isinstance(clone, FrameCache)
    np.testing.assert_array_equal(clone.frames(0, [3, 1, 3]), expected)


def test_read_only_dataset_folder_uses_the_user_cache(tmp_path, monkeypatch):
    import dexego.data.frame_cache as frame_cache

    root = _write(tmp_path / "ds", [0])
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(
        frame_cache, "_writable", lambda path: False
    )  # as for a read-only folder (tests may run as root)
    cache = prepare_frame_cache(Dataset(root, image_size=SIZE), [0], progress=False)
    assert cache.files[0].is_relative_to(tmp_path / "xdg" / "dexego" / "frames")
    assert not (root / ".cache").exists()
    np.testing.assert_array_equal(cache.frames(0, [7]), Dataset(root, image_size=SIZE).frames(0, [7]))


def test_training_stage_reads_the_frame_cache_unless_turned_off(tmp_path):
    from dexego.train.build import build_stage_data
    from dexego.train.config import load_stage_config

    root = tmp_path / "human"
    with DatasetWriter(root) as writer:
        for seed in range(4):
            writer.add_episode(synthetic_episode(45, size=(48, 48), seed=seed))
    stage = {
        "name": "cache", "output_dir": str(tmp_path / "run"),
        "data": {"sources": [{"path": str(root)}], "val_fraction": 0.25, "sample": {"image_size": [32, 32]}},
        "model": {"backbone": "tiny", "head": "regression", "tiny": {"image_size": 32, "patch_size": 16, "width": 32, "depth": 1, "heads": 2},
                  "regression": {"width": 32, "depth": 1, "heads": 2}},
        "loop": {"progress": False},
    }  # fmt: skip
    data = build_stage_data(load_stage_config(stage))
    train_source = data.train_sources[0].sources[0]
    val_source = data.val["val_human"].sources[0]
    assert train_source.frame_cache is not None and val_source.frame_cache is not None
    assert set(train_source.frame_cache.files) == set(train_source.episodes)
    assert len(_cache_files(root, (32, 32))) == 4  # train and validation episodes
    off = build_stage_data(load_stage_config(stage, ["data.sample.frame_cache=off"]))
    assert off.train_sources[0].sources[0].frame_cache is None
    order = np.random.default_rng(1).permutation(len(off.train_sources[0]))[:6]
    _assert_same_samples([off.train_sources[0][i] for i in order], [data.train_sources[0][i] for i in order])
