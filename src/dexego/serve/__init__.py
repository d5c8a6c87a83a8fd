"""Deployment: an openpi-compatible policy server and client, action chunking with temporal ensembling.

- :mod:`codec` — msgpack with numpy arrays (the wire format), safe to decode.
- :class:`PolicyServer` / :class:`ServerThread` / :func:`run_server` — the websocket server.
- :class:`PolicyClient` — blocking client with reconnect and timeouts.
- :class:`ChunkedPolicy` — step-by-step control over chunks (re-query every k steps, ensembling, retargeting hook,
  blending in the world frame when given camera poses).
- :func:`policy_from_spec` — ``ws://HOST:PORT`` or a run/checkpoint/policy folder -> a simulator policy.
- :func:`loading.load_policy` — the one loader of a trained Policy from any of those folders (docs/serve.md).
"""

from dexego.serve.adapter import close_policy, is_server_spec, policy_from_spec
from dexego.serve.chunking import ChunkedPolicy, ChunkingConfig, TemporalEnsembler, ensemble_decay
from dexego.serve.client import ClientConfig, PolicyClient
from dexego.serve.errors import AuthenticationError, ServerError, ServerUnavailable
from dexego.serve.server import PolicyServer, ServerConfig, ServerThread, run_server
from dexego.serve.spec import FieldSpec, ObservationSpec, dexego_observation_spec

__all__ = [
    "AuthenticationError",
    "ChunkedPolicy",
    "ChunkingConfig",
    "ClientConfig",
    "FieldSpec",
    "ObservationSpec",
    "PolicyClient",
    "PolicyServer",
    "ServerConfig",
    "ServerError",
    "ServerThread",
    "ServerUnavailable",
    "TemporalEnsembler",
    "close_policy",
    "dexego_observation_spec",
    "ensemble_decay",
    "is_server_spec",
    "policy_from_spec",
    "run_server",
]
