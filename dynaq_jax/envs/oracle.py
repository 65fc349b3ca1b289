"""The oracle: exact planning and policy evaluation on a known ``TabularMDP``.

No sampling: every quantity is an expectation over the outcome tables, computed in float32 with
jitted, vectorised array code. Terminated outcomes never bootstrap: their mass leaves the chain
(``1 - term_k`` factors below). Used by tests and experiments as ground truth.

The jitted kernels take the arrays alone (not the ``TabularMDP`` with its static layout and name),
so many maps of one shape share one compilation; discount, tolerance and horizon are traced
arguments, so sweeping them does not recompile either.
"""

from collections.abc import Callable
from typing import NamedTuple, cast

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int

from dynaq_jax.checks import is_concrete, typed_jit
from dynaq_jax.envs.mdp import TabularMDP
from dynaq_jax.envs.protocol import require_tables
from dynaq_jax.types import Policy, QTable

DEFAULT_SUCCESS_DISCOUNT = 0.9999
"""Discount whose greedy ``Q*`` policy ``optimal_success_probability`` evaluates."""

PolicyLike = Int[Array, " S"] | Float[Array, "S A"]
"""A deterministic policy ``pi[s]`` (one action per state) or a stochastic one ``pi[s, a]``."""


class ValueIterationResult(NamedTuple):
    """``Q*`` with the number of sweeps run and the last sup-norm change ``max |Q_n - Q_{n-1}|``."""

    q: QTable
    iterations: Int[Array, ""]
    residual: Float[Array, ""]


# -- model read-outs ------------------------------------------------------------------------------


@typed_jit
def _expected_rewards(
    probs: Float[Array, "S A K"], rewards: Float[Array, "S A K"]
) -> Float[Array, "S A"]:
    return jnp.sum(probs * rewards, axis=-1)


def expected_rewards(env: TabularMDP) -> Float[Array, "S A"]:
    """``R[s, a] = sum_k p_k(s, a) r_k(s, a)``: the expected immediate reward."""
    require_tables("expected_rewards", env)
    return _expected_rewards(env.probs, env.rewards)


def _scatter_to_states(
    weights: Float[Array, "S A K"], next_states: Int[Array, "S A K"]
) -> Float[Array, "S A S"]:
    n_s, n_a, _ = weights.shape
    rows = jnp.arange(n_s * n_a)[:, None]
    out = jnp.zeros((n_s * n_a, n_s), weights.dtype)
    out = out.at[rows, next_states.reshape(n_s * n_a, -1)].add(weights.reshape(n_s * n_a, -1))
    return out.reshape(n_s, n_a, n_s)


@typed_jit
def _transition_matrix(
    probs: Float[Array, "S A K"], next_states: Int[Array, "S A K"]
) -> Float[Array, "S A S"]:
    return _scatter_to_states(probs, next_states)


@typed_jit
def _continuation_matrix(
    probs: Float[Array, "S A K"], next_states: Int[Array, "S A K"], terminated: Bool[Array, "S A K"]
) -> Float[Array, "S A S"]:
    return _scatter_to_states(jnp.where(terminated, 0.0, probs), next_states)


def transition_matrix(env: TabularMDP) -> Float[Array, "S A S"]:
    """``P[s, a, s'] = sum_{k : s'_k = s'} p_k(s, a)``: duplicate outcomes summed; rows sum to 1."""
    require_tables("transition_matrix", env)
    return _transition_matrix(env.probs, env.next_states)


def continuation_matrix(env: TabularMDP) -> Float[Array, "S A S"]:
    """``C[s, a, s'] = sum_{k : s'_k = s', not term_k} p_k(s, a)``: the continuing part of ``P``.

    ``1 - sum_s' C[s, a, s']`` is the probability that ``(s, a)`` terminates the episode.
    """
    require_tables("continuation_matrix", env)
    return _continuation_matrix(env.probs, env.next_states, env.terminated)


# -- value iteration ------------------------------------------------------------------------------


def _bellman_optimality(
    q: Float[Array, "S A"],
    probs: Float[Array, "S A K"],
    next_states: Int[Array, "S A K"],
    rewards: Float[Array, "S A K"],
    cont: Float[Array, "S A K"],
    discount: Float[Array, ""],
) -> Float[Array, "S A"]:
    v = jnp.max(q, axis=-1)
    return jnp.sum(probs * (rewards + discount * cont * v[next_states]), axis=-1)


