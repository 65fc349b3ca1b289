"""``DynaQState``: the immutable pytree an agent carries, and ``init``."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int

from dynaq_jax.config import DynaQConfig
from dynaq_jax.types import Counts, QTable, RewardTable


class DynaQState(NamedTuple):
    """Everything a Dyna-Q agent knows, as arrays (a JAX pytree; never mutated).

    Attributes:
        q: action values ``Q[s, a]``.
        t_c: transition counts ``T_c[s, a, s']``, initialised to ``config.t_c_prior``; each real
            transition adds exactly 1 to one cell.
        t_c_cum: the counts' running sums along ``s'``: ``t_c_cum[s, a, j] = sum_{i <= j}
            (T_c[s, a, i] - t_c_prior)`` (integers). Planning samples ``s' ~ T[s, a, :]`` by
            comparing a uniform with this row (``cdf_j = t_c_cum[s, a, j] + prior * (j + 1)``):
            no prefix sum per draw, which made sampling 3x faster, for twice the count memory.
        r: reward model ``R[s, a]``: smoothed ``(1 - alpha) R + alpha r`` for the count model, the
            last reward seen for the deterministic model.
        terminal: ``terminal[s']`` is true once a real transition into ``s'`` terminated; planning
            never bootstraps from such a state (termination is modelled as a property of the state
            reached, which holds for every gymnasium toy-text env and the Sutton & Barto mazes).
        next_state: deterministic model: the last ``s'`` seen after ``(s, a)``.
        visits: real visits of ``(s, a)``.
        last_visit: the real step at which ``(s, a)`` was last tried (Dyna-Q+'s ``tau``, the
            steps since, is ``step - 1 - last_visit``: 0 right after the pair is tried).
        pairs: flat indices ``s * A + a`` of the pairs planning may choose, in order of first visit;
            only ``pairs[:n_pairs]`` is meaningful. Length ``S * A + A`` (padding for Dyna-Q+, which
            adds all ``A`` actions of a newly visited state at once).
        n_pairs: number of valid entries of ``pairs``; planning picks ``pairs[floor(u * n_pairs)]``.
        step: real transitions seen so far.
        priority: prioritized sweeping's queue as a dense array: ``priority[s, a] > 0`` is the
            priority of a queued pair, ``0`` not queued (only ``planner="sweeping"`` uses it).
    """

    q: QTable
    t_c: Counts
    t_c_cum: Counts
    r: RewardTable
    terminal: Bool[Array, " S"]
    next_state: Int[Array, "S A"]
    visits: Int[Array, "S A"]
    last_visit: Int[Array, "S A"]
    pairs: Int[Array, " P"]
    n_pairs: Int[Array, ""]
    step: Int[Array, ""]
    priority: Float[Array, "S A"]

    @property
    def n_states(self) -> int:
        """``S``, read from the static shape of ``q``."""
        return int(self.q.shape[-2])

    @property
    def n_actions(self) -> int:
        """``A``, read from the static shape of ``q``."""
        return int(self.q.shape[-1])


def _check_size(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or int(value) < 1:
        raise ValueError(f"init: {name} must be a positive int, got {value!r}")
    return int(value)


def init(n_states: int, n_actions: int, config: DynaQConfig) -> DynaQState:
    """A fresh agent: ``Q = 0``, ``T_c = t_c_prior`` everywhere, ``R = 0``, nothing visited.

    Memory per agent is dominated by ``T_c`` and its running sums: ``2 * 4 * S * A * S`` bytes.
    """
    n_s = _check_size("n_states", n_states)
    n_a = _check_size("n_actions", n_actions)
    if not isinstance(config, DynaQConfig):
        raise TypeError(f"init: config must be a DynaQConfig, got {type(config).__name__}")
    zeros_sa = jnp.zeros((n_s, n_a), jnp.float32)
    izeros_sa = jnp.zeros((n_s, n_a), jnp.int32)
    return DynaQState(
        q=zeros_sa,
        t_c=jnp.full((n_s, n_a, n_s), config.t_c_prior, jnp.float32),
        t_c_cum=jnp.zeros((n_s, n_a, n_s), jnp.float32),
        r=zeros_sa,
        terminal=jnp.zeros((n_s,), jnp.bool_),
        next_state=izeros_sa,
        visits=izeros_sa,
        last_visit=izeros_sa,
        pairs=jnp.zeros((n_s * n_a + n_a,), jnp.int32),
        n_pairs=jnp.zeros((), jnp.int32),
        step=jnp.zeros((), jnp.int32),
        priority=zeros_sa,
    )


def model_size(state: DynaQState) -> Int[Array, "..."]:
    """Distinct ``(s, a)`` pairs tried in the real world: ``#{(s, a) : visits[s, a] > 0}``."""
    return jnp.sum(state.visits > 0, axis=(-2, -1), dtype=jnp.int32)


def memory_bytes(state: DynaQState) -> int:
    """Bytes held by one agent's arrays (all leaves, summed)."""
    return int(sum(np.prod(x.shape) * x.dtype.itemsize for x in jax.tree.leaves(state)))


__all__ = ["DynaQState", "init", "memory_bytes", "model_size"]
