"""`dexego serve CHECKPOINT`: serve a trained policy over the openpi websocket protocol."""

from __future__ import annotations

import argparse
import os

API_KEY_ENV = "DEXEGO_API_KEY"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="Serve a policy over the websocket protocol.",
        description="Serve a trained policy over openpi's websocket + msgpack-numpy protocol (docs/serve.md). "
        f"Loopback only unless --host says otherwise; the API key may also come from ${API_KEY_ENV}.",
    )
    parser.add_argument(
        "checkpoint",
        help="a training run folder (runs/NAME: its newest checkpoint), a checkpoint folder "
        "(runs/NAME/final, runs/NAME/checkpoints/step-N) or a policy folder (Policy.save_pretrained)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, loopback only)")
    parser.add_argument("--port", type=int, default=8000, help="port (default: 8000; 0 picks a free one)")
    parser.add_argument("--api-key", default=None, help="require 'Authorization: Api-Key KEY' from clients")
    parser.add_argument("--max-message-mb", type=float, default=8.0, help="largest observation accepted (default: 8)")
    parser.add_argument("--max-clients", type=int, default=32, help="connections served at once (default: 32)")
    parser.add_argument(
        "--memory-budget-mb",
        type=float,
        default=1024.0,
        help="observation memory the server may hold; max clients x 2 x max message must fit (default: 1024)",
    )
    parser.add_argument(
        "--idle-timeout-s",
        type=float,
        default=60.0,
        help="close a connection that sends nothing for this long (default: 60; 0: never)",
    )
    parser.add_argument(
        "--max-batch",
        type=int,
        default=16,
        help="stack up to this many concurrent requests into one forward pass (default: 16; 1: off)",
    )
    parser.add_argument(
        "--batch-wait-ms",
        type=float,
        default=2.0,
        help="how long a batch may wait for more requests while other clients are connected (default: 2)",
    )
    parser.add_argument("--no-validate", action="store_true", help="pass observations to the policy unchecked")
    parser.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    import math

    from dexego.errors import ConfigError
    from dexego.serve import PolicyServer, ServerConfig, dexego_observation_spec, run_server
    from dexego.serve.loading import load_policy, policy_info, resolve_policy

    if not (math.isfinite(args.max_message_mb) and args.max_message_mb > 0):
        raise ConfigError(f"--max-message-mb must be a positive number, got {args.max_message_mb}")
    if not (math.isfinite(args.memory_budget_mb) and args.memory_budget_mb > 0):
        raise ConfigError(f"--memory-budget-mb must be a positive number, got {args.memory_budget_mb}")
    if not 0 <= args.port < 65536:
        raise ConfigError(f"--port must be in 0..65535, got {args.port}")

    config = ServerConfig(  # before loading the policy: a bad setting fails at once
        host=args.host,
        port=args.port,
        api_key=args.api_key or os.environ.get(API_KEY_ENV) or None,
        max_message_bytes=int(args.max_message_mb * 2**20),
        max_clients=args.max_clients,
        memory_budget_bytes=int(args.memory_budget_mb * 2**20),
        idle_timeout_s=args.idle_timeout_s or None,
        max_batch=args.max_batch,
        batch_wait_ms=args.batch_wait_ms,
    )
    location = resolve_policy(args.checkpoint)
    policy = load_policy(location)
    info = policy_info(policy)
    spec = None if args.no_validate else dexego_observation_spec(info.get("action_dim"))
    server = PolicyServer(policy, config, metadata=info, observation_spec=spec)

    def ready(url: str) -> None:
        auth = "API key required" if config.api_key else "no API key"
        print(
            f"dexego serve: {info.get('policy', 'policy')} from {location} on {url} ({auth}); "
            f"health check at {url.replace('ws://', 'http://')}/healthz; Ctrl-C to stop",
            flush=True,
        )

    run_server(server, on_ready=ready)
    print(f"dexego serve: stopped after {server.requests_served} requests ({server.requests_rejected} rejected)")
    return 0
