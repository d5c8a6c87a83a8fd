"""`dexego sim`: The MuJoCo humanoid dexterous manipulation benchmark: tasks, demonstrations, evaluation."""

from __future__ import annotations

import argparse

from dexego.cli import add_group


def register(subparsers: argparse._SubParsersAction) -> None:
    group = add_group(
        subparsers, "sim", "The MuJoCo humanoid dexterous manipulation benchmark: tasks, demonstrations, evaluation."
    )

    p = group.add_parser(
        "list", help="List the benchmark tasks and the human-only tasks with their instructions and horizons."
    )
    p.set_defaults(handler=_list)

    p = group.add_parser("eval", help="Evaluate a policy (SR/PSR) with the benchmark protocol.")
    p.add_argument(
        "--policy",
        default="expert",
        help="'expert' (scripted experts), a training run, checkpoint or policy folder (see docs/serve.md), or ws://HOST:PORT",
    )
    p.add_argument("--tasks", default="all", help="comma-separated task names, or 'all'")
    p.add_argument(
        "--split",
        default="seen",
        help="robot looks (seen, 27 rollouts/task), human looks (human, 26) or evaluation-only looks (unseen, 27)",
    )
    p.add_argument("--episodes", type=int, default=None, help="rollouts per task (default: the protocol's)")
    p.add_argument("--workers", type=int, default=1, help="processes running rollouts in parallel")
    p.add_argument("--seed", type=int, default=0, help="base seed of the protocol")
    p.add_argument("--image-size", type=int, default=224, help="camera image size in pixels (square)")
    p.add_argument("--horizon", type=int, default=0, help="control steps per rollout (default 0: the task's own)")
    p.add_argument(
        "--query-every", type=int, default=4, help="model policies: control steps between chunk queries (EgoVLA: 1)"
    )
    p.add_argument(
        "--mano-dir",
        default="",
        help="folder with MANO_LEFT.pkl / MANO_RIGHT.pkl: needed to run a policy that predicts the 'mano' action space",
    )
    p.add_argument(
        "--videos",
        default=None,
        help="write rollout videos into this folder (model policies: each predicted chunk drawn on the frames)",
    )
    p.add_argument("--out", required=True, help="results JSON (a Markdown table is written next to it)")
    p.set_defaults(handler=_eval)

    p = group.add_parser(
        "demos", help="Record scripted-expert demonstrations (robot, or synthetic egocentric human) into a dataset."
    )
    p.add_argument("--task", required=True, help="a benchmark task, or (with --embodiment human) a human-only task")
    p.add_argument(
        "--embodiment",
        default="robot",
        choices=("robot", "human"),
        help="robot: the humanoid (robot state/action); human: human hands filmed by a moving head camera",
    )
    p.add_argument(
        "--episodes",
        type=int,
        default=100,
        help="successful episodes of this task the dataset should hold (those already there count)",
    )
    p.add_argument(
        "--out",
        required=True,
        help="dataset folder (created, or continued: it may hold other tasks of the same embodiment)",
    )
    p.add_argument("--workers", type=int, default=1, help="processes recording episodes in parallel")
    p.add_argument("--seed", type=int, default=0, help="base seed: attempt i of a task uses seed * 1000000 + i")
    p.add_argument(
        "--image-size", type=int, default=224, help="camera image size in pixels (square); 64 for the CPU configs"
    )
    p.set_defaults(handler=_demos)


def _list(args: argparse.Namespace) -> int:
    from dexego.sim.human_tasks import all_task_names, get_any_task, is_human_only

    for name in all_task_names():
        t = get_any_task(name)
        kind = "long" if t.long_horizon else "short"
        who = "human-only" if is_human_only(name) else "benchmark"
        print(
            f'{name:24s} {kind:5s} {who:10s} horizon {t.horizon:4d}  subtasks {",".join(t.subtasks):28s} "{t.instruction}"'
        )
    return 0


def _eval(args: argparse.Namespace) -> int:
    from dexego.errors import ConfigError
    from dexego.sim.evaluation import ExpertFactory, evaluate, markdown_table, resolve_tasks, write_results
    from dexego.utils.progress import ProgressCallback

    tasks = resolve_tasks(args.tasks)
    if args.horizon < 0:
        raise ConfigError(f"--horizon must be >= 0, got {args.horizon}")
    if args.policy.startswith(("ws://", "wss://")):
        from dexego.serve.client import check_url

        check_url(args.policy)  # a malformed address fails here, not inside a worker
    if args.policy == "expert":
        factory, name = ExpertFactory(), "expert"
    else:  # model policies reach the simulator through an adapter in dexego.evaluate
        from dexego.evaluate.sim_policy import CheckpointPolicyFactory, SimPolicyConfig

        factory, name = (
            CheckpointPolicyFactory(
                args.policy,
                SimPolicyConfig(query_every=args.query_every, overlay=args.videos is not None, mano_dir=args.mano_dir),
            ),
            args.policy,
        )
    results = evaluate(
        factory, tasks, args.split, episodes=args.episodes, workers=args.workers, base_seed=args.seed,
        video_dir=args.videos, env_overrides={"image_size": args.image_size, "horizon": args.horizon},
        progress=ProgressCallback("sim eval", "rollouts"),
        policy_name=name,
    )  # fmt: skip
    if hasattr(factory, "describe"):
        results["adapter"] = factory.describe()
    out, md = write_results(results, args.out)
    print(markdown_table(results), end="")
    print(f"wrote {out} and {md}")
    return 0


def _demos(args: argparse.Namespace) -> int:
    from dexego.sim.demos import record_demos
    from dexego.utils.progress import ProgressCallback

    summary = record_demos(
        args.task, args.episodes, args.out, workers=args.workers, seed=args.seed, image_size=args.image_size,
        progress=ProgressCallback(f"sim demos {args.task}", "episodes"), embodiment=args.embodiment,
    )  # fmt: skip
    head = f"{summary['task']} ({summary['embodiment']}, seed {summary['seed']})"
    if summary["attempts"] == 0:
        print(
            f"{head}: {args.out} already holds {summary['skipped_existing']} episodes of this task; nothing to record"
        )
    else:
        print(
            f"{head}: wrote {summary['written']} episodes to {args.out} (expert yield {summary['yield']:.3f} over "
            f"{summary['attempts']} attempts from attempt {summary['first_attempt']}, {summary['skipped_existing']} already there)"
        )
    return 0
