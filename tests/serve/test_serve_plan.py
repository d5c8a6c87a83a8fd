"""The plan of a policy that reasons before acting travels in the server's reply (``"plan"``), to dexego's
client and to openpi's own client; a policy without reasoning sends no ``"plan"``."""

import numpy as np
import pytest
from openpi_client.action_chunk_broker import ActionChunkBroker
from openpi_client.websocket_client_policy import WebsocketClientPolicy
from serve_fakes import (
    DIM,
    HORIZON,
    EchoPolicy,
    PlanEchoPolicy,
    expected_chunk,
    expected_plan,
    in_client_threads,
    make_observation,
    policy_observation,
    serve_through_cli,
    start_server,
)

from dexego.serve import ClientConfig, PolicyClient, ServerError

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.usefixtures("no_proxy"),
    pytest.mark.filterwarnings("ignore:connect\\(\\) must be used as a context manager:DeprecationWarning"),
]


def test_dexego_client_gets_the_plan_of_a_reasoning_policy():
    handle, _ = start_server(PlanEchoPolicy())
    with handle, PolicyClient(handle.url, ClientConfig(retries=0)) as client:
        assert handle.server.plans
        for seed, instruction in enumerate(["open the drawer", "stack the cans"]):
            obs = make_observation(seed, instruction=instruction)
            chunk, plan = client.predict_action_chunk(obs, return_plan=True)
            np.testing.assert_array_equal(chunk, expected_chunk(obs))
            assert plan == f"reach, then {instruction}"
            reply = client.infer(obs)
            assert list(reply) == ["actions", "plan", "server_timing"] and reply["plan"] == plan
            np.testing.assert_array_equal(client.predict_action_chunk(obs), expected_chunk(obs))


def test_a_policy_without_reasoning_sends_no_plan():
    handle, policy = start_server(EchoPolicy())
    with handle, PolicyClient(handle.url, ClientConfig(retries=0)) as client:
        assert not handle.server.plans
        obs = make_observation(3)
        reply = client.infer(obs)
        assert "plan" not in reply and set(reply) == {"actions", "server_timing"}
        chunk, plan = client.predict_action_chunk(obs, return_plan=True)
        assert plan is None
        np.testing.assert_array_equal(chunk, expected_chunk(obs))


def test_batched_clients_each_get_their_own_plan():
    handle, policy = start_server(PlanEchoPolicy(delay_s=0.05), max_batch=8, batch_wait_ms=20)

    def call(client, index, step):
        obs = make_observation(10 * index + step, instruction=f"task {index}-{step}")
        return (obs, *client.predict_action_chunk(obs, return_plan=True))

    with handle:
        answers, failures = in_client_threads(handle.url, 4, 3, call)
    assert not failures, failures
    assert len(answers) == 12 and max(policy.batch_sizes) > 1  # some replies came out of one batched pass
    for obs, chunk, plan in answers.values():
        assert plan == expected_plan(obs)
        np.testing.assert_array_equal(chunk, expected_chunk(obs))


def test_a_plan_that_is_not_text_is_a_failed_inference():
    handle, _ = start_server(PlanEchoPolicy(plan_type=lambda text: len(text)))
    with handle, PolicyClient(handle.url, ClientConfig(retries=0)) as client:
        with pytest.raises(ServerError, match="inference failed: ValueError"):
            client.infer(make_observation(0))


def test_openpi_client_and_chunk_broker_take_replies_with_a_plan():
    handle, _ = start_server(PlanEchoPolicy())
    with handle:
        client = WebsocketClientPolicy(host=handle.url)
        try:
            assert client.get_server_metadata()["horizon"] == HORIZON
            obs = make_observation(5, instruction="open the drawer")
            reply = client.infer(obs)
            assert reply["plan"] == "reach, then open the drawer"
            assert reply["actions"].shape == (HORIZON, DIM)
            np.testing.assert_array_equal(reply["actions"], expected_chunk(obs))
            broker = ActionChunkBroker(client, action_horizon=4)
            steps = [broker.infer(obs) for _ in range(4)]
        finally:
            client._ws.close()
    for k, step in enumerate(steps):  # the broker slices the actions and passes the text through
        np.testing.assert_array_equal(step["actions"], expected_chunk(obs)[k])
        assert step["plan"] == "reach, then open the drawer"


@pytest.fixture(scope="module")
def reasoning_serve(tmp_path_factory):
    """`dexego serve` (the CLI's server) of a small real dexego Policy with reasoning on (untrained, greedy)."""
    models = pytest.importorskip("dexego.models")
    from dexego.config import load_config
    from dexego.tokenizers import fit_tokenizer

    chunks = np.random.default_rng(0).normal(size=(64, 6, 48)).astype(np.float32)
    tokenizer = fit_tokenizer(
        "rvq", chunks, {"train_steps": 3, "batch_size": 16, "hidden": 16, "latent_dim": 8, "codebook_size": 8}
    )
    tiny = {"image_size": 32, "patch_size": 16, "width": 32, "depth": 1, "heads": 2, "max_text_bytes": 16}
    head = {"width": 32, "depth": 1, "heads": 2, "temperature": 0.0, "reasoning": True, "plan_bytes": 12}
    config = load_config(models.PolicyConfig, {"head": "tokens", "horizon": 6, "tiny": tiny, "tokens": head})
    checkpoint = tmp_path_factory.mktemp("reasoning") / "policy"
    models.Policy(config, None, tokenizer).save(checkpoint)
    with serve_through_cli(checkpoint) as handle:
        yield handle, models.Policy.load(checkpoint)


def test_dexego_serve_sends_the_plan_a_real_reasoning_policy_generates(reasoning_serve):
    handle, local = reasoning_serve
    with PolicyClient(handle.url, ClientConfig(retries=0)) as client:
        assert client.metadata["reasoning"] is True
        for step in range(2):
            obs = policy_observation(step)
            chunk, plan = client.predict_action_chunk(obs, return_plan=True)
            local_chunk, local_plan = local.predict_action_chunk(obs, return_plan=True)
            assert isinstance(plan, str) and plan == local_plan and len(plan.encode()) <= 12 * 3
            np.testing.assert_allclose(chunk, local_chunk, atol=1e-5)
    client = WebsocketClientPolicy(host=handle.url)  # openpi's client reads the same reply
    try:
        obs = policy_observation(7)
        reply = client.infer(obs)
        assert reply["plan"] == local.predict_action_chunk(obs, return_plan=True)[1]
    finally:
        client._ws.close()
