"""Hand retargeting: frames per second and fingertip error, dexego vs dex-retargeting, same hand, same keypoints, same run.

Keypoint sequences: smooth random motions of the hand (several frequencies
per joint), forward kinematics to fingertips in the wrist frame, plus
Gaussian noise (default 2 mm per coordinate) so that targets are not exactly
reachable, like human fingertips scaled onto a robot hand. Every method
gets exactly these targets; the error is the mean distance between the
fingertips its joints reach (dexego's FK, checked against MuJoCo in the
tests) and the targets.

Methods (two kinds of figure: BATCH rows solve many frames per call, offline, each frame also seeing its
next frame through the smoothness term; PER-FRAME rows get one frame per call, in order, as a live robot would):
  dexego-lm          batch: HandRetargeter, default config, all frames of all sequences in one call
  dexego-lm/seq      batch: the same, one sequence (--steps frames) per call
  dexego-lm/online   per frame: one frame per call, warm-started from the previous frame's joints
                     (``previous=``: each frame starts from the better of the previous joints and the grid
                     search; the first frame of a sequence from the grid search), the same frames as
                     dex-retargeting: the like-for-like comparison with it. One-frame calls run
                     dexego.retarget.one_frame (MuJoCo kinematics, the batch solver's objective and steps)
  dexego-lm/chunk30  30 frames (one action chunk) per call, warm-started from the previous chunk's last
                     joints: a whole chunk solved in one call (dexego.retarget.commands streams
                     one step per call instead, as dexego-lm/online)
  dexego-mlp+lm/online  per frame as dexego-lm/online, with the learned MLP's guess as a further start
  dexego-mlp      the learned 64-128-64 MLP alone (trained here from FK samples, --mlp-steps)
  dexego-mlp+lm   the MLP's guess refined by the optimiser (no grid search)
  dex-retargeting position and vector optimisers (nlopt SLSQP + pinocchio), one frame at a time,
                  warm-started from the previous frame, low-pass filter off; the hand exported to URDF
                  (base link = the wrist frame) for it.
dex-retargeting is optional (pip install dex-retargeting==0.5.0 six; not a dexego dependency;
``pip install --target DIR`` and PYTHONPATH=DIR:DIR/cmeel.prefix/lib/python3.11/site-packages keep it
out of the project's environment).

--replay N: also record the simulator's human-hand expert on every benchmark task (N seeds each),
retarget it onto h1_inspire (knuckle-anchored, and wrist-anchored for comparison) and replay it open
loop on the robot; prints the replay success per task next to the human expert's own success.
Usage: python benchmarks/retarget.py [--hand inspire_hand_right] [--sequences 8] [--steps 600]
       [--noise 0.002] [--threads 1] [--device cpu|cuda] [--baseline-frames 2000] [--replay 3]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from dexego.hands.layout import FINGERTIPS, KEYPOINT_NAMES
from dexego.retarget import HandRetargetConfig, HandRetargeter
from dexego.retarget.learned import LearnedRetargeterConfig, train_learned_retargeter
from dexego.retarget.robots import load_robot
from dexego.retarget.urdf import export_urdf


def make_sequences(hand, sequences: int, steps: int, noise: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Targets (S, T, 21, 3) (fingertips only, NaN elsewhere) and the joints that made them (S, T, A)."""
    gen = torch.Generator().manual_seed(seed)
    t = torch.arange(steps, dtype=torch.float64)[:, None] / 30.0
    lower, upper = hand.lower.double(), hand.upper.double()
    joints = []
    for _ in range(sequences):
        phase = 0.5 * torch.ones(hand.num_joints, dtype=torch.float64)
        for _ in range(3):
            freq = 0.1 + 0.6 * torch.rand(hand.num_joints, generator=gen, dtype=torch.float64)
            shift = 2 * np.pi * torch.rand(hand.num_joints, generator=gen, dtype=torch.float64)
            phase = phase + 0.18 * torch.sin(2 * np.pi * freq * t + shift)
        joints.append(lower + (upper - lower) * phase.clamp(0, 1))
    q = torch.stack(joints)
    with torch.no_grad():
        tips = hand.fingertips(q.to(hand.dtype)).double()
    tips = tips + noise * torch.randn(tips.shape, generator=gen, dtype=torch.float64)
    targets = torch.full(q.shape[:-1] + (21, 3), float("nan"), dtype=torch.float64)
    targets[..., list(FINGERTIPS), :] = tips
    return targets, q


