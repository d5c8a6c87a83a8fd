import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dexego.cli import main
from dexego.data import Dataset, SampleConfig, SampleSource
from dexego.data.video import encode_video
from dexego.errors import InputError


def _write_v21(root, lengths=(12, 9)):
    """A LeRobot v2.1 robot dataset: one parquet and one mp4 per episode, jsonl metadata."""
    (root / "meta").mkdir(parents=True)
    features = {
        "observation.images.top": {
            "dtype": "video",
            "shape": [32, 32, 3],
            "names": ["height", "width", "channels"],
            "info": {},
        },
        "observation.state": {"dtype": "float32", "shape": [6], "names": [f"j{i}" for i in range(6)]},
        "action": {"dtype": "float32", "shape": [6], "names": [f"j{i}" for i in range(6)]},
        "timestamp": {"dtype": "float32", "shape": [1], "names": None},
        "frame_index": {"dtype": "int64", "shape": [1], "names": None},
        "episode_index": {"dtype": "int64", "shape": [1], "names": None},
        "index": {"dtype": "int64", "shape": [1], "names": None},
        "task_index": {"dtype": "int64", "shape": [1], "names": None},
    }
    info = {
        "codebase_version": "v2.1", "robot_type": "so100", "total_episodes": len(lengths), "total_frames": sum(lengths),
        "total_tasks": 2, "total_videos": len(lengths), "total_chunks": 1, "chunks_size": 1000, "fps": 30,
        "splits": {"train": f"0:{len(lengths)}"},
        "data_path": "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet",
        "video_path": "videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4",
        "features": features,
    }  # fmt: skip
    (root / "meta/info.json").write_text(json.dumps(info))
    (root / "meta/tasks.jsonl").write_text('{"task_index": 0, "task": "grasp"}\n{"task_index": 1, "task": "stack"}\n')
    (root / "meta/episodes.jsonl").write_text(
        "".join(
            json.dumps({"episode_index": i, "tasks": [["grasp", "stack"][i % 2]], "length": n}) + "\n"
            for i, n in enumerate(lengths)
        )
    )
    start, states = 0, []
    for ep, n in enumerate(lengths):
        state = np.random.default_rng(ep).normal(size=(n, 6)).astype(np.float32)
        states.append(state)
        table = pa.table({
            "observation.state": pa.array(list(state), pa.list_(pa.float32())),
            "action": pa.array(list(state * 2), pa.list_(pa.float32())),
            "timestamp": pa.array(np.arange(n, dtype=np.float32) / 30),
            "frame_index": pa.array(np.arange(n)), "episode_index": pa.array(np.full(n, ep)),
            "index": pa.array(start + np.arange(n)), "task_index": pa.array(np.full(n, ep % 2)),
        })  # fmt: skip
        (root / "data/chunk-000").mkdir(parents=True, exist_ok=True)
        pq.write_table(table, root / f"data/chunk-000/episode_{ep:06d}.parquet")
        video_dir = root / "videos/chunk-000/observation.images.top"
        video_dir.mkdir(parents=True, exist_ok=True)
        frames = np.full((n, 32, 32, 3), 40 + 100 * ep, np.uint8)
        frames[:, :, :, 1] = (np.arange(n) * 20)[:, None, None]
        encode_video(video_dir / f"episode_{ep:06d}.mp4", frames, 30)
        start += n
    return states


def test_reads_lerobot_v21(tmp_path):
    states = _write_v21(tmp_path / "v21")
    ds = Dataset(tmp_path / "v21")
    assert ds.version == "v2.1" and ds.num_episodes == 2 and ds.num_frames == 21 and ds.tasks == ["grasp", "stack"]
    np.testing.assert_array_equal(ds.episode_columns(1)["observation.state"], states[1])
    item = ds[12 + 3]
    assert int(item["episode_index"]) == 1 and int(item["frame_index"]) == 3 and item["task"] == "stack"
    frame = item["observation.images.top"]
    assert abs(int(frame[..., 0].mean()) - 140) <= 4 and abs(int(frame[..., 1].mean()) - 60) <= 4
    with pytest.raises(InputError, match="observation.hands.keypoints_world"):
        SampleSource(tmp_path / "v21", SampleConfig())  # not a dexego dataset: clear error


def test_cli_info_validate_view(tmp_path, small_dataset, capsys):
    root, episodes = small_dataset
    assert main(["data", "info", str(root), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["episodes"] == 3 and summary["frames"] == sum(e.length for e in episodes)
    assert summary["frames_by_source"] == {"synthetic": summary["frames"]} and summary["tasks"] == 4
    assert main(["data", "validate", str(root)]) == 0
    out = tmp_path / "ep.rrd"
    assert main(["data", "view", str(root), "--episode", "1", "--out", str(out)]) == 0
    assert out.stat().st_size > 10_000


def test_cli_validate_reports_every_problem(tmp_path, small_dataset, capsys):
    import shutil

    root = tmp_path / "broken"
    shutil.copytree(small_dataset[0], root)
    info = json.loads((root / "meta/info.json").read_text())
    info["total_frames"] += 5
    (root / "meta/info.json").write_text(json.dumps(info))
    video = next((root / "videos").rglob("*.mp4"))
    video.write_bytes(video.read_bytes()[:2000])
    assert main(["data", "validate", str(root)]) == 1  # in-process: the dexego command's parser and handler
    out = capsys.readouterr().out
    assert "info.json: total_frames" in out and f"{video}: observation.images.ego" in out
    assert main(["data", "info", str(tmp_path / "nowhere")]) == 2


def test_validate_reports_progress_for_every_data_and_video_file(small_dataset):
    from dexego.data.validate import validate_dataset

    root, _ = small_dataset
    seen = []
    assert validate_dataset(root, progress=seen.append) == []
    assert [Path(p).relative_to(root).parts[0] for p in seen] == ["data", "videos"]
    assert all(Path(p).is_file() for p in seen)
