"""Small deterministic policies and server helpers for the serve tests (loopback only)."""

from __future__ import annotations

import contextlib
import threading
import time

import numpy as np

from dexego.errors import InputError
from dexego.serve import PolicyServer, ServerConfig, ServerThread, dexego_observation_spec

HORIZON, DIM = 30, 48


class EchoPolicy:
    """Chunk = a known function of the observation, so every answer can be checked exactly."""

    def __init__(self, delay_s: float = 0.0):
        self.delay_s = delay_s
        self.calls = 0
        self._lock = threading.Lock()
        self.concurrent = 0
        self.max_concurrent = 0

    def predict_action_chunk(self, observation: dict) -> np.ndarray:
        with self._lock:
            self.calls += 1
            self.concurrent += 1
            self.max_concurrent = max(self.max_concurrent, self.concurrent)
        try:
            if self.delay_s:
                time.sleep(self.delay_s)
            if observation.get("instruction") == "boom":
                raise RuntimeError("the policy exploded on purpose")
            if observation.get("instruction") == "refuse me":
                raise InputError(None, "instruction", "this policy refuses 'refuse me'")
            return expected_chunk(observation)
        finally:
            with self._lock:
                self.concurrent -= 1


def expected_chunk(observation: dict) -> np.ndarray:
    state = np.asarray(observation.get("state", np.zeros(DIM)), dtype=np.float64).reshape(-1)
    image_term = float(np.asarray(observation["images"], dtype=np.float64).mean()) / 255.0
    steps = np.arange(HORIZON, dtype=np.float64)[:, None]
    chunk = 0.9 * state[None, :] + 0.01 * steps * np.sin(np.arange(DIM) + len(observation["instruction"])) + image_term
    return chunk.astype(np.float32)


def make_observation(seed: int = 0, size: int = 16, instruction: str = "pick up the can") -> dict:
    rng = np.random.default_rng(seed)
    return {
        "images": rng.integers(0, 256, (6, 3, size, size), dtype=np.uint8),
        "image_mask": np.ones(6, dtype=bool),
        "instruction": instruction,
        "state": rng.normal(size=DIM).astype(np.float32),
        "state_valid": np.ones(2, dtype=bool),
        "fov": np.array([1.2, 0.9], dtype=np.float32),
    }


def start_server(policy=None, **config) -> tuple[ServerThread, EchoPolicy]:
    policy = policy or EchoPolicy()
    config.setdefault("port", 0)
    server = PolicyServer(
        policy,
        ServerConfig(**config),
        metadata={"action_space": "ego48", "horizon": HORIZON},
        observation_spec=dexego_observation_spec(action_dim=DIM),
    )
    return ServerThread(server), policy


class BatchEchoPolicy(EchoPolicy):
    """EchoPolicy that also takes batched observations (arrays with a leading B, a list of instructions), as a
    dexego Policy does; records the batch sizes it saw."""

    def __init__(self, delay_s: float = 0.0):
        super().__init__(delay_s)
        self.batch_sizes: list[int] = []

    def predict_action_chunk(self, observation: dict) -> np.ndarray:
        if isinstance(observation["instruction"], str):
            self.batch_sizes.append(1)
            return super().predict_action_chunk(observation)
        size = len(observation["instruction"])
        self.batch_sizes.append(size)
        singles = [
            {k: (v[b] if isinstance(v, (np.ndarray, list)) else v) for k, v in observation.items()} for b in range(size)
        ]
        if any(single["instruction"] == "refuse me" for single in singles):
            raise InputError(None, "instruction", "this policy refuses 'refuse me'")
        chunks = [expected_chunk(single) for single in singles]
        with self._lock:
            self.calls += 1
            self.concurrent += 1
            self.max_concurrent = max(self.max_concurrent, self.concurrent)
        try:
            time.sleep(self.delay_s)
            return np.stack(chunks)
        finally:
            with self._lock:
                self.concurrent -= 1


def expected_plan(observation: dict) -> str:
    return f"reach, then {observation['instruction']}"


class PlanEchoPolicy(BatchEchoPolicy):
    """A BatchEchoPolicy that reasons before acting: it describes itself so and returns (chunk, plan) when asked,
    as a dexego Policy with ``model.tokens.reasoning`` does; ``plan_type`` breaks the plan on purpose."""

    def __init__(self, delay_s: float = 0.0, plan_type=str):
        super().__init__(delay_s)
        self.plan_type = plan_type

    def describe(self) -> dict:
        return {"policy": "PlanEchoPolicy", "action_space": "ego48", "horizon": HORIZON, "reasoning": True}

    def predict_action_chunk(self, observation: dict, return_plan: bool = False):
        chunk = super().predict_action_chunk(observation)
        if not return_plan:
            return chunk
        instructions = observation["instruction"]
        if isinstance(instructions, str):
            return chunk, self.plan_type(expected_plan(observation))
        return chunk, [expected_plan({"instruction": text}) for text in instructions]


def policy_observation(step: int) -> dict:
    """An observation a real dexego Policy (32 px frames, 48-d state) takes, drawn from ``step``."""
    rng = np.random.default_rng(step)
    return {
        "images": rng.integers(0, 256, (6, 3, 32, 32), dtype=np.uint8),
        "instruction": "open the drawer",
        "state": rng.normal(scale=0.1, size=48).astype(np.float32),
        "state_valid": np.array([True, False]),
        "fov": np.array([1.1, 0.9], dtype=np.float32),
    }


@contextlib.contextmanager
def serve_through_cli(checkpoint, *args: str):
    """``dexego serve CHECKPOINT --port 0 ARGS`` as the CLI builds the server, run in a thread on a free
    loopback port (the CLI's blocking loop replaced by the thread); yields the ServerThread handle."""
    import dexego.serve
    from dexego.cli import main

    built = {}
    original = dexego.serve.run_server
    dexego.serve.run_server = lambda server, on_ready: built.update(server=server)
    try:
        assert main(["serve", str(checkpoint), "--port", "0", *args]) == 0
    finally:
        dexego.serve.run_server = original
    with ServerThread(built["server"]) as handle:
        yield handle


def in_client_threads(url: str, count: int, steps: int, call, barrier: bool = True, timeout_s: float = 60.0):
    """``count`` dexego PolicyClients, each in a thread of its own (started together behind a barrier unless
    ``barrier`` is false), each making ``steps`` calls ``call(client, index, step)``.

    Returns ``(answers, failures)``: ``answers[index, step]`` is what ``call`` returned; a call that raised ends
    its client with ``(index, step, message)`` in ``failures`` (a ServerError's own message, else its repr)."""
    from dexego.serve import ClientConfig, PolicyClient, ServerError

    answers, failures = {}, []
    gate = threading.Barrier(count) if barrier else None

    def worker(index):
        step = -1
        try:
            with PolicyClient(url, ClientConfig(retries=0)) as client:
                if gate is not None:
                    gate.wait(10)
                for step in range(steps):
                    answers[index, step] = call(client, index, step)
        except ServerError as exc:
            failures.append((index, step, str(exc)))
        except Exception as exc:  # reported to the test
            failures.append((index, step, repr(exc)))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout_s)
    return answers, failures
