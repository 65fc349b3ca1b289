"""RiverSwim and SixArms: the exploration benchmarks of Strehl & Littman (2008).

Source: A. L. Strehl and M. L. Littman, "An analysis of model-based Interval Estimation for Markov
Decision Processes", Journal of Computer and System Sciences 74(8):1309-1331, 2008 (the
experiments section's figures of the two MDPs). The tables below are the paper's figures as public
reimplementations transcribe them; the ones consulted agree on every probability, reward and start
state below (up to evident typos in single entries).

Both are continuing tasks: no transition is terminated. The paper scores one long continuing run;
here an episode ends only by the time limit (a truncation, which bootstraps), 20 steps by default
as in Osband, Russo & Van Roy (2013)'s episodic RiverSwim; ``time_limit=None`` removes it.

Both are hard to explore: the largest rewards sit behind unlikely transitions, while a small reward
is easy to find and lures a greedy learner. Each has a one-row ``layout`` (state ``s`` is column
``s``) and ``action_arrows``, so ``render_policy`` prints a policy on one line.
"""

import math

import jax.numpy as jnp
import numpy as np

from dynaq_jax.envs.mdp import TabularMDP, validate_mdp

DEFAULT_TIME_LIMIT = 20
"""Steps per episode unless given (Osband et al. 2013's episode length for RiverSwim)."""

RIVER_SWIM_STATES = 6
RIVER_SWIM_ARROWS = ("←", "→")
"""RiverSwim's actions: 0 left (with the current, downstream), 1 right (swim upstream)."""
RIVER_SWIM_SMALL_REWARD = 5.0
"""Reward of swimming left in the leftmost state (the paper's 5)."""
RIVER_SWIM_LARGE_REWARD = 10_000.0
"""Reward of a right swim that stays in the rightmost state (the paper's 10000)."""
RIVER_SWIM_UP = 0.3
"""Probability that a right swim moves one state upstream (every state but the last)."""
RIVER_SWIM_DOWN = 0.1
"""Probability that a right swim is carried one state back (the middle states)."""
RIVER_SWIM_LAST_DOWN = 0.7
"""Probability that a right swim in the rightmost state is carried one state back."""
RIVER_SWIM_START_STATES = (1, 2)
"""The paper's start states, drawn with equal probability."""

SIX_ARMS_STATES = 7
SIX_ARMS_ENTRY_PROBS = (1.0, 0.15, 0.10, 0.05, 0.03, 0.01)
"""``p_i``: probability that action ``i`` in the hub (state 0) enters arm ``i + 1``."""
SIX_ARMS_REWARDS = (50.0, 133.0, 300.0, 800.0, 1660.0, 6000.0)
"""``r_i``: reward of each step that stays in arm ``i + 1``."""
SIX_ARMS_ARROWS = ("1", "2", "3", "4", "5", "6")
"""SixArms' actions, named by arm: action ``a`` is "arm ``a + 1``" (see ``six_arms``)."""
SIX_ARMS_ARM_ONE_LEAVE = 4
"""The one action that leaves arm 1 (state 1) for the hub; the five others stay."""


def _check_limit(where: str, time_limit: int | None) -> None:
    if time_limit is None:
        return
    if isinstance(time_limit, bool) or not isinstance(time_limit, int) or time_limit < 1:
        raise ValueError(f"{where}: time_limit must be an int >= 1 or None, got {time_limit!r}")


def _check_scale(where: str, reward_scale: float) -> float:
    if isinstance(reward_scale, bool) or not isinstance(reward_scale, int | float):
        raise ValueError(f"{where}: reward_scale must be a number, got {reward_scale!r}")
    scale = float(reward_scale)
    if not math.isfinite(scale) or scale <= 0.0:
        raise ValueError(f"{where}: reward_scale must be finite and > 0, got {reward_scale!r}")
    return scale


