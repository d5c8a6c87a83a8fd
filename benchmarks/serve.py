"""Policy server: latency and throughput, batched against unbatched, and a good client's latency under a flood.

Everything runs in one invocation, on loopback only, each loop bounded by a request count and a time limit:

1. Baseline: ``predict_action_chunk`` in-process on the same observations.
2. The same policy behind ``PolicyServer`` driven by 1, 4 and 16 concurrent ``PolicyClient`` threads, first
   unbatched (``max_batch=1``, one forward pass per request: the server as it was), then batched
   (``max_batch=16``: requests that wait while a pass runs are stacked into the next one).
3. Flood: a good client's latency alone (idle) and while a separate process keeps 100 unauthenticated
   connections busy (wrong API keys, garbage bytes, handshakes left half-sent), the server requiring a key.

Clients and flood run in processes of their own (the flood at nice 10), so that their work does not share the
server's interpreter; on a small shared machine they still share its cores, so state the load average.

The synthetic policy models a network whose forward pass costs about the same for 1 or for a batch of 16
observations (``--work-ms`` per pass, as on an accelerator below saturation: by default a wait, during which the
host CPU is free as it is while a GPU computes; ``--work cpu`` spends it in numpy instead) plus a little
per-observation work (each observation's frames pooled on a subsampled grid). A compute-bound CPU model gains far
less from batching: ``--checkpoint runs/NAME`` measures a real dexego Policy the same way.

    .venv/bin/python benchmarks/serve.py [--image-size 224] [--requests 40] [--work-ms 5]
    .venv/bin/python benchmarks/serve.py --checkpoint runs/my_policy   # a real dexego Policy
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import sys
import threading
import time

# One BLAS thread: on a shared machine, multi-threaded BLAS turns other processes' load into noise.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

from dexego.serve import ClientConfig, PolicyClient, PolicyServer, ServerConfig, ServerThread, codec  # noqa: E402

KEY = "benchmark-key"


class SyntheticPolicy:
    """Deterministic stand-in: per observation its images are pooled; then one fixed cost per forward pass (about
    ``work_ms``, whatever the batch size) and a matmul to the chunk. Takes batched observations.

    ``work="wait"``: the fixed cost is a wait, as when an accelerator computes while the host thread waits for it
    (immune to the load of a shared machine); ``work="cpu"``: a calibrated numpy computation on the host."""

    def __init__(self, work_ms: float, horizon: int = 30, dim: int = 48, work: str = "wait"):
        rng = np.random.default_rng(0)
        self.horizon, self.dim, self.work_kind, self.work_ms = horizon, dim, work, work_ms
        self.head = rng.normal(size=(64, horizon * dim)).astype(np.float32)
        self.work = rng.normal(size=(256, 256)).astype(np.float32)
        # Calibrate the fixed computation alone; the fastest of several trials, as other processes only ever slow a
        # trial down (so under load a pass takes at least work_ms).
        per_repeat = min(self._fixed_work(20)[1] / 20 for _ in range(7))
        self.repeats = max(1, round(work_ms / 1000 / per_repeat))

    def _fixed_work(self, repeats: int) -> tuple[np.ndarray, float]:
        start = time.perf_counter()
        x = self.work
        for _ in range(repeats):
            x = np.tanh(x @ self.work * 0.01)
        return x, time.perf_counter() - start

    def predict_action_chunk(self, observation: dict) -> np.ndarray:
        images = np.asarray(observation["images"])
        batched = images.ndim == 5
        images = images if batched else images[None]
        # per observation: its frames pooled on an 8x8-subsampled grid (a network's own downsampling, cheap)
        features = np.stack(
            [np.resize(im[..., ::8, ::8].reshape(im.shape[0], -1).mean(axis=1), 64) / 255.0 for im in images]
        )
        if self.work_kind == "wait":
            time.sleep(self.work_ms / 1000)
            x = self.work
        else:
            x, _ = self._fixed_work(self.repeats)
        out = ((features + 0.0 * x[0, :64]) @ self.head).reshape(len(images), self.horizon, self.dim)
        return out if batched else out[0]


def make_observation(image_size: int, dim: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "images": rng.integers(0, 256, (6, 3, image_size, image_size), dtype=np.uint8),
        "image_mask": np.ones(6, dtype=bool),
        "instruction": "put the can on the saucer",
        "state": (0.1 * rng.normal(size=dim)).astype(np.float32),
        "state_valid": np.ones(2, dtype=bool),
        "fov": np.array([1.2, 1.2], dtype=np.float32),
    }


def summarise(latencies_s: list[float], wall_s: float) -> dict[str, float]:
    ms = sorted(1000 * x for x in latencies_s)
    pick = lambda q: ms[min(len(ms) - 1, int(q * len(ms)))]  # noqa: E731
    return {
        "n": len(ms),
        "p50": statistics.median(ms),
        "p95": pick(0.95),
        "p99": pick(0.99),
        "throughput": len(ms) / wall_s,
    }


def run_in_process(policy, observations, requests: int, time_limit_s: float) -> dict[str, float]:
    policy.predict_action_chunk(observations[0])  # warm-up
    latencies = []
    start = time.perf_counter()
    for i in range(requests):
        if time.perf_counter() - start > time_limit_s:
            break
        t = time.perf_counter()
        policy.predict_action_chunk(observations[i % len(observations)])
        latencies.append(time.perf_counter() - t)
    return summarise(latencies, time.perf_counter() - start)


def _client_process(url, image_size, dim, clients, requests, time_limit_s, api_key, result) -> None:
    """``clients`` PolicyClient threads in this (separate) process; puts (latencies in s, wall time) on ``result``."""
    observations = [make_observation(image_size, dim, seed) for seed in range(4)]
    latencies: list[float] = []
    lock = threading.Lock()
    connected = [PolicyClient(url, ClientConfig(api_key=api_key, response_timeout_s=60)) for _ in range(clients)]
    for client in connected:
        client.predict_action_chunk(observations[0])  # warm-up
    barrier = threading.Barrier(clients + 1)
    deadline: list[float] = []

    def worker(index: int, client: PolicyClient) -> None:
        mine = []
        barrier.wait()
        for i in range(requests):
            if time.perf_counter() > deadline[0]:
                break
            t = time.perf_counter()
            client.predict_action_chunk(observations[(index + i) % len(observations)])
            mine.append(time.perf_counter() - t)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker, args=(i, c)) for i, c in enumerate(connected)]
    for t in threads:
        t.start()
    deadline.append(time.perf_counter() + time_limit_s)
    start = time.perf_counter()
    barrier.wait()
    for t in threads:
        t.join(time_limit_s + 120)
    wall = time.perf_counter() - start
    for client in connected:
        client.close()
    result.put((latencies, wall))


def run_clients(url: str, image_size: int, dim: int, clients: int, requests: int, time_limit_s: float,
                api_key: str | None = None) -> tuple[list[float], float]:  # fmt: skip
    """The clients run in their own process, so that their encoding does not share the server's interpreter."""
    context = multiprocessing.get_context("spawn")
    result = context.Queue()
    process = context.Process(target=_client_process, daemon=True,
                              args=(url, image_size, dim, clients, requests, time_limit_s, api_key, result))  # fmt: skip
    process.start()
    latencies, wall = result.get(timeout=time_limit_s + 300)
    process.join(30)
    return latencies, wall


