"""Instructions for atomic segments from a vision-language model (VITRA).

The captioner is shown 8 frames of a segment with the palm's path drawn on
them (where the hand goes next) and asked for a short imperative
instruction. Any OpenAI-compatible chat endpoint works (a hosted model or a
local server such as vLLM); the API key is read from an environment
variable, never from a config file. Without an endpoint, segments are
marked uncaptioned rather than given invented text: such a segment takes the
video's task text when its metadata has one (``"task"`` in the video's
``.json``, or ``caption.task`` for every video), otherwise an empty text, so
that no placeholder reaches training. An empty instruction means "no language
conditioning" to every reader: the sample still counts for the action loss.
"""

from __future__ import annotations

import base64
import io
import json
import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from dexego.data.episode import NO_INSTRUCTION
from dexego.drawing.overlay import Trajectory, draw_trajectories
from dexego.errors import DexegoError
from dexego.geometry import Intrinsics, apply_transform, invert_transform

UNCAPTIONED = NO_INSTRUCTION  # the text of a segment nobody described: no language conditioning
NUM_FRAMES = 8
PROMPT = (
    "These {n} frames come from an egocentric video of a person's {hands}, in time order. "
    "The coloured line shows where the {side_palm} moves next. "
    "Describe the action in one short imperative instruction for a robot (at most 12 words), "
    "e.g. 'Pick up the red cup and place it on the tray'. Answer with the instruction only."
)


@dataclass(frozen=True)
class Caption:
    text: str
    captioned: bool  # False: a placeholder, not a description


class Captioner(Protocol):
    def caption(self, frames: list[np.ndarray], side: str) -> Caption: ...


@dataclass(frozen=True)
class CaptionConfig:
    endpoint: str | None = None  # base URL, e.g. http://127.0.0.1:8000/v1
    model: str = "default"
    api_key_env: str = "DEXEGO_CAPTION_API_KEY"
    timeout_s: float = 60.0
    retries: int = 2
    max_words: int = 20
    task: str = ""  # text for segments that get no caption (a video's own "task" metadata takes precedence)


class OfflineCaptioner:
    """Marks every segment as uncaptioned (so it can be captioned later, or filtered out)."""

    def caption(self, frames: list[np.ndarray], side: str) -> Caption:
        return Caption(UNCAPTIONED, captioned=False)


class ChatCaptioner:
    """Captions through an OpenAI-compatible ``/chat/completions`` endpoint."""

    def __init__(self, config: CaptionConfig):
        if not config.endpoint:
            raise DexegoError("captioning needs an endpoint (caption.endpoint); use the offline captioner otherwise")
        self.config = config
        self.url = config.endpoint.rstrip("/") + "/chat/completions"

    def request_body(self, frames: list[np.ndarray], side: str) -> dict:
        hands = "two hands" if side == "both" else f"{side} hand"
        side_palm = "palms" if side == "both" else f"{side} palm"
        content: list[dict] = [{"type": "text", "text": PROMPT.format(n=len(frames), hands=hands, side_palm=side_palm)}]
        for frame in frames:
            content.append({"type": "image_url", "image_url": {"url": "data:image/jpeg;base64," + _jpeg_base64(frame)}})
        return {
            "model": self.config.model,
            "messages": [{"role": "user", "content": content}],
            "temperature": 0.2,
            "max_tokens": 64,
        }

    def caption(self, frames: list[np.ndarray], side: str) -> Caption:
        body = json.dumps(self.request_body(frames, side)).encode()
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.config.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        last_error = ""
        for attempt in range(self.config.retries + 1):
            request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.config.timeout_s) as response:
                    reply = json.loads(response.read())
                return Caption(self._clean(reply["choices"][0]["message"]["content"]), captioned=True)
            except urllib.error.HTTPError as exc:
                last_error = f"HTTP {exc.code}"
                if exc.code < 500 and exc.code != 429:
                    break  # a client error will not go away on retry
            except (urllib.error.URLError, TimeoutError, OSError) as exc:
                last_error = str(exc)
            except (KeyError, IndexError, TypeError, json.JSONDecodeError) as exc:
                last_error = f"malformed reply: {exc!r}"
                break
            time.sleep(min(2.0**attempt, 10.0))
        raise DexegoError(f"captioning endpoint {self.url} failed: {last_error}")

    def _clean(self, text: str) -> str:
        words = str(text).strip().strip("\"'").split()
        if not words:
            raise KeyError("empty caption")
        return " ".join(words[: self.config.max_words]).rstrip(".") + "."


def make_captioner(config: CaptionConfig) -> Captioner:
    return ChatCaptioner(config) if config.endpoint else OfflineCaptioner()


def caption_frames(
    frames: np.ndarray,
    palms_world: np.ndarray,
    palm_valid: np.ndarray,
    world_from_camera: np.ndarray,
    intrinsics: Intrinsics | np.ndarray,
    num_frames: int = NUM_FRAMES,
) -> list[np.ndarray]:
    """``num_frames`` evenly spaced frames of a segment, each with the palm's remaining path drawn on it.

    ``frames`` (T, H, W, 3); ``palms_world`` (T, P, 3) palm positions of the P
    hands shown; ``palm_valid`` (T, P); ``world_from_camera`` (T, 4, 4);
    ``intrinsics`` one :class:`Intrinsics` or (T, 4).
    """
    n = len(frames)
    picks = np.unique(np.linspace(0, n - 1, num_frames).round().astype(int))
    colors = [(255, 80, 40), (40, 160, 255)]
    out = []
    for t in picks:
        k = intrinsics if isinstance(intrinsics, Intrinsics) else np.asarray(intrinsics)[t]
        camera_from_world = invert_transform(world_from_camera[t])
        paths = [
            Trajectory(apply_transform(camera_from_world, palms_world[t:, p]), colors[p % 2], 3, palm_valid[t:, p])
            for p in range(palms_world.shape[1])
        ]
        out.append(draw_trajectories(frames[t], paths, k))
    return out


def _jpeg_base64(frame: np.ndarray) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.asarray(frame, dtype=np.uint8)).save(buffer, format="JPEG", quality=85)
    return base64.b64encode(buffer.getvalue()).decode()
