"""DQN: TD and double-DQN targets by hand, target-network updates, a chain MDP learned in
seconds, an image env that needs frame stacking, CartPole, save/load, and the errors."""

import json

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import nn
from deepgrad.errors import ShapeError
from deepgrad.rl import DQN, Batch, DuelingHead, EvalCallback, build_q_network, td_targets
from deepgrad.rl.config import DEFAULTS

gym = pytest.importorskip("gymnasium", reason="the agent tests need gymnasium: pip install "
                                              "'deepgrad[rl]'")
from deepgrad.rl.wrappers import FrameStack, ImagePreprocess, check_env  # noqa: E402


class ChainEnv(gym.Env):
    """States 0..n-1 on a line, observed one-hot; the agent starts in state 1. Action 1 moves
    right, action 0 left. Reaching state 0 pays 0.1, reaching n-1 pays 1; both end the episode.
    The nearby small reward is the trap: only a far-sighted agent always moves right."""

    def __init__(self, n=6, limit=20):
        self.n, self.limit = n, limit
        self.observation_space = gym.spaces.Box(0.0, 1.0, (n,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(2)

    def _obs(self):
        obs = np.zeros(self.n, np.float32)
        obs[self.state] = 1.0
        return obs

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.state, self.t = 1, 0
        return self._obs(), {}

    def step(self, action):
        self.state += 1 if action == 1 else -1
        self.t += 1
        reward = 1.0 if self.state == self.n - 1 else 0.1 if self.state == 0 else 0.0
        terminated = self.state in (0, self.n - 1)
        return self._obs(), reward, terminated, self.t >= self.limit, {}


class CueEnv(gym.Env):
    """8x8 grayscale images. The first frame shows a bright bar on the left or the right half,
    the second frame is blank, and only then does the action count: 1 if it names the side
    of the cue. Solvable only by remembering the first frame (FrameStack)."""

    observation_space = gym.spaces.Box(0, 255, (8, 8), dtype=np.uint8)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.side, self.t = int(self.np_random.integers(2)), 0
        image = np.zeros((8, 8), np.uint8)
        image[2:6, 1 + 4 * self.side:3 + 4 * self.side] = 255
        return image, {}

    def step(self, action):
        self.t += 1
        if self.t == 1:
            return np.zeros((8, 8), np.uint8), 0.0, False, False, {}
        return np.zeros((8, 8), np.uint8), float(action == self.side), True, False, {}


@pytest.fixture(autouse=True, scope="module")
def one_blas_thread():
    """The networks here are tiny: one BLAS thread is fastest, and on a busy machine more
    threads make OpenBLAS wait for each other (100x slower)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(1):
        yield


FAST = {"learning_starts": 100, "train_freq": 1, "gradient_steps": 1, "target_update": 50,
        "batch_size": 32, "lr": 1e-3, "buffer_size": 5_000, "exploration_fraction": 0.5,
        "exploration_final_eps": 0.05}


# ----------------------------------------------------------------------------- targets
def test_td_targets_by_hand():
    rewards = np.array([1.0, 0.5, -1.0], np.float32)
    discounts = np.array([0.9, 0.0, 0.81], np.float32)  # the second transition terminated
    next_target = np.array([[1.0, 3.0], [2.0, 5.0], [4.0, -2.0]], np.float32)
    next_online = np.array([[4.0, 0.0], [1.0, 2.0], [0.0, 1.0]], np.float32)
    # DQN: max_a Q_target(s', a) -> 3, 5, 4
    np.testing.assert_allclose(td_targets(rewards, discounts, next_target),
                               [1 + 0.9 * 3, 0.5, -1 + 0.81 * 4], rtol=1e-6)
    # double DQN: a' = argmax Q_online(s') -> 0, 1, 1, valued by the target net: 1, 5, -2
    np.testing.assert_allclose(td_targets(rewards, discounts, next_target, next_online),
                               [1 + 0.9 * 1, 0.5, -1 + 0.81 * -2], rtol=1e-6)


def hand_batch(n=6):
    obs = np.eye(n, dtype=np.float32)[[1, 2, 3]]
    return Batch(obs, np.array([1, 0, 1]), np.array([0.0, 1.0, 0.5], np.float32),
                 np.eye(n, dtype=np.float32)[[2, 1, 4]], np.array([0.99, 0.0, 0.5], np.float32),
                 np.arange(3))


@pytest.mark.parametrize("double", [True, False])
def test_agent_targets_use_the_target_net_and_for_double_the_online_choice(double):
    agent = DQN(ChainEnv(), double=double, hidden=(16,), seed=0, **FAST)
    batch = hand_batch()
    agent.train_step(batch)  # the networks now differ
    with dg.no_grad():
        online = agent.q_net(dg.tensor(batch.next_obs)).numpy()
        target = agent.target_net(dg.tensor(batch.next_obs)).numpy()
    assert not np.allclose(online, target)
    choice = online.argmax(1) if double else target.argmax(1)
    expected = batch.rewards + batch.discounts * target[np.arange(3), choice]
    np.testing.assert_allclose(agent.compute_targets(batch), expected, rtol=1e-6)


def test_hard_target_updates_every_target_update_gradient_steps():
    agent = DQN(ChainEnv(), hidden=(16,), seed=0, **{**FAST, "target_update": 3})
    before = agent.target_net.state_dict()
    for step in range(1, 4):
        agent.train_step(hand_batch())
        same = all(np.array_equal(v, before[k]) for k, v in agent.target_net.state_dict().items())
        assert same == (step < 3)
    for key, value in agent.q_net.state_dict().items():
        np.testing.assert_array_equal(agent.target_net.state_dict()[key], value)


def test_polyak_updates_move_the_target_by_tau():
    agent = DQN(ChainEnv(), hidden=(16,), seed=0, tau=0.25, **FAST)
    old_target = agent.target_net.state_dict()
    agent.train_step(hand_batch())
    for key, online in agent.q_net.state_dict().items():
        np.testing.assert_allclose(agent.target_net.state_dict()[key],
                                   old_target[key] + 0.25 * (online - old_target[key]),
                                   rtol=1e-5, atol=1e-7)


def test_a_gradient_step_lowers_the_loss_on_a_fixed_batch():
    agent = DQN(ChainEnv(), hidden=(16,), seed=0, **{**FAST, "target_update": 10_000})
    losses = [agent.train_step(hand_batch()) for _ in range(300)]
    assert losses[-1] < 0.1 * losses[0]


def test_the_defaults_table_matches_the_signature():
    import inspect

    parameters = inspect.signature(DQN).parameters
    assert {k: parameters[k].default for k in DEFAULTS} == DEFAULTS


# ----------------------------------------------------------------------------- learning
def greedy_actions(agent, n=6):
    return agent.predict(np.eye(n, dtype=np.float32)[1:n - 1])


def test_learns_the_far_reward_of_a_chain():
    agent = DQN(ChainEnv(), hidden=(32,), seed=0, **FAST)
    agent.learn(2_000)
    np.testing.assert_array_equal(greedy_actions(agent), [1, 1, 1, 1])
    assert agent.evaluate(5, env=ChainEnv()) == (1.0, 0.0)
    assert len(agent.episode_returns) == len(agent.episode_lengths) > 50


@pytest.mark.parametrize("options", [{"n_step": 3, "prioritized": True},
                                     {"dueling": True, "double": False, "loss": "mse"}])
def test_rainbow_pieces_learn_the_chain_too(options):
    agent = DQN(ChainEnv(), hidden=(32,), seed=1, **FAST, **options)
    agent.learn(2_000)
    np.testing.assert_array_equal(greedy_actions(agent), [1, 1, 1, 1])


def test_an_image_env_needs_and_gets_frame_stacking_through_a_conv_network():
    env = FrameStack(CueEnv(), 2)
    assert env.observation_space.shape == (2, 8, 8)
    agent = DQN(env, hidden=(32,), seed=0, **{**FAST, "exploration_fraction": 0.3})
    assert any(isinstance(m, nn.Conv2d) for m in agent.q_net.modules())
    agent.learn(1_200)
    mean, _ = agent.evaluate(40, env=FrameStack(CueEnv(), 2), seed=0)
    assert mean >= 0.9
    # without the stack the second frame is blank: a coin flip at best
    blind = DQN(CueEnv(), hidden=(32,), seed=0, **{**FAST, "exploration_fraction": 0.3})
    blind.learn(1_200)
    assert blind.evaluate(40, env=CueEnv(), seed=0)[0] < 0.75


def test_cartpole_short_run_reaches_150():
    # the default settings but a shorter warm-up; seeds 0-5 reach 247-500 (seed 0: 247)
    agent = DQN("CartPole-v1", learning_starts=500, seed=0)
    evaluator = EvalCallback(eval_freq=2_000, episodes=5, seed=1_000)
    agent.learn(12_000, callbacks=[evaluator])
    mean, _ = agent.evaluate(20, seed=12_345)
    assert mean >= 150, agent.eval_history


# ----------------------------------------------------------------------------- predict / files
def test_predict_gives_an_int_for_one_observation_and_an_array_for_a_batch():
    agent = DQN(ChainEnv(), hidden=(16,), seed=0, **FAST)
    action = agent.predict(np.eye(6, dtype=np.float32)[2])
    assert type(action) is int and action in (0, 1)
    actions = agent.predict(np.eye(6, dtype=np.float32))
    assert actions.shape == (6,) and actions.dtype == np.int64
    with pytest.raises(ShapeError, match=r"expected one observation of shape \(6\) or a batch "
                                         r"\(N, 6\); got \(5\)"):
        agent.predict(np.zeros(5))
    agent.exploration_rate = 1.0
    explored = {agent.predict(np.eye(6, dtype=np.float32)[2], deterministic=False)
                for _ in range(50)}
    assert explored == {0, 1}


def test_save_load_round_trip_gives_identical_actions(tmp_path):
    agent = DQN("CartPole-v1", hidden=(32, 32), seed=3, learning_starts=100, train_freq=50,
                gradient_steps=10)
    agent.learn(600)
    path = agent.save(tmp_path / "agent")
    config = json.loads((path / "config.json").read_text())
    assert config["env_id"] == "CartPole-v1" and config["settings"]["hidden"] == [32, 32]
    assert config["num_timesteps"] == 600
    loaded = DQN.load(path)  # no env: predicts, and evaluates in an env made from the id
    observations = np.random.default_rng(0).normal(size=(256, 4)).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict(observations), agent.predict(observations))
    assert [loaded.predict(o) for o in observations[:5]] == [agent.predict(o)
                                                             for o in observations[:5]]
    assert loaded.evaluate(3, seed=0) == agent.evaluate(3, seed=0)
    with pytest.raises(ValueError, match="has no environment"):
        loaded.learn(10)
    resumed = DQN.load(path / "model.safetensors", env="CartPole-v1")
    resumed.learn(200)
    assert resumed.num_timesteps == 800


def test_load_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"must hold config\.json and model\.safetensors"):
        DQN.load(tmp_path)
    net = nn.Sequential(nn.Linear(6, 2))
    agent = DQN(ChainEnv(), network=net, seed=0, **FAST)
    agent.save(tmp_path / "custom")
    with pytest.raises(ValueError, match="saved with a custom network; pass the same "
                                         "architecture as network="):
        DQN.load(tmp_path / "custom")
    loaded = DQN.load(tmp_path / "custom", network=nn.Sequential(nn.Linear(6, 2)))
    np.testing.assert_array_equal(loaded.predict(np.eye(6, dtype=np.float32)),
                                  agent.predict(np.eye(6, dtype=np.float32)))
    (tmp_path / "custom" / "config.json").write_text("{not json")
    with pytest.raises(dg.FileFormatError, match=r"config\.json: not valid JSON"):
        DQN.load(tmp_path / "custom")
    agent.save(tmp_path / "other")
    with pytest.raises(ValueError, match=r"the env has observations \(4\) and 2 actions; the "
                                         r"agent was built for \(6\) and 2"):
        DQN.load(tmp_path / "other", env="CartPole-v1", network=nn.Sequential(nn.Linear(6, 2)))


# ----------------------------------------------------------------------------- errors
def test_continuous_actions_get_a_clear_error():
    with pytest.raises(ValueError, match=r"DQN: needs a Discrete action space \(one of n "
                                         r"actions\); Pendulum-v1 has Box\(-2.0, 2.0, \(1,\), "
                                         r"float32\) \(continuous actions\)"):
        DQN("Pendulum-v1")


def test_other_bad_envs_and_settings_get_clear_errors():
    class DictObs(ChainEnv):
        def __init__(self):
            super().__init__()
            self.observation_space = gym.spaces.Dict({"x": gym.spaces.Box(0, 1, (2,))})

    with pytest.raises(ValueError, match="needs a Box observation space"):
        DQN(DictObs())
    with pytest.raises(TypeError, match="expected a Gymnasium env or an env id"):
        DQN(42)
    with pytest.raises(ValueError, match="cannot make the environment NoSuchEnv-v0"):
        DQN("NoSuchEnv-v0")
    with pytest.raises(ValueError, match="DQN: needs an environment"):
        DQN(None)
    with pytest.raises(ValueError, match=r"DQN: gamma must be a number >= 0 and <= 1; got 2"):
        DQN(ChainEnv(), gamma=2)
    with pytest.raises(ValueError, match="DQN: batch_size must be an integer >= 1; got 0"):
        DQN(ChainEnv(), batch_size=0)
    with pytest.raises(ValueError, match="loss must be 'huber' or 'mse'"):
        DQN(ChainEnv(), loss="l1")
    with pytest.raises(ShapeError, match=r"the Q-network must map a batch \(N, 6\) to \(N, 2\) "
                                         r"action values; for one observation it gave \(1, 3\)"):
        DQN(ChainEnv(), network=nn.Sequential(nn.Linear(6, 3)))
    with pytest.raises(ValueError, match="dueling=True builds a dueling head on the default"):
        DQN(ChainEnv(), network=nn.Sequential(nn.Linear(6, 2)), dueling=True)
    class RGBEnv(ChainEnv):
        def __init__(self):
            super().__init__()
            self.observation_space = gym.spaces.Box(0, 255, (32, 32, 3), dtype=np.uint8)

    with pytest.raises(ValueError, match=r"gives channels-last images of shape \(32, 32, 3\)"):
        check_env(RGBEnv())
    agent = DQN(ChainEnv(), hidden=(8,), seed=0)
    with pytest.raises(ValueError, match="no separate evaluation env can be made: pass env="):
        agent.evaluate(1)


def test_a_diverging_loss_stops_with_the_step():
    agent = DQN(ChainEnv(), hidden=(8,), seed=0, **FAST)
    batch = hand_batch()
    bad = batch._replace(rewards=np.array([np.nan, 0, 0], np.float32))
    with pytest.raises(FloatingPointError, match="the loss became nan at gradient step 0"):
        agent.train_step(bad)


# ----------------------------------------------------------------------------- networks
def test_dueling_head_combines_value_and_centred_advantages_and_passes_gradcheck():
    head = DuelingHead(5, 3).double()
    x = dg.tensor(np.random.default_rng(0).normal(size=(4, 5)), requires_grad=True)
    q = head(x).numpy()
    value = head.value(x).numpy()
    advantage = head.advantage(x).numpy()
    np.testing.assert_allclose(q, value + advantage - advantage.mean(1, keepdims=True))
    assert dg.gradcheck(lambda t: head(t), [x])


def test_default_networks_for_vectors_and_images():
    assert build_q_network((4,), 2)(dg.zeros(3, 4)).shape == (3, 2)
    assert build_q_network((4, 84, 84), 6)(dg.zeros(2, 4, 84, 84)).shape == (2, 6)
    assert build_q_network((10, 10), 3, dueling=True)(dg.zeros(2, 10, 10)).shape == (2, 3)
    with pytest.raises(ValueError, match=r"no default network for observations of shape "
                                         r"\(2, 3, 4, 5\)"):
        build_q_network((2, 3, 4, 5), 2)


def test_image_wrappers_gray_resize_and_stack():
    class RGBEnv(gym.Env):
        observation_space = gym.spaces.Box(0, 255, (20, 30, 3), dtype=np.uint8)
        action_space = gym.spaces.Discrete(2)

        def reset(self, *, seed=None, options=None):
            self.t = 0
            return np.full((20, 30, 3), 10, np.uint8), {}

        def step(self, action):
            self.t += 1
            return np.full((20, 30, 3), 10 + self.t, np.uint8), 0.0, False, False, {}

    env = FrameStack(ImagePreprocess(RGBEnv(), size=(10, 12)), 3)
    assert env.observation_space.shape == (3, 10, 12)
    obs, _ = env.reset()
    assert obs.shape == (3, 10, 12) and obs.dtype == np.uint8 and (obs == 10).all()
    obs, *_ = env.step(0)
    obs, *_ = env.step(0)
    np.testing.assert_array_equal(obs[:, 0, 0], [10, 11, 12])  # oldest first
    color = ImagePreprocess(RGBEnv(), size=None, grayscale=False)
    assert color.observation_space.shape == (3, 20, 30)
    assert color.reset()[0].shape == (3, 20, 30)
    vectors = FrameStack(ChainEnv(), 2)
    assert vectors.observation_space.shape == (12,)
    with pytest.raises(ValueError, match="ImagePreprocess: expects uint8 images"):
        ImagePreprocess(ChainEnv())


# ----------------------------------------------------------------------------- callbacks
def test_eval_callback_keeps_the_best_weights_stops_at_a_threshold_and_saves(tmp_path):
    agent = DQN(ChainEnv(), hidden=(16,), seed=0, **FAST)
    evaluator = EvalCallback(ChainEnv(), eval_freq=100, episodes=2, save_path=tmp_path / "best")
    agent.learn(600, callbacks=[evaluator])
    assert [step for step, _, _ in agent.eval_history] == [100, 200, 300, 400, 500, 600]
    best = max(mean for _, mean, _ in agent.eval_history)
    assert evaluator.best_mean == best
    for key, value in agent.q_net.state_dict().items():  # restored at the end of learn
        np.testing.assert_array_equal(value, evaluator.best_state[key])
        np.testing.assert_array_equal(agent.target_net.state_dict()[key], value)
    assert DQN.load(tmp_path / "best", env=ChainEnv()).evaluate(2, env=ChainEnv())[0] == best
    stopper = DQN(ChainEnv(), hidden=(32,), seed=0, **FAST)
    stopper.learn(5_000, callbacks=[EvalCallback(ChainEnv(), eval_freq=200, episodes=1,
                                                 stop_at=1.0)])
    assert stopper.num_timesteps < 5_000 and stopper.eval_history[-1][1] == 1.0


def test_progress_logger_prints_and_writes_rows(tmp_path):
    import io

    from deepgrad.rl import ProgressLogger

    text = io.StringIO()
    logger = ProgressLogger(100, csv_path=tmp_path / "log.csv", json_path=tmp_path / "log.json",
                            file=text)
    agent = DQN(ChainEnv(), hidden=(8,), seed=0, **FAST)
    agent.learn(250, callbacks=[logger])
    assert [row["step"] for row in logger.rows] == [100, 200, 250]
    lines = text.getvalue().splitlines()
    assert len(lines) == 3 and lines[0].startswith("step      100  episodes")
    assert "steps/s" in lines[0] and "return(100)" in lines[0]
    rows = json.loads((tmp_path / "log.json").read_text())
    assert rows[0]["eval_mean"] is None and rows[-1]["episodes"] == len(agent.episode_returns)
    assert len((tmp_path / "log.csv").read_text().splitlines()) == 4


def test_learning_curve_png(tmp_path):
    pytest.importorskip("matplotlib", reason="plots need matplotlib")
    from deepgrad.rl import plot_learning_curve

    agent = DQN(ChainEnv(), hidden=(8,), seed=0, **FAST)
    agent.learn(300, callbacks=[EvalCallback(ChainEnv(), eval_freq=100, episodes=1)])
    path = plot_learning_curve(agent, tmp_path / "curve.png")
    assert path.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match=r"the path must end in \.png"):
        plot_learning_curve(agent, tmp_path / "curve.jpg")


# ----------------------------------------------------------------------------- flat parameters
def test_flat_parameters_step_like_per_parameter_adam():
    from deepgrad.rl.flat import FlatParameters

    def make():
        dg.manual_seed(0)
        return nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 2))

    x = dg.tensor(np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32))
    reference, flat_net = make(), make()
    per_parameter = dg.optim.Adam(reference.parameters(), lr=0.1)
    flat = FlatParameters(list(flat_net.parameters()))
    fused = dg.optim.Adam([flat.flat], lr=0.1)
    for _ in range(3):
        per_parameter.zero_grad()
        (reference(x) ** 2).sum().backward()
        per_parameter.step()
        for p in flat_net.parameters():
            p.grad = None
        (flat_net(x) ** 2).sum().backward()
        flat.gather_grads()
        fused.step()
        flat.changed()
    for (name, value), expected in zip(flat_net.state_dict().items(),
                                       reference.state_dict().values()):
        np.testing.assert_allclose(value, expected, rtol=1e-5, atol=1e-7, err_msg=name)
    # a parameter whose array is replaced is moved back into the flat storage
    first = flat_net[0].weight
    first.data = np.ones_like(first.data)
    flat.gather_grads()
    assert np.shares_memory(first.data, flat.flat.data) and (first.data == 1).all()
    with pytest.raises(TypeError, match="needs parameters of one floating dtype"):
        FlatParameters([dg.zeros(2), dg.zeros(2, dtype=dg.float64)])


def test_evaluation_envs_are_remade_with_the_training_envs_wrappers():
    agent = DQN(FrameStack(gym.make("CartPole-v1"), 2), hidden=(8,), seed=0)
    assert agent.obs_shape == (8,) and agent.spec["env_id"] == "CartPole-v1"
    assert agent.evaluate(1)[0] > 0  # FrameStack records its arguments in the env's spec

    class Unrecorded(gym.ObservationWrapper):
        def __init__(self, env):
            super().__init__(env)
            self.observation_space = gym.spaces.Box(-1, 1, (5,), dtype=np.float32)

        def observation(self, observation):
            return np.append(observation, 0).astype(np.float32)

    other = DQN(Unrecorded(gym.make("CartPole-v1")), hidden=(8,), seed=0)
    with pytest.raises(ValueError, match=r"the env has observations \(4\) and 2 actions; the "
                                         r"agent was built for \(5\) and 2 \(made from the id "
                                         r"CartPole-v1: if the training env is wrapped"):
        other.evaluate(1)
    assert other.evaluate(1, env=Unrecorded(gym.make("CartPole-v1")))[0] > 0
