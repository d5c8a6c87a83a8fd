from dataclasses import dataclass

import numpy as np
import pytest
from serve_fakes import EchoPolicy, expected_chunk, make_observation

import dexego.serve
import dexego.serve.loading
from dexego.cli import build_parser, main
from dexego.serve import ClientConfig, PolicyClient, ServerError, ServerThread


@dataclass(frozen=True)
class _Config:
    action_space: str = "ego48"
    horizon: int = 30
    n_obs_frames: int = 6


class _ModelLikePolicy(EchoPolicy):
    config = _Config()


def test_serve_command_defaults_to_loopback_port_8000():
    args = build_parser().parse_args(["serve", "ckpt"])
    assert (args.checkpoint, args.host, args.port, args.api_key) == ("ckpt", "127.0.0.1", 8000, None)


def test_missing_checkpoint_is_a_clear_error(tmp_path, capsys):
    assert main(["serve", str(tmp_path / "nope")]) == 2
    assert (
        f"{tmp_path / 'nope'}: not found (expected a run folder, a checkpoint folder or a policy folder)"
        in capsys.readouterr().err
    )


def test_serve_command_builds_a_validating_server_from_the_policy_config(tmp_path, monkeypatch, capsys):
    built = {}
    monkeypatch.setattr(dexego.serve.loading, "resolve_policy", lambda path: path)
    monkeypatch.setattr(dexego.serve.loading, "load_policy", lambda location: _ModelLikePolicy())
    monkeypatch.setattr(
        dexego.serve,
        "run_server",
        lambda server, on_ready: built.update(server=server) or on_ready("ws://127.0.0.1:8000"),
    )
    monkeypatch.setenv("DEXEGO_API_KEY", "from-env")
    assert main(["serve", str(tmp_path), "--port", "0", "--max-message-mb", "1"]) == 0
    assert "on ws://127.0.0.1:8000 (API key required)" in capsys.readouterr().out
    server = built["server"]
    assert server.config.api_key == "from-env" and server.config.max_message_bytes == 2**20
    assert server.metadata["action_space"] == "ego48" and server.metadata["action_dim"] == 48
    assert server.metadata["horizon"] == 30 and server.metadata["obs_frames"] == 6
    with ServerThread(server) as handle:  # the server the CLI built really serves, and checks observations
        with PolicyClient(handle.url, ClientConfig(api_key="from-env", retries=0)) as client:
            obs = make_observation(4)
            np.testing.assert_array_equal(client.predict_action_chunk(obs), expected_chunk(obs))
            obs["state"] = np.zeros(24, np.float32)  # the policy's action space has 48 dims
            with pytest.raises(ServerError, match=r"state: expected shape \(48\)"):
                client.infer(obs)
