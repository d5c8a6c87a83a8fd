"""Render the README's overview picture: the same task seen by the robot and by the human embodiment.

Each panel is a frame from the head camera with the right wrist's next second drawn on it (the
30-step future chunk a policy predicts, here the scripted expert's ground truth).

    MUJOCO_GL=egl python docs/make_figures.py   # writes docs/images/overview.png
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from dexego.actions import keypoints_to_action
from dexego.drawing.overlay import overlay_chunk
from dexego.sim.demos import run_expert_episode
from dexego.sim.human_demos import run_human_episode

TASK, SEED, ROOM, TABLE, SIZE, HORIZON = "Stack-Can", 3, 1, 1, 320, 30


def panel(rollout: dict, frame_index: int, title: str) -> Image.Image:
    t = frame_index
    valid = np.asarray(rollout.get("hand_valid", np.ones((len(rollout["keypoints_world"]), 2), bool)))
    future = rollout["keypoints_world"][t + 1 : t + 1 + HORIZON]
    chunk = keypoints_to_action(future, rollout["world_from_camera"][t], valid=valid[t + 1 : t + 1 + HORIZON])
    image = overlay_chunk(
        rollout["frames"][t], rollout["intrinsics"], target=chunk, valid=valid[t + 1 : t + 1 + HORIZON]
    )
    out = Image.fromarray(image)
    ImageDraw.Draw(out).text((8, out.height - 16), title, fill=(255, 255, 255))
    return out


def main(out: Path = Path(__file__).parent / "images" / "overview.png") -> Path:
    robot = run_expert_episode(TASK, SEED, ROOM, TABLE, render=True, image_size=SIZE)
    human = run_human_episode(TASK, SEED, ROOM, TABLE, render=True, image_size=SIZE)
    panels = [
        panel(robot, len(robot["frames"]) // 5, "robot: Inspire-like hands (ego camera)"),
        panel(human, len(human["frames"]) // 5, "human embodiment: same task, moving head"),
    ]
    canvas = Image.new("RGB", (sum(p.width for p in panels) + 8, max(p.height for p in panels)), (255, 255, 255))
    x = 0
    for p in panels:
        canvas.paste(p, (x, 0))
        x += p.width + 8
    out.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(out)
    return out


if __name__ == "__main__":
    print(main())