def _tables(n_s: int, n_a: int, n_k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Zero ``probs`` and ``rewards``; ``next_states[s, a, k] = s`` (unused slots point back)."""
    probs = np.zeros((n_s, n_a, n_k), np.float32)
    next_states = np.repeat(np.arange(n_s, dtype=np.int32), n_a * n_k).reshape(n_s, n_a, n_k)
    rewards = np.zeros((n_s, n_a, n_k), np.float32)
    terminated = np.zeros((n_s, n_a, n_k), np.bool_)
    return probs, next_states, rewards, terminated


def river_swim(
    n_states: int = RIVER_SWIM_STATES,
    time_limit: int | None = DEFAULT_TIME_LIMIT,
    reward_scale: float = 1.0,
) -> TabularMDP:
    """RiverSwim (Strehl & Littman 2008): a chain of ``n_states`` states in a river.

    States ``0 .. N-1`` from left (downstream) to right (upstream), ``N = n_states`` (6 in the
    paper). Actions ``0`` left, ``1`` right. With ``c = reward_scale``:

    - left (with the current) is deterministic: ``s -> max(s - 1, 0)``; in state 0 it stays and
      pays ``5 c``, elsewhere it pays 0;
    - right (against the current), in state 0: ``-> 1`` w.p. 0.3, stay w.p. 0.7;
    - right in a middle state ``0 < s < N - 1``: ``-> s + 1`` w.p. 0.3, stay w.p. 0.6,
      ``-> s - 1`` w.p. 0.1;
    - right in the last state ``N - 1``: stay w.p. 0.3, paying ``10000 c``; ``-> N - 2`` w.p. 0.7;
    - every other outcome pays 0; nothing terminates (a continuing task: episodes end by
      ``time_limit``, a truncation);
    - the start state is 1 or 2, with probability 1/2 each.

    Outcome slots of right (``K = 3``): upstream, stay, downstream, in that order (the zero-
    probability slots of the end states point back to ``s``). ``reward_scale = 1`` is the paper's
    scale; ``1e-4`` puts the rewards in ``[0, 1]`` (0.0005 and 1) with the paper's ratio.
    Osband, Russo & Van Roy (2013, "(More) efficient reinforcement learning via posterior
    sampling") use a different variant that no ``reward_scale`` reproduces: rewards 5/1000 and 1
    (ten times the paper's ratio of small to large), and right moves up 0.35 / stays 0.6 / falls
    back 0.05 in the middle, moves up 0.6 / stays 0.4 in state 0, stays 0.6 / falls back 0.4 in
    the last state; it starts in state 0.

    Optimal policy (``value_iteration`` at gamma 0.95, paper's scale, six states): always right
    (upstream), in every state, including state 0, where left would pay 5 now; ``V*`` rises from
    about 6.1e3 in state 0 to 1.7e4 in state 5 (``V*`` of the start distribution: about 8.0e3).
    ``reward_scale`` scales ``Q*`` and leaves this policy unchanged.

    ``render_policy`` draws the chain on one row with ``←`` and ``→``: ``→→→→→→``.

    Raises:
        ValueError: ``n_states < 3`` (the start states 1 and 2 must exist), a bad ``time_limit`` or
            a ``reward_scale`` that is not finite and positive.
    """
    where = "river_swim"
    if isinstance(n_states, bool) or not isinstance(n_states, int) or n_states < 3:
        raise ValueError(f"{where}: n_states must be an int >= 3, got {n_states!r}")
    _check_limit(where, time_limit)
    scale = _check_scale(where, reward_scale)
    n = n_states
    last = n - 1
    stay_mid = 1.0 - RIVER_SWIM_UP - RIVER_SWIM_DOWN
    probs, next_states, rewards, terminated = _tables(n, 2, 3)
    for s in range(n):
        # left: one slot
        next_states[s, 0, 0] = max(s - 1, 0)
        probs[s, 0, 0] = 1.0
        # right: [upstream, stay, downstream]
        if s == 0:
            row = ((s + 1, RIVER_SWIM_UP), (s, 1.0 - RIVER_SWIM_UP), (s, 0.0))
        elif s < last:
            row = ((s + 1, RIVER_SWIM_UP), (s, stay_mid), (s - 1, RIVER_SWIM_DOWN))
        else:
            row = ((s, 0.0), (s, 1.0 - RIVER_SWIM_LAST_DOWN), (s - 1, RIVER_SWIM_LAST_DOWN))
        for k, (s_next, p) in enumerate(row):
            next_states[s, 1, k] = s_next
            probs[s, 1, k] = p
    rewards[0, 0, 0] = RIVER_SWIM_SMALL_REWARD * scale
    rewards[last, 1, 1] = RIVER_SWIM_LARGE_REWARD * scale
    initial = np.zeros(n, np.float32)
    initial[list(RIVER_SWIM_START_STATES)] = 0.5
    mdp = TabularMDP(
        probs=jnp.asarray(probs),
        next_states=jnp.asarray(next_states),
        rewards=jnp.asarray(rewards),
        terminated=jnp.asarray(terminated),
        initial=jnp.asarray(initial),
        time_limit=time_limit,
        layout=("." * n,),
        name="RiverSwim" if n == RIVER_SWIM_STATES else f"RiverSwim-n{n}",
        action_arrows=RIVER_SWIM_ARROWS,
    )
    return validate_mdp(mdp)


def six_arms(time_limit: int | None = DEFAULT_TIME_LIMIT, reward_scale: float = 1.0) -> TabularMDP:
    """SixArms (Strehl & Littman 2008): a hub and six arms of rising reward and rarity.

    States: 0 the hub, ``1 .. 6`` the arms. Actions ``0 .. 5``. With ``c = reward_scale``,
    ``p = (1, 0.15, 0.10, 0.05, 0.03, 0.01)`` and ``r = (50, 133, 300, 800, 1660, 6000)``:

    - in the hub, action ``a`` enters arm ``a + 1`` w.p. ``p[a]`` and stays in the hub w.p.
      ``1 - p[a]``; both pay 0 (outcome slots: the arm, then the hub);
    - in arm ``i >= 2``, action ``i - 1`` stays in the arm and pays ``r[i - 1] c``; the five other
      actions return to the hub and pay 0;
    - in arm 1, actions 0, 1, 2, 3 and 5 stay and pay ``50 c``; action 4 returns to the hub and
      pays 0;
    - all moves are deterministic but the hub's; nothing terminates (a continuing task: episodes
      end by ``time_limit``, a truncation); the start state is the hub.

    ``reward_scale = 1`` is the paper's scale; ``1 / 6000`` puts the rewards in ``[0, 1]``.

    Optimal policy (``value_iteration`` at gamma 0.95, paper's scale): in the hub try arm 6
    (action 5, despite its 1 % entry chance); stay in arms 5 and 6; leave arms 1 to 4 for the hub
    (their rewards, 50 to 800 a step, are worth less than the hub's prospect of arm 6). Greedy, ties
    to the lowest action: ``[5, 4, 0, 0, 0, 4, 5]``. ``V*(hub)`` is about 1.9e4, ``V*(arm 5) =
    1660 / 0.05 = 3.32e4`` and ``V*(arm 6) = 6000 / 0.05 = 1.2e5``.

    ``render_policy`` draws the hub and the arms on one row, each action as the arm it names
    (``SIX_ARMS_ARROWS``: action ``a`` as ``a + 1``). In arm ``i >= 2`` the glyph ``i`` means stay
    and any other glyph means leave; in arm 1 only ``5`` leaves. The optimal policy prints
    ``6511156``: hub tries 6, arm 1 leaves, arms 2 to 4 leave, arms 5 and 6 stay.

    Raises:
        ValueError: a bad ``time_limit`` or a ``reward_scale`` that is not finite and positive.
    """
    where = "six_arms"
    _check_limit(where, time_limit)
    scale = _check_scale(where, reward_scale)
    n_arms = len(SIX_ARMS_ENTRY_PROBS)
    probs, next_states, rewards, terminated = _tables(SIX_ARMS_STATES, n_arms, 2)
    for a, p in enumerate(SIX_ARMS_ENTRY_PROBS):
        next_states[0, a] = (a + 1, 0)
        probs[0, a] = (p, 1.0 - p)
    for arm in range(1, n_arms + 1):
        for a in range(n_arms):
            stays = a != SIX_ARMS_ARM_ONE_LEAVE if arm == 1 else a == arm - 1
            probs[arm, a, 0] = 1.0
            next_states[arm, a, 0] = arm if stays else 0
            rewards[arm, a, 0] = SIX_ARMS_REWARDS[arm - 1] * scale if stays else 0.0
    initial = np.zeros(SIX_ARMS_STATES, np.float32)
    initial[0] = 1.0
    mdp = TabularMDP(
        probs=jnp.asarray(probs),
        next_states=jnp.asarray(next_states),
        rewards=jnp.asarray(rewards),
        terminated=jnp.asarray(terminated),
        initial=jnp.asarray(initial),
        time_limit=time_limit,
        layout=("." * SIX_ARMS_STATES,),
        name="SixArms",
        action_arrows=SIX_ARMS_ARROWS,
    )
    return validate_mdp(mdp)


__all__ = [
    "DEFAULT_TIME_LIMIT",
    "RIVER_SWIM_ARROWS",
    "RIVER_SWIM_DOWN",
    "RIVER_SWIM_LARGE_REWARD",
    "RIVER_SWIM_LAST_DOWN",
    "RIVER_SWIM_SMALL_REWARD",
    "RIVER_SWIM_START_STATES",
    "RIVER_SWIM_STATES",
    "RIVER_SWIM_UP",
    "SIX_ARMS_ARM_ONE_LEAVE",
    "SIX_ARMS_ARROWS",
    "SIX_ARMS_ENTRY_PROBS",
    "SIX_ARMS_REWARDS",
    "SIX_ARMS_STATES",
    "river_swim",
    "six_arms",
]
