"""From a ``--policy`` argument to a simulator policy (``reset(seed)``, ``act(observation)``).

``ws://HOST:PORT`` (or ``wss://``) drives a remote policy server; a
run, checkpoint or policy folder loads the policy in-process
(:func:`dexego.serve.loading.load_policy` resolves which). Both go through the same
:class:`ChunkedPolicy`, so in-process and remote evaluation differ only in
the transport.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dexego.serve.chunking import CameraPose, ChunkedPolicy, ChunkingConfig, Retarget
from dexego.serve.client import ClientConfig, PolicyClient
from dexego.serve.loading import load_policy, policy_info


def is_server_spec(spec: str) -> bool:
    return isinstance(spec, str) and spec.startswith(("ws://", "wss://"))


def policy_from_spec(
    spec: str,
    *,
    chunking: ChunkingConfig | None = None,
    observation_fn: Callable[[Any], dict] | None = None,
    retarget: Retarget | None = None,
    client_config: ClientConfig = ClientConfig(),
    camera_pose: CameraPose | None = None,
) -> ChunkedPolicy:
    """A simulator policy for ``spec`` (a ws:// URL, or a run/checkpoint/policy folder for :func:`load_policy`).

    With ``chunking=None`` the defaults apply (re-query every step, EgoVLA ensembling) and the
    arm/hand split of the ensembling weights follows the action space the policy reports (ego48, kp21,
    mano); for any other space every dimension gets the arm decay. ``camera_pose``: see :class:`ChunkedPolicy`
    (needed when the camera moves relative to the robot base).
    """
    if is_server_spec(spec):
        source: Any = PolicyClient(spec, client_config)
        space = source.metadata.get("action_space")
    else:
        source = load_policy(spec)
        space = policy_info(source).get("action_space")
    if chunking is None:
        from dexego.actions.spaces import SPACES  # imports torch: only here

        # A server that names no dexego space (a robot joint space, an openpi server): one decay for every dim.
        chunking = ChunkingConfig(action_space=space if space in SPACES else None)
    return ChunkedPolicy(source, chunking, observation_fn=observation_fn, retarget=retarget, camera_pose=camera_pose)


def close_policy(policy: ChunkedPolicy) -> None:
    """Close the connection of a remote policy (no-op in-process)."""
    if isinstance(policy.source, PolicyClient):
        policy.source.close()