def _value_iteration_impl(
    probs: Float[Array, "S A K"],
    next_states: Int[Array, "S A K"],
    rewards: Float[Array, "S A K"],
    terminated: Bool[Array, "S A K"],
    discount: Float[Array, ""],
    tol: Float[Array, ""],
    max_iters: int,
) -> ValueIterationResult:
    cont = 1.0 - terminated.astype(probs.dtype)
    discount = jnp.asarray(discount, probs.dtype)

    def cond(carry: ValueIterationResult) -> Bool[Array, ""]:
        return (carry.residual > tol) & (carry.iterations < max_iters)

    def body(carry: ValueIterationResult) -> ValueIterationResult:
        q_new = _bellman_optimality(carry.q, probs, next_states, rewards, cont, discount)
        residual = jnp.max(jnp.abs(q_new - carry.q))
        return ValueIterationResult(q_new, carry.iterations + 1, residual)

    q0 = jnp.zeros(probs.shape[:2], probs.dtype)
    init = ValueIterationResult(q0, jnp.zeros((), jnp.int32), jnp.asarray(jnp.inf, probs.dtype))
    return jax.lax.while_loop(cond, body, init)


_value_iteration = cast(
    Callable[..., ValueIterationResult],
    jax.jit(_value_iteration_impl, static_argnames=("max_iters",)),
)


def _check_discount(where: str, discount: object) -> None:
    if is_concrete(discount):
        d = float(discount)  # type: ignore[arg-type]
        if not 0.0 <= d <= 1.0:
            raise ValueError(f"{where}: discount must lie in [0, 1], got {d}")


def value_iteration_info(
    env: TabularMDP,
    discount: float | Float[Array, ""],
    tol: float | Float[Array, ""] = 1e-6,
    max_iters: int = 10_000,
) -> ValueIterationResult:
    """Value iteration with its convergence record; see ``value_iteration``."""
    require_tables("value_iteration", env)
    _check_discount("value_iteration", discount)
    if isinstance(max_iters, bool) or not isinstance(max_iters, int) or max_iters < 1:
        raise ValueError(f"value_iteration: max_iters must be an int >= 1, got {max_iters!r}")
    return _value_iteration(
        env.probs,
        env.next_states,
        env.rewards,
        env.terminated,
        jnp.asarray(discount, jnp.float32),
        jnp.asarray(tol, jnp.float32),
        max_iters,
    )


def value_iteration(
    env: TabularMDP,
    discount: float | Float[Array, ""],
    tol: float | Float[Array, ""] = 1e-6,
    max_iters: int = 10_000,
) -> QTable:
    """``Q*`` by value iteration from ``Q_0 = 0``, a ``lax.while_loop`` run to convergence.

    ``Q_{n+1}(s, a) = sum_k p_k (r_k + gamma (1 - term_k) max_a' Q_n(s'_k, a'))`` until
    ``max |Q_{n+1} - Q_n| <= tol`` or ``max_iters`` sweeps. With ``gamma < 1`` this is a
    ``gamma``-contraction, and stopping at ``tol`` leaves ``max |Q_n - Q*| <= tol gamma / (1 -
    gamma)`` (plus float32 rounding); ``tol = 1e-6`` suits values of order 1 (float32 resolution
    near 1 is ``1.2e-7``). With ``gamma = 1`` it converges
    only where every policy ends eventually, or (FrozenLake) monotonically from below towards the
    probability of ever succeeding; ``max_iters`` caps it: check ``value_iteration_info``'s
    ``iterations`` and ``residual``. ``discount`` may be traced (vmap over discounts).
    """
    return value_iteration_info(env, discount, tol, max_iters).q


def greedy(q: QTable) -> Policy:
    """``pi(s) = argmax_a Q[s, a]``, ties to the lowest action."""
    return jnp.argmax(q, axis=-1).astype(jnp.int32)


# -- exact policy evaluation by distribution propagation -----------------------------------------


def _policy_probs(policy: PolicyLike, n_actions: int) -> Float[Array, "S A"]:
    policy = jnp.asarray(policy)
    if policy.ndim == 1:
        return jax.nn.one_hot(policy, n_actions, dtype=jnp.float32)
    return policy.astype(jnp.float32)


@typed_jit
def _propagate(
    probs: Float[Array, "S A K"],
    next_states: Int[Array, "S A K"],
    rewards: Float[Array, "S A K"],
    terminated: Bool[Array, "S A K"],
    initial: Float[Array, " S"],
    pi: Float[Array, "S A"],
    discount: Float[Array, ""],
    horizon: Int[Array, ""],
) -> tuple[Float[Array, ""], Float[Array, ""]]:
    # Under pi the outcome (a, k) from s has weight w[s, a, k] = pi[s, a] p_k(s, a).
    n_s = probs.shape[0]
    w = (pi[:, :, None] * probs).reshape(n_s, -1)
    ns = next_states.reshape(n_s, -1)
    cont = jnp.where(terminated, 0.0, 1.0).reshape(n_s, -1)
    win = (terminated & (rewards > 0)).reshape(n_s, -1).astype(probs.dtype)
    r = rewards.reshape(n_s, -1)

    def body(
        t: Int[Array, ""], carry: tuple[Float[Array, " S"], Float[Array, ""], Float[Array, ""]]
    ) -> tuple[Float[Array, " S"], Float[Array, ""], Float[Array, ""]]:
        d, success, ret = carry
        mass = d[:, None] * w
        success = success + jnp.sum(mass * win)
        ret = ret + discount**t * jnp.sum(mass * r)
        d_next = jnp.zeros_like(d).at[ns].add(mass * cont)
        return d_next, success, ret

    zero = jnp.zeros((), probs.dtype)
    _, success, ret = jax.lax.fori_loop(0, horizon, body, (initial, zero, zero))
    return success, ret