# --- the flood: a separate process, so that its own work does not share the server's interpreter ---


async def _flood_connection(port: int, kind: int, deadline: float, counts: list[int]) -> None:
    requests = [
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: "
        b"dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nAuthorization: Api-Key wrong\r\n\r\n",  # 401
        b"\x16\x03\x01\x02\x00 not http at all\r\n\r\n" + os.urandom(2048),  # garbage
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n",  # a handshake left half-sent (the server's open timeout ends it)
    ]
    while time.monotonic() < deadline:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 5)
        except (OSError, TimeoutError):
            await asyncio.sleep(0.01)
            continue
        try:
            writer.write(requests[kind % len(requests)])
            await writer.drain()
            if kind % len(requests) == 2:
                await asyncio.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
            else:
                await asyncio.wait_for(reader.read(4096), 5)
            counts[kind % len(requests)] += 1
        except (OSError, TimeoutError):
            pass
        finally:
            writer.close()


def flood(port: int, connections: int, seconds: float, result: multiprocessing.Queue) -> None:
    """``connections`` concurrent unauthenticated connections against ``port`` for ``seconds``.

    At nice 10: an attacker elsewhere on the network would not take the server machine's CPU; on one shared
    machine the flood process would otherwise slow the server down by competing for cores, not by what it sends."""
    os.nice(10)
    counts = [0, 0, 0]

    async def main() -> None:
        deadline = time.monotonic() + seconds
        await asyncio.gather(*(_flood_connection(port, i, deadline, counts) for i in range(connections)))

    asyncio.run(main())
    result.put(counts)


