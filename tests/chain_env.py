"""A table-free env of the compiled loop's protocol, for the tests: a slippery chain.

States ``0 .. n - 1`` on a line, start at 0; action 0 moves left, 1 right, but with probability
``slip`` the move goes the other way (a wall at 0 keeps the agent in place). Reaching ``n - 1``
gives reward 1 and terminates. The optimal policy moves right everywhere. ``slip`` is a pytree
leaf (``vmap`` over it), the sizes are static.
"""

import dataclasses
import functools

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int

from dynaq_jax.types import IntScalar, Key


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class SlipperyChain:
    """The chain: ``s' = clip(s + d, 0, n - 1)`` with ``d = +1`` for action 1 and ``-1`` for 0,
    flipped with probability ``slip``; ``r = 1[s' = n - 1]``, terminated likewise."""

    slip: Float[Array, ""]
    n_states: int = dataclasses.field(default=6, metadata={"static": True})
    time_limit: int | None = dataclasses.field(default=40, metadata={"static": True})

    @property
    def n_actions(self) -> int:
        return 2

    def reset(self, key: Key) -> Int[Array, ""]:
        del key
        return jnp.zeros((), jnp.int32)

    def step(
        self, key: Key, s: IntScalar, a: IntScalar
    ) -> tuple[Int[Array, ""], Float[Array, ""], Bool[Array, ""]]:
        flip = jax.random.uniform(key) < self.slip
        d = jnp.where((jnp.asarray(a) == 1) ^ flip, 1, -1)
        s_next = jnp.clip(jnp.asarray(s, jnp.int32) + d, 0, self.n_states - 1)
        goal = s_next == self.n_states - 1
        return s_next.astype(jnp.int32), goal.astype(jnp.float32), goal


def chain(slip: float = 0.1, n_states: int = 6, time_limit: int | None = 40) -> SlipperyChain:
    """A ``SlipperyChain`` with ``slip`` as a float32 leaf."""
    return SlipperyChain(jnp.float32(slip), n_states=n_states, time_limit=time_limit)


# The run the tests share (its one compiled program is reused across test files in a session):
# 8 seeds x 30 episodes with 3 planning steps.
N_EPISODES = 30
KEY_SEED = 11


def config():  # type: ignore[no-untyped-def]
    """The shared run's config."""
    import dynaq_jax as dq

    return dq.DynaQConfig(planning_steps=3)


def keys(n: int = 8) -> jax.Array:
    """The shared run's first ``n`` of 8 keys."""
    return jax.random.split(jax.random.key(KEY_SEED), 8)[:n]


@functools.lru_cache(maxsize=1)
def chain_seeds():  # type: ignore[no-untyped-def]
    """``train_seeds`` of the shared run, once per session."""
    import dynaq_jax as dq

    return dq.train_seeds(chain(), config(), keys(), N_EPISODES)
