"""A real dexego Policy checkpoint served by `dexego serve` answers exactly as the same checkpoint in-process."""

import numpy as np
import pytest
from serve_fakes import policy_observation

import dexego.serve
from dexego.cli import main
from dexego.serve import ChunkingConfig, ServerThread, close_policy, policy_from_spec

pytestmark = pytest.mark.timeout(120)


def test_checkpoint_served_through_the_cli_matches_in_process(tmp_path, monkeypatch):
    models = pytest.importorskip("dexego.models")
    from dexego.config import load_config

    checkpoint = tmp_path / "policy"
    models.Policy(load_config(models.PolicyConfig, {"horizon": 8}), None).save(checkpoint)

    built = {}
    monkeypatch.setattr(dexego.serve, "run_server", lambda server, on_ready: built.update(server=server))
    assert main(["serve", str(checkpoint), "--port", "0"]) == 0
    server = built["server"]
    assert server.metadata["action_space"] == "ego48" and server.metadata["horizon"] == 8

    chunking = ChunkingConfig(query_every=2)
    with ServerThread(server) as handle:
        remote = policy_from_spec(handle.url, chunking=chunking)
        local = policy_from_spec(str(checkpoint), chunking=chunking)  # in-process, same loader
        try:
            remote.reset(0), local.reset(0)
            for step in range(6):
                obs = policy_observation(step)
                np.testing.assert_array_equal(remote.act(obs), local.act(obs))
            assert remote.queries == local.queries == 3
            bad = policy_observation(0)
            bad["state"] = np.zeros(47, np.float32)
            with pytest.raises(dexego.serve.ServerError, match=r"state: expected shape \(48\)"):
                remote.source.infer(bad)
        finally:
            close_policy(remote)


def test_non_finite_actions_are_refused_in_process_and_by_the_server(tmp_path, monkeypatch):
    models = pytest.importorskip("dexego.models")
    from dexego.config import load_config
    from dexego.errors import NonFiniteActions

    checkpoint = tmp_path / "policy"
    models.Policy(load_config(models.PolicyConfig, {"horizon": 8}), None).save(checkpoint)
    huge = policy_observation(0)
    huge["state_valid"] = np.array([True, True])
    huge["state"] = np.full(48, 1e30, np.float32)  # finite, but the network overflows on it
    with pytest.raises(NonFiniteActions, match=r"the policy computed \d+ NaN or infinite action values"):
        models.Policy.load(checkpoint).predict_action_chunk(huge)

    built = {}
    monkeypatch.setattr(dexego.serve, "run_server", lambda server, on_ready: built.update(server=server))
    assert main(["serve", str(checkpoint), "--port", "0", "--no-validate"]) == 0  # the server's range checks off
    with ServerThread(built["server"]) as handle, dexego.serve.PolicyClient(handle.url) as client:
        with pytest.raises(
            dexego.serve.ServerError, match=r"dexego serve: non-finite actions: the policy computed \d+ NaN"
        ):
            client.infer(huge)
        assert client.predict_action_chunk(policy_observation(1)).shape == (8, 48)  # and it keeps serving
