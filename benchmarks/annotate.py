"""Annotation throughput: video seconds processed per wall second, per pipeline stage, on this machine.

Makes synthetic 320x240 30 fps task videos (static and moving camera) with
known hands, then measures in the same run:
  baseline   decode only: one PyAV pass over each video (the floor any pipeline pays);
  pipeline   dexego annotate's stages (oracle hand estimator, offline captioner),
             each as video-seconds per wall-second of that stage, and in total;
  mediapipe  the hand stage with MediaPipe instead, when the extra and model are installed;
  ray        the whole directory as a Ray Data job on a local instance (--ray).
Also prints the wrist error and segment-boundary error against the ground truth, and with
--sim-human TASK ... the same on expert episodes of the simulator's human embodiment (oracle with
given poses and with odometry, and MediaPipe when installed).
Usage: python benchmarks/annotate.py [--videos 2] [--seconds 6] [--ray] [--sim-human Push-Box Sort-Cans]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from dexego.annotate.accuracy import episode_accuracy
from dexego.annotate.caption import OfflineCaptioner
from dexego.annotate.estimators import estimate_video, make_estimator
from dexego.annotate.pipeline import STAGES, AnnotateConfig, annotate_video
from dexego.annotate.sidecar import read_ground_truth

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "annotate"))  # the test videos' generators
from synthetic_video import SceneConfig, make_task_video  # noqa: E402


def decode_rate(videos: list[Path]) -> float:
    start, frames = time.perf_counter(), 0
    for video in videos:
        with av.open(str(video)) as container:
            for frame in container.decode(video=0):
                frame.to_ndarray(format="rgb24")
                frames += 1
    return frames / 30.0 / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--videos", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=6.0, help="cap per video (the task itself lasts 6 s)")
    parser.add_argument("--ray", action="store_true")
    parser.add_argument("--sim-human", nargs="*", default=[], metavar="TASK")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "videos"
        videos = []
        for i in range(args.videos):
            path = root / f"clip{i}.mp4"
            make_task_video(path, SceneConfig(camera_motion=("static", "rotate", "move")[i % 3], seed=i))
            videos.append(path)
        print(f"{len(videos)} synthetic videos, 320x240 @ 30 fps, up to {args.seconds:.0f} s each")
        baseline = decode_rate(videos)
        print(f"baseline  decode only (PyAV):          {baseline:8.1f} video-s / wall-s")

        config = AnnotateConfig(estimator="oracle", max_seconds=args.seconds)
        totals = dict.fromkeys(STAGES, 0.0)
        video_seconds, wall = 0.0, 0.0
        for video in videos:
            start = time.perf_counter()
            result = annotate_video(video, config, make_estimator("oracle"), OfflineCaptioner())
            wall += time.perf_counter() - start
            video_seconds += result.video_seconds
            for stage, value in result.seconds.items():
                totals[stage] += value
            acc = episode_accuracy(result.episode, read_ground_truth(video))
            print(f"  {video.name} ({result.episode.metadata['camera']['mode']}): wrist error {acc.wrist_world_mm:.1f} mm "
                  f"(p90 {acc.wrist_world_p90_mm:.1f}), boundary error {max(acc.boundary_error_s):.2f} s, "
                  f"{len(acc.boundaries)} cuts for {len(acc.boundary_error_s)} phase changes")  # fmt: skip
        for stage in STAGES:
            rate = video_seconds / totals[stage] if totals[stage] > 0 else float("inf")
            print(f"pipeline  {stage:<8} {totals[stage]:7.2f} s  {rate:10.1f} video-s / wall-s")
        print(f"pipeline  total    {wall:7.2f} s  {video_seconds / wall:10.1f} video-s / wall-s "
              f"({video_seconds / wall / baseline:.2f}x the decode baseline)")  # fmt: skip

        try:
            estimator = make_estimator("mediapipe")
        except Exception as exc:  # the optional extra or model is missing
            print(f"mediapipe skipped: {exc}")
        else:
            from dexego.annotate.pipeline import decode_video

            seconds = 0.0
            for video in videos:
                frames = decode_video(video, 30, 640, args.seconds)[0]
                start = time.perf_counter()
                estimate_video(estimator, frames, str(video))
                seconds += time.perf_counter() - start
            estimator.close()
            print(f"mediapipe hands    {seconds:7.2f} s  {video_seconds / seconds:10.1f} video-s / wall-s")

        if args.ray:
            from dexego.annotate.ray_job import annotate_with_ray

            start = time.perf_counter()
            annotate_with_ray(root, Path(tmp) / "ray_ds", config, "local", workers=2, log=lambda line: None)
            seconds = time.perf_counter() - start
            print(
                f"ray       2 workers {seconds:7.2f} s  {video_seconds / seconds:10.1f} video-s / wall-s (incl. Ray start-up and dataset writing)"
            )
        if args.sim_human:
            sim_human_report(args.sim_human, Path(tmp) / "sim")


def sim_human_report(tasks: list[str], root: Path) -> None:
    from sim_video import make_sim_video

    from dexego.annotate.camera import CameraConfig

    try:
        mediapipe = make_estimator("mediapipe")
    except Exception as exc:  # the optional extra or model is missing
        print(f"(mediapipe not run: {exc})")
        mediapipe = None
    for task in tasks:
        path = root / f"{task}.mp4"
        truth = make_sim_video(path, task, seed=1, max_steps=300)
        runs = [("oracle", "poses", make_estimator("oracle")), ("oracle", "auto", make_estimator("oracle"))]
        if mediapipe is not None:
            runs.append(("mediapipe", "poses", mediapipe))
        for name, mode, estimator in runs:
            config = AnnotateConfig(estimator=name, camera=CameraConfig(mode=mode))
            try:
                result = annotate_video(path, config, estimator, OfflineCaptioner(), poses=truth["world_from_camera"])
            except Exception as exc:
                print(f"  sim {task:<12} {name:<9} {mode:<5} failed: {exc}")
                continue
            acc = episode_accuracy(result.episode, truth)
            errors = f"{np.mean(acc.boundary_error_s):.2f} s" if acc.boundary_error_s else "n/a"
            print(f"  sim {task:<12} {name:<9} {mode:<5} ({result.episode.metadata['camera']['mode']}): wrist {acc.wrist_world_mm:6.1f} mm "
                  f"(camera frame {acc.wrist_camera_mm:6.1f}), coverage {acc.coverage:.2f}, mean distance of a subtask "
                  f"event to a cut {errors}, {len(acc.boundaries)} cuts / {len(acc.boundary_error_s)} events")  # fmt: skip
    if mediapipe is not None:
        mediapipe.close()


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