def run_flood(policy, image_size: int, dim: int, requests: int, connections: int, time_limit_s: float,
              max_batch: int) -> tuple:  # fmt: skip
    config = ServerConfig(port=0, api_key=KEY, max_batch=max_batch, open_timeout_s=2.0)
    with ServerThread(PolicyServer(policy, config)) as handle:
        idle = summarise(*run_clients(handle.url, image_size, dim, 1, requests, time_limit_s, api_key=KEY))
        context = multiprocessing.get_context("spawn")
        result = context.Queue()
        flooder = context.Process(target=flood, args=(handle.port, connections, time_limit_s + 30, result), daemon=True)
        flooder.start()
        time.sleep(3.0)  # the flood process starts (imports) and reaches its full rate
        flooded = summarise(*run_clients(handle.url, image_size, dim, 1, requests, time_limit_s, api_key=KEY))
        flooder.terminate()
        flooder.join(10)
        rejected = handle.server.requests_rejected
    return idle, flooded, rejected


def _row(label: str, r: dict, base_p50: float | None = None) -> str:
    overhead = "-" if base_p50 is None else f"{r['p50'] - base_p50:.2f}"
    return f"{label:<30}{r['n']:>9}{r['p50']:>10.2f}{r['p95']:>10.2f}{r['p99']:>10.2f}{r['throughput']:>10.1f}{overhead:>17}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument(
        "--requests", type=int, default=30, help="requests per client per round (and 4x that in-process)"
    )
    parser.add_argument("--work-ms", type=float, default=5.0, help="cost of a forward pass of the synthetic policy")
    parser.add_argument(
        "--work",
        choices=("wait", "cpu"),
        default="wait",
        help="the pass as a wait (an accelerator computing) or as numpy work on the host CPU",
    )
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--max-batch", type=int, default=16)
    parser.add_argument("--batch-wait-ms", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3, help="alternating unbatched/batched rounds per client count")
    parser.add_argument("--flood-connections", type=int, default=100)
    parser.add_argument(
        "--flood-requests", type=int, default=200, help="the good client's requests, idle and under flood"
    )
    parser.add_argument("--time-limit", type=float, default=60.0, help="seconds per configuration at most")
    parser.add_argument("--checkpoint", default=None, help="serve a real dexego Policy instead of the synthetic one")
    args = parser.parse_args(argv)

    if args.checkpoint:
        from dexego.serve.loading import load_policy, policy_info

        policy = load_policy(args.checkpoint)
        dim = policy_info(policy).get("action_dim", 48)
        label = f"{type(policy).__name__} from {args.checkpoint}"
    else:
        policy, dim = SyntheticPolicy(args.work_ms, work=args.work), 48
        kind = "waited, as for an accelerator" if args.work == "wait" else "numpy on the host CPU"
        label = f"synthetic policy ({args.work_ms:g} ms per forward pass {kind}, whatever the batch size)"
    observations = [make_observation(args.image_size, dim, seed) for seed in range(4)]
    payload_kb = len(codec.packb(observations[0])) / 1024
    load_start = os.getloadavg()

    print(f"dexego serve benchmark: {label}; observation {payload_kb:.0f} KiB "
          f"(6 x 3 x {args.image_size}^2 uint8 images); loopback 127.0.0.1; {os.cpu_count()} CPUs")  # fmt: skip
    print(f"load average at start (1/5/15 min): {' / '.join(f'{x:.2f}' for x in load_start)}")
    print(f"{'mode':<30}{'requests':>9}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}{'req/s':>10}{'p50 overhead ms':>17}")
    base = run_in_process(policy, observations, args.requests * 4, args.time_limit)
    print(_row("in-process (baseline)", base))
    # Both servers run side by side and each client count alternates between them, round after round, so that
    # the machine's changing load falls on both alike; throughput: median over rounds; latencies: all rounds pooled.
    modes = {1: "unbatched", args.max_batch: f"batched (<= {args.max_batch}, {args.batch_wait_ms:g} ms)"}
    servers = {
        max_batch: PolicyServer(policy, ServerConfig(port=0, max_batch=max_batch, batch_wait_ms=args.batch_wait_ms,
                                                     max_clients=max(32, max(args.clients))), metadata={"action_dim": dim})
        for max_batch in modes
    }  # fmt: skip
    handles = {max_batch: ServerThread(server) for max_batch, server in servers.items()}
    results: dict[tuple[int, int], dict] = {}
    try:
        for clients in args.clients:
            rounds: dict[int, list] = {max_batch: [] for max_batch in modes}
            for _ in range(args.rounds):
                for max_batch in modes:
                    rounds[max_batch].append(
                        run_clients(
                            handles[max_batch].url, args.image_size, dim, clients, args.requests, args.time_limit
                        )
                    )
            for max_batch, label in modes.items():
                r = summarise([x for latencies, _ in rounds[max_batch] for x in latencies], 1.0)
                r["throughput"] = statistics.median(len(latencies) / wall for latencies, wall in rounds[max_batch])
                results[max_batch, clients] = r
                print(_row(f"{label}, {clients} client(s)", r, base["p50"]))
    finally:
        for handle in handles.values():
            handle.close()
    batched = servers[args.max_batch]
    print(f"  batched server: {batched.batches_run} forward passes for {batched.requests_served} requests, "
          f"largest batch {batched.largest_batch}; {args.rounds} alternating rounds per client count")  # fmt: skip
    print("batched against unbatched, same run:")
    for clients in args.clients:
        b, u = results[args.max_batch, clients], results[1, clients]
        print(f"  {clients:>2} client(s): throughput x{b['throughput'] / u['throughput']:.2f} "
              f"({u['throughput']:.1f} -> {b['throughput']:.1f} req/s), p50 {u['p50']:.2f} -> {b['p50']:.2f} ms")  # fmt: skip

    print(f"flood: one good client (API key), alone and while {args.flood_connections} unauthenticated connections "
          f"(wrong keys, garbage, half-sent handshakes) hammer the server from another process; batched server")  # fmt: skip
    idle, flooded, rejected = run_flood(policy, args.image_size, dim, args.flood_requests, args.flood_connections,
                                        args.time_limit, args.max_batch)  # fmt: skip
    print(_row("good client, idle", idle))
    print(_row("good client, under flood", flooded))
    print(f"  p50 x{flooded['p50'] / idle['p50']:.2f}, p99 x{flooded['p99'] / idle['p99']:.2f} of idle "
          f"(goal: p99 within 3x); {rejected} unauthenticated handshakes refused with 401 during the flood")  # fmt: skip
    print(f"load average at end (1/5/15 min): {' / '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