def fingertip_error(hand, joints: torch.Tensor, targets: torch.Tensor) -> float:
    with torch.no_grad():
        reached = hand.fingertips(joints.to(hand.dtype)).double()
    return float((reached - targets[..., list(FINGERTIPS), :]).norm(dim=-1).mean())


def timed(fn, repeat: int = 1):
    fn()  # warm-up
    start = time.perf_counter()
    for _ in range(repeat):
        out = fn()
    return out, (time.perf_counter() - start) / repeat


def online_frames(targets: torch.Tensor, max_frames: int) -> torch.Tensor:
    """The frames the per-frame methods get: the first max_frames // S of every sequence (S, T', 21, 3)."""
    seqs, steps = targets.shape[:2]
    return targets[:, : max(1, min(steps, max_frames // seqs))]


def run_dexego_online(
    retargeter: HandRetargeter, targets: torch.Tensor, device: str, chunk: int = 1
) -> tuple[float, torch.Tensor]:
    """``chunk`` frames per call, in order, each call warm-started from the previous call's last joints:
    frames/s and the joints (S, T', A)."""
    seqs, steps = targets.shape[:2]
    joints = torch.zeros(seqs, steps, retargeter.hand.num_joints, dtype=torch.float64)
    pieces = [[targets[s, t : t + chunk].to(device) for t in range(0, steps, chunk)] for s in range(seqs)]
    retargeter.retarget(pieces[0][0])  # warm-up (builds the grid)
    elapsed = 0.0
    for s in range(seqs):
        previous = None  # a fresh sequence
        start = time.perf_counter()
        for k, piece in enumerate(pieces[s]):
            result = retargeter.retarget(piece, previous=previous)
            joints[s, k * chunk : k * chunk + len(piece)] = result.joints.double().cpu()
            previous = result.joints[-1]
            if not bool(torch.isfinite(previous).all()):
                previous = None
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        elapsed += time.perf_counter() - start
    return seqs * steps / elapsed, joints


def run_dex_retargeting(hand, targets: torch.Tensor, kind: str, max_frames: int) -> tuple[float, float, int] | str:
    try:
        from dex_retargeting.retargeting_config import RetargetingConfig
    except Exception as exc:  # noqa: BLE001 - report why the baseline is missing
        return f"not available ({type(exc).__name__}: {exc}); pip install dex-retargeting==0.5.0 six"
    tips = [KEYPOINT_NAMES[k] for k in FINGERTIPS]
    with tempfile.TemporaryDirectory() as tmp:
        urdf = export_urdf(hand, Path(tmp) / f"{hand.name}.urdf")
        if kind == "position":
            cfg = dict(
                type="position", urdf_path=str(urdf), target_link_names=tips, target_link_human_indices=np.arange(5)
            )
        else:
            cfg = dict(
                type="vector",
                urdf_path=str(urdf),
                target_origin_link_names=["wrist_frame"] * 5,
                target_task_link_names=tips,
                target_link_human_indices=np.stack([np.zeros(5, dtype=int), np.arange(1, 6)]),
                scaling_factor=1.0,
            )
        cfg.update(target_joint_names=list(hand.joint_names), low_pass_alpha=-1)
        config = RetargetingConfig.from_dict(cfg)
        seqs, per_seq = online_frames(targets, max_frames).shape[:2]
        tip_targets = targets[:, :per_seq, list(FINGERTIPS)].numpy().astype(np.float32)
        names = None
        solutions = np.zeros((seqs, per_seq, hand.num_joints))
        elapsed = 0.0
        for s in range(seqs):
            retargeting = config.build()  # a fresh sequence: start from the middle of the limits
            names = retargeting.optimizer.robot.dof_joint_names
            columns = [names.index(n) for n in hand.joint_names]
            start = time.perf_counter()
            for t in range(per_seq):
                ref = (
                    tip_targets[s, t] if kind == "position" else tip_targets[s, t]
                )  # vectors from the wrist = positions
                qpos = retargeting.retarget(ref)
                solutions[s, t] = qpos[columns]
            elapsed += time.perf_counter() - start
    frames = seqs * per_seq
    error = fingertip_error(hand, torch.tensor(solutions), targets[:, :per_seq])
    return frames / elapsed, error, frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hand", default="inspire_hand_right")
    parser.add_argument("--sequences", type=int, default=8)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--noise", type=float, default=0.002, help="m, per coordinate")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--baseline-frames", type=int, default=2000, help="frames given to each dex-retargeting optimiser"
    )
    parser.add_argument("--mlp-steps", type=int, default=3000, help="0 skips the learned retargeter")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--replay", type=int, default=0, help="seeds per task for the replay of retargeted human demos (0: skip)"
    )
    parser.add_argument("--replay-only", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.replay:
        replay_report(args.replay)
        if args.replay_only:
            return

    robot = load_robot(args.hand)
    if len(robot.hands) != 1:
        raise SystemExit("--hand must name a single hand (e.g. inspire_hand_right)")
    hand = next(iter(robot.hands.values()))
    targets, _ = make_sequences(hand, args.sequences, args.steps, args.noise, args.seed)
    frames = targets.shape[0] * targets.shape[1]
    print(
        f"hand {hand.name}: {hand.num_joints} actuated joints, {len(hand.chain.joints)} joints; "
        f"{args.sequences} sequences x {args.steps} frames, noise {args.noise * 1000:.1f} mm; torch threads {args.threads}; device {args.device}"
    )
    print(f"load average at start (1, 5, 15 min): {load_average()} on {os.cpu_count()} CPUs")
    rows: list[tuple[str, float, float, int]] = []

    device_hand = hand.to(args.device)
    retargeter = HandRetargeter(device_hand)
    result, seconds = timed(lambda: retargeter.retarget(targets.to(args.device)))
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    rows.append(
        (
            "dexego-lm (all frames, one batch)",
            frames / seconds,
            fingertip_error(hand, result.joints.cpu(), targets),
            frames,
        )
    )
    one, seconds_one = timed(lambda: retargeter.retarget(targets[0].to(args.device)), repeat=3)
    rows.append(
        (
            "dexego-lm/seq (one sequence per call)",
            targets.shape[1] / seconds_one,
            fingertip_error(hand, one.joints.cpu(), targets[0]),
            targets.shape[1],
        )
    )
    online = online_frames(targets, args.baseline_frames)
    fps, joints = run_dexego_online(retargeter, online, args.device)
    rows.append(
        (
            "dexego-lm/online (per frame, warm start)",
            fps,
            fingertip_error(hand.to("cpu"), joints, online),
            online.shape[0] * online.shape[1],
        )
    )
    fps, joints = run_dexego_online(retargeter, online, args.device, chunk=30)
    rows.append(
        (
            "dexego-lm/chunk30 (30 frames/call, warm start)",
            fps,
            fingertip_error(hand.to("cpu"), joints, online),
            online.shape[0] * online.shape[1],
        )
    )
    hand = hand.to("cpu")

    # The per-frame baselines run right after dexego's per-frame rows, so that both see the same machine load.
    baselines, baseline_rows = {}, []
    for kind in ("position", "vector"):
        out = run_dex_retargeting(hand, targets, kind, args.baseline_frames)
        if isinstance(out, str):
            print(f"dex-retargeting {kind}: {out}")
            continue
        fps, error, count = out
        baselines[kind] = (fps, error)
        baseline_rows.append((f"dex-retargeting {kind} (per frame, warm start)", fps, error, count))

    if args.mlp_steps > 0:
        start = time.perf_counter()
        mlp, metrics = train_learned_retargeter(hand, LearnedRetargeterConfig(steps=args.mlp_steps, samples=100_000))
        train_seconds = time.perf_counter() - start
        tip_targets = targets[..., list(FINGERTIPS), :].float()
        guess, seconds = timed(lambda: mlp(tip_targets).detach(), repeat=3)
        rows.append(
            ("dexego-mlp (64-128-64 alone)", frames / seconds, fingertip_error(hand, guess.double(), targets), frames)
        )
        refine = HandRetargeter(hand, HandRetargetConfig(grid_candidates=0), initializer=mlp)
        refined, seconds = timed(lambda: refine.retarget(targets))
        rows.append(("dexego-mlp+lm", frames / seconds, fingertip_error(hand, refined.joints, targets), frames))
        fps, joints = run_dexego_online(HandRetargeter(hand, initializer=mlp), online, "cpu")
        rows.append(
            (
                "dexego-mlp+lm/online (per frame, warm start)",
                fps,
                fingertip_error(hand, joints, online),
                online.shape[0] * online.shape[1],
            )
        )
        print(
            f"MLP trained in {train_seconds:.0f} s: held-out FK samples mean fingertip error {metrics['fingertip_error_mean_m'] * 1000:.2f} mm"
        )

    rows.extend(baseline_rows)

    print(f"\n{'method':48s} {'frames/s':>12s} {'fingertip err (mm)':>19s} {'frames':>8s}")
    for name, fps, error, count in rows:
        print(f"{name:48s} {fps:12.0f} {error * 1000:19.3f} {count:8d}")
    print(f"load average at the end (1, 5, 15 min): {load_average()} on {os.cpu_count()} CPUs")
    by_name = {name.split(" ")[0]: (fps, error) for name, fps, error, _ in rows}
    batch_err = by_name["dexego-lm"][1]
    if "position" in baselines:
        fps_ref, err_ref = baselines["position"]
        ours_fps, ours_err = by_name["dexego-lm"]
        verdict = "meets" if ours_fps >= 20 * fps_ref and ours_err <= err_ref else "misses"
        print(
            f"dexego-lm batch (offline, not like for like) vs dex-retargeting position per frame: {ours_fps / fps_ref:.2f}x frames/s, "
            f"fingertip error {ours_err * 1000:.3f} vs {err_ref * 1000:.3f} mm -> {verdict} the target (>= 20x at equal or lower error)"
        )
        ours_fps, ours_err = by_name["dexego-lm/online"]
        verdict = "meets" if ours_fps >= fps_ref and ours_err <= batch_err + 0.0003 else "misses"
        print(
            f"dexego-lm/online per frame (like for like) vs dex-retargeting position per frame: {ours_fps / fps_ref:.2f}x frames/s, "
            f"fingertip error {ours_err * 1000:.3f} mm (dex-retargeting {err_ref * 1000:.3f}, dexego batch {batch_err * 1000:.3f}) "
            f"-> {verdict} the target (>= 1x, error <= batch + 0.3 mm)"
        )
    ours_fps, ours_err = by_name["dexego-lm/chunk30"]
    verdict = "meets" if ours_fps >= 3000 and ours_err <= batch_err + 0.0003 else "misses"
    print(
        f"dexego-lm/chunk30: {ours_fps:.0f} frames/s, fingertip error {ours_err * 1000:.3f} mm "
        f"-> {verdict} the target (>= 3,000 frames/s, error <= batch + 0.3 mm)"
    )


def load_average() -> str:
    try:
        return ", ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "unknown"


def replay_report(seeds: int) -> None:
    from dexego.retarget.replay import replay_task
    from dexego.sim.tasks import task_names

    print(f"replay of retargeted human expert demos on h1_inspire ({seeds} seeds per task, room 1 / table 1)")
    print(f"{'task':28s} {'human ok':>9s} {'robot ok (knuckles)':>20s} {'robot ok (wrist)':>17s} {'tip err (mm)':>13s}")
    totals = {"knuckles": 0, "wrist": 0}
    for task in task_names():
        human_ok, ok, err = 0, {"knuckles": 0, "wrist": 0}, []
        for seed in range(seeds):
            for anchor in ("knuckles", "wrist"):
                result = replay_task(task, seed, anchor=anchor)
                ok[anchor] += result.robot_success
                if anchor == "knuckles":
                    human_ok += result.human_success
                    err.append(result.fingertip_error_mm)
        for anchor in ok:
            totals[anchor] += ok[anchor]
        print(
            f"{task:28s} {human_ok:>6d}/{seeds} {ok['knuckles']:>17d}/{seeds} {ok['wrist']:>14d}/{seeds} {np.mean(err):13.1f}"
        )
    n = seeds * len(task_names())
    print(f"{'all':28s} {'':9s} {totals['knuckles']:>17d}/{n} {totals['wrist']:>14d}/{n}\n")


if __name__ == "__main__":
    main()