def _resolve_horizon(where: str, env: TabularMDP, horizon: int | None) -> int:
    if horizon is None:
        if env.time_limit is None:
            raise ValueError(
                f"{where}: {env.name} has no time_limit; pass horizon= (the number of steps)"
            )
        return env.time_limit
    if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 0:
        raise ValueError(f"{where}: horizon must be an int >= 0, got {horizon!r}")
    return horizon


def _evaluate(
    where: str,
    env: TabularMDP,
    policy: PolicyLike,
    discount: float | Float[Array, ""],
    horizon: int | None,
) -> tuple[Float[Array, ""], Float[Array, ""]]:
    require_tables(where, env)
    _check_discount(where, discount)
    h = _resolve_horizon(where, env, horizon)
    shape = tuple(jnp.shape(policy))
    if shape not in ((env.n_states,), (env.n_states, env.n_actions)):
        raise ValueError(
            f"{where}: policy must have shape ({env.n_states},) or "
            f"({env.n_states}, {env.n_actions}), got {shape}"
        )
    if len(shape) == 1 and is_concrete(policy):
        pol = jnp.asarray(policy)
        if not jnp.issubdtype(pol.dtype, jnp.integer):
            raise ValueError(f"{where}: a deterministic policy must be integer, got {pol.dtype}")
        if bool(jnp.any((pol < 0) | (pol >= env.n_actions))):
            raise ValueError(f"{where}: policy actions must lie in [0, {env.n_actions})")
    pi = _policy_probs(policy, env.n_actions)
    return _propagate(
        env.probs,
        env.next_states,
        env.rewards,
        env.terminated,
        env.initial,
        pi,
        jnp.asarray(discount, jnp.float32),
        jnp.asarray(h, jnp.int32),
    )


def success_probability(
    env: TabularMDP, policy: PolicyLike, horizon: int | None = None
) -> Float[Array, ""]:
    """Probability of a terminated transition with positive reward within ``horizon`` steps.

    Exact, by propagating the state distribution from ``d_0 = initial``: with
    ``m_t(s, a, k) = d_t(s) pi(a | s) p_k(s, a)``,
    ``success = sum_{t < H} sum_{s,a,k} m_t(s, a, k) 1[term_k and r_k > 0]`` and
    ``d_{t+1}(s') = sum_{s,a,k : s'_k = s', not term_k} m_t(s, a, k)`` (terminated mass leaves).
    ``horizon`` defaults to ``env.time_limit``. ``policy`` is ``[S]`` actions or ``[S, A]``
    probabilities. For FrozenLake this is the probability of reaching the goal.
    """
    success, _ = _evaluate("success_probability", env, policy, 1.0, horizon)
    return success


def policy_value(
    env: TabularMDP,
    policy: PolicyLike,
    discount: float | Float[Array, ""],
    horizon: int | None = None,
) -> Float[Array, ""]:
    """Expected discounted return from ``initial`` over the first ``horizon`` steps.

    ``J = sum_{t < H} gamma^t sum_{s,a,k} m_t(s, a, k) r_k`` with ``m_t`` propagated as in
    ``success_probability`` (terminated mass leaves; the episode is truncated after ``H`` steps).
    ``horizon`` defaults to ``env.time_limit``.
    """
    _, value = _evaluate("policy_value", env, policy, discount, horizon)
    return value


def optimal_success_probability(
    env: TabularMDP, horizon: int | None = None, discount: float = DEFAULT_SUCCESS_DISCOUNT
) -> Float[Array, ""]:
    """``success_probability(env, greedy(Q*_gamma), horizon)``.

    The stationary greedy policy of ``Q*`` for a discount close to 1 maximises the probability of
    eventually reaching a rewarded terminal state (FrozenLake: rewards are 1 at the goal only);
    with a small discount it would prefer short risky paths. Within a finite ``horizon`` it is
    near-optimal, not exactly optimal (the optimal finite-horizon policy depends on the time left).
    FrozenLake 4x4 slippery, horizon 100: about 0.74 (gymnasium's registry comment says 0.74).
    """
    require_tables("optimal_success_probability", env)
    q = value_iteration(env, discount, tol=1e-7, max_iters=100_000)
    return success_probability(env, greedy(q), horizon)


__all__ = [
    "DEFAULT_SUCCESS_DISCOUNT",
    "PolicyLike",
    "ValueIterationResult",
    "continuation_matrix",
    "expected_rewards",
    "greedy",
    "optimal_success_probability",
    "policy_value",
    "success_probability",
    "transition_matrix",
    "value_iteration",
    "value_iteration_info",
]
