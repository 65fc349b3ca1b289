"""The interface every model kind implements, and the maths the count models share.

A model kind owns one typed sub-pytree of ``DynaQState`` (``state.model``) and answers the
questions the agent and the planners ask of a learned model. The agent (``dynaq_jax.agent``) and
the planners (``dynaq_jax.planners``) call these methods and never look inside ``state.model``.
"""

import abc
from typing import Any, ClassVar, NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int

from dynaq_jax.config import DynaQConfig
from dynaq_jax.numerics import rounded, row_sum
from dynaq_jax.rng import fold_in, gamma_variates
from dynaq_jax.types import FloatScalar, Key, Probs, Values


class Successors(NamedTuple):
    """A pair's next-state distribution as ``K`` entries (``ModelKind.successors``).

    Attributes:
        states: ``s'`` of each entry, shape ``[*N, K]``.
        probs: ``T[s, a, s']`` of each entry (summing to 1 over the entries of a tried pair).
        seen: whether a real transition of the pair to that ``s'`` was observed.
    """

    states: Int[Array, "*N K"]
    probs: Float[Array, "*N K"]
    seen: Bool[Array, "*N K"]


class ModelKind(abc.ABC):
    """A kind of learned transition model (a plug-in: see ``dynaq_jax.models``).

    ``model`` below is the kind's own sub-pytree (``state.model``). Index arguments are traced
    int32 arrays; ``sa`` are flat pairs ``s * A + a``; ``on`` masks a transition (``False``: the
    model must come back unchanged, bit for bit). ``zero`` is ``numerics.runtime_zero`` of the
    agent's real-step count, for ``numerics.rounded``.
    """

    name: ClassVar[str]
    """The registry name."""

    model_type: ClassVar[type]
    """The class of the kind's sub-pytree (``state.model``)."""

    smooths_reward: ClassVar[bool] = True
    """Whether ``learn_reward`` is the lecture notes' smoothing ``R' = (1 - alpha) R + alpha r``
    (else the model keeps the last reward, ``R' = r``): which invariant ``dynaq_jax.testing``
    checks."""

    stochastic: ClassVar[bool] = True
    """Whether the model is a distribution over ``s'`` (prioritized sweeping then backs a pair up
    in full, ``Q[s,a] = target``); a deterministic model's sweeps take the book's ``alpha`` step."""

    bounded_outcomes: ClassVar[bool] = False
    """Whether ``successors`` lists a bounded number ``K`` of next states per pair, independent of
    ``S`` (the compact and deterministic models; the dense model lists all ``S``). Prioritized
    sweeping then reads ``max_a Q`` at those ``K`` states only, not for every state."""

    def check_config(self, config: DynaQConfig) -> None:  # noqa: B027 (optional hook)
        """Raise ``ValueError`` naming the field if ``config`` cannot run this kind."""

    @abc.abstractmethod
    def init(self, n_states: int, n_actions: int, config: DynaQConfig) -> Any:
        """The empty model: nothing observed."""

    @abc.abstractmethod
    def learn(
        self,
        model: Any,
        s: Int[Array, ""],
        a: Int[Array, ""],
        s_next: Int[Array, ""],
        on: Bool[Array, ""],
        config: DynaQConfig,
    ) -> Any:
        """Learn the real transition ``(s, a) -> s'`` (a no-op where ``on`` is false)."""

    @abc.abstractmethod
    def learn_reward(
        self, r_sa: Float[Array, ""], r: Float[Array, ""], config: DynaQConfig, zero: Int[Array, ""]
    ) -> Float[Array, ""]:
        """The new ``R[s, a]`` after a real reward ``r`` (the agent masks it with ``on``)."""

    @abc.abstractmethod
    def reward_estimate(
        self, r: Float[Array, "*N"], visits: Int[Array, "*N"], config: DynaQConfig
    ) -> Float[Array, "*N"]:
        """``R_hat[s, a]``, the reward the full-backup planners back up, elementwise: of the
        whole table ``R[S, A]`` or of the entries of some pairs (``r = R[sa]``)."""

    @abc.abstractmethod
    def sample_next(
        self, model: Any, sa: Int[Array, " N"], u: Float[Array, " N"], config: DynaQConfig
    ) -> Int[Array, " N"]:
        """Draw ``s' ~ T[s, a, :]`` for each tried pair of ``sa`` from the uniforms ``u``."""

    @abc.abstractmethod
    def next_values(
        self,
        model: Any,
        v: Values,
        sa: Int[Array, "*N"],
        config: DynaQConfig,
        zero: Int[Array, ""],
    ) -> Float[Array, "*N"]:
        """The expected next value ``sum_s' T[s, a, s'] v[s']`` of the pairs ``sa``."""

    @abc.abstractmethod
    def all_next_values(
        self, model: Any, v: Values, config: DynaQConfig, zero: Int[Array, ""]
    ) -> Float[Array, "S A"]:
        """``sum_s' T[s, a, s'] v[s']`` for every pair."""

    @abc.abstractmethod
    def into(self, model: Any, config: DynaQConfig) -> Any:
        """What ``value_change`` needs, computed once per planning call (e.g. ``T``)."""

    @abc.abstractmethod
    def value_change(
        self,
        model: Any,
        into: Any,
        s: Int[Array, ""],
        dv: Float[Array, ""],
        zero: Int[Array, ""],
    ) -> Float[Array, "S A"]:
        """How every pair's ``gamma sum_s' T v`` moves when ``gamma v[s]`` moves by ``dv``:
        ``T[:, :, s] * dv``."""

    @abc.abstractmethod
    def predecessors(
        self, model: Any, s: Int[Array, ""], visits: Int[Array, "S A"], config: DynaQConfig
    ) -> Bool[Array, "S A"]:
        """The pairs the model predicts to lead to ``s`` (prioritized sweeping's predecessors)."""

    def successors(
        self, model: Any, sa: Int[Array, "*N"], visits: Int[Array, "S A"], config: DynaQConfig
    ) -> Successors:
        """The model's ``T[s, a, :]`` of the flat pairs ``sa`` as ``K`` (state, probability)
        entries, and which of them were seen in a real transition (prioritized sweeping's
        predecessor lists and per-pair targets: ``sum_k probs[k] v[states[k]]`` is the expected
        next value, summed by ``numerics.row_sum``).

        The default reads ``transition_probs`` and ``predecessors`` for all ``S`` states
        (``O(S^2 A)``); a kind overrides it with its own ``K`` entries."""
        n_s, n_a = visits.shape[-2], visits.shape[-1]
        probs = self.transition_probs(model, visits, config).reshape(n_s * n_a, n_s)[sa]

        def into(t: Int[Array, ""]) -> Bool[Array, " SA"]:
            return self.predecessors(model, t, visits, config).reshape(-1)

        seen = jax.vmap(into)(jnp.arange(n_s, dtype=jnp.int32)).T[sa]
        states = jnp.broadcast_to(jnp.arange(n_s, dtype=jnp.int32), probs.shape)
        return Successors(states, probs, seen)

    def leads_to(
        self,
        model: Any,
        sa: Int[Array, "*N"],
        s: Int[Array, ""],
        visits: Int[Array, "S A"],
        config: DynaQConfig,
    ) -> Bool[Array, "*N"]:
        """Whether each flat pair of ``sa`` is a predecessor of ``s`` (``predecessors``, read at
        those pairs alone). The default evaluates ``predecessors`` for every pair."""
        return self.predecessors(model, s, visits, config).reshape(-1)[sa]

    def posterior_rows(
        self,
        model: Any,
        key: Key,
        sa: Int[Array, " M"],
        visits: Int[Array, "S A"],
        zero: Int[Array, ""],
        config: DynaQConfig,
    ) -> Any:
        """The rows of the flat pairs ``sa`` of a model drawn from the posterior over models given
        the real transitions (posterior sampling, ``DynaQConfig.posterior``), as a model of ``M``
        states and one action: row ``m`` is pair ``sa[m]``'s. Pair ``sa``'s row is drawn from the
        key ``rng.fold_in(key, sa)`` alone, so rows read in any order and any number of times
        are rows of one and the same draw (``posterior_draw``): a planner that reads 20 rows
        draws 20 rows, not ``S A``. Only count models have one: the default raises
        ``ValueError`` (``check_config`` of such a kind rejects ``posterior`` first)."""
        raise ValueError(
            f"model kind {self.name!r} has no posterior over transitions: posterior sampling "
            "needs a count model (model='count')"
        )

    def posterior_draw(
        self,
        model: Any,
        key: Key,
        visits: Int[Array, "S A"],
        zero: Int[Array, ""],
        config: DynaQConfig,
    ) -> Any:
        """The whole drawn model (``posterior_rows`` of every pair, in the model's own shapes):
        the model a planning call with posterior sampling plans on, row for row the bits its
        rows are drawn with one at a time."""
        n = visits.shape[-2] * visits.shape[-1]
        rows = self.posterior_rows(model, key, jnp.arange(n, dtype=jnp.int32), visits, zero, config)
        return jax.tree.map(lambda row, full: row.reshape(full.shape), rows, model)

    @abc.abstractmethod
    def transition_probs(
        self, model: Any, visits: Int[Array, "*B S A"], config: DynaQConfig
    ) -> Probs:
        """The model's ``T[s, a, s']``, shape ``[*B, S, A, S]``; every row sums to 1."""


# -- maths the count models share ----------------------------------------------------------------


class CountModelKind(ModelKind):
    """A model kind that counts outcomes (the lecture notes' model): the smoothed reward
    ``R' = (1 - alpha) R + alpha r``, backed up with its start's weight divided out."""

    def learn_reward(
        self, r_sa: Float[Array, ""], r: Float[Array, ""], config: DynaQConfig, zero: Int[Array, ""]
    ) -> Float[Array, ""]:
        """``R' = (1 - alpha) R + alpha r`` (``smooth_reward``)."""
        return smooth_reward(r_sa, r, config.learning_rate, zero)

    def reward_estimate(
        self, r: Float[Array, "*N"], visits: Int[Array, "*N"], config: DynaQConfig
    ) -> Float[Array, "*N"]:
        """``R / (1 - (1 - alpha)^N)`` (``debiased_reward``)."""
        return debiased_reward(r, visits, config.learning_rate)


def dirichlet_counts(
    key: Key, alpha: Float[Array, "S A K"], total: Float[Array, "S A"], zero: Int[Array, ""]
) -> Float[Array, "S A K"]:
    """A Dirichlet draw per row, scaled to the row's count: ``total[s,a] * D[s,a,:]`` with
    ``D[s,a,:] ~ Dirichlet(alpha[s,a,:])`` (``0`` where ``alpha = 0``, and a row of zeros where
    ``total = 0``).

    ``D = G / sum G`` with independent ``G_k ~ Gamma(alpha_k, 1)`` (the Dirichlet's gamma
    representation; ``rng.gamma_variates``), the row sums by ``numerics.row_sum``.
    """
    g = gamma_variates(key, alpha, zero)
    norm = row_sum(g)
    scale = jnp.where(norm > 0, rounded(total / jnp.where(norm > 0, norm, 1.0), zero), 0.0)
    return rounded(g * scale[..., None], zero)


def dirichlet_rows(
    key: Key,
    sa: Int[Array, " M"],
    alpha: Float[Array, "M K"],
    total: Float[Array, " M"],
    zero: Int[Array, ""],
) -> Float[Array, "M K"]:
    """``dirichlet_counts`` row by row, row ``m`` from the key ``rng.fold_in(key, sa[m])``: a
    pair's draw depends on the key and the pair alone, not on which other rows are drawn with
    it (``ModelKind.posterior_rows``)."""
    keys = fold_in(key, sa)

    def row(k: Key, a: Float[Array, " K"], t: Float[Array, ""]) -> Float[Array, " K"]:
        return dirichlet_counts(k, a, t, zero)

    drawn: Float[Array, "M K"] = jax.vmap(row)(keys, alpha, total)
    return drawn


def smooth_reward(
    r_sa: FloatScalar, r: FloatScalar, alpha: FloatScalar, zero: Int[Array, ""]
) -> Float[Array, ""]:
    """The lecture notes' reward model update: ``R'[s,a] = (1 - alpha) * R[s,a] + alpha * r``.

    Each product is rounded on its own (``numerics.rounded``).
    """
    kept = rounded((1.0 - alpha) * jnp.asarray(r_sa, jnp.float32), zero)
    return kept + rounded(alpha * jnp.asarray(r, jnp.float32), zero)


def debiased_reward(
    r: Float[Array, "*N"], visits: Int[Array, "*N"], alpha: FloatScalar
) -> Float[Array, "*N"]:
    """The smoothed reward with the weight of its arbitrary start ``R = 0`` divided out.

    After ``N = visits[s,a]`` smoothing steps that start's weight is ``(1 - alpha)^N``; dividing it
    out (Adam's bias correction, Kingma & Ba 2015) leaves the weighted average of the rewards seen:
    ``R_hat = R / (1 - (1 - alpha)^N)`` (``R`` itself where ``N = 0``).
    """
    n = visits.astype(jnp.float32)
    kept = (1.0 - jnp.asarray(alpha, jnp.float32)) ** n
    return jnp.where(n > 0, r / (1.0 - kept), r)


def add_count(
    t_c: Float[Array, "S A K"],
    t_c_cum: Float[Array, "S A K"],
    s: Int[Array, ""],
    a: Int[Array, ""],
    cell: Int[Array, ""],
    on: Bool[Array, ""],
) -> tuple[Float[Array, "S A K"], Float[Array, "S A K"]]:
    """``T_c[s, a, cell] += 1`` and its running sums ``t_c_cum[s, a, j] += 1`` for ``j >= cell``
    (an ``O(K)`` row update); nothing where ``on`` is false or ``cell`` is out of range."""
    t_c = t_c.at[s, a, cell].add(on.astype(jnp.float32), mode="drop")
    tail = (jnp.arange(t_c.shape[-1]) >= cell) & on
    return t_c, t_c_cum.at[s, a].add(tail.astype(jnp.float32))


def count_probs(t_c: Float[Array, "*N S"]) -> Float[Array, "*N S"]:
    """``T = T_c / sum_s' T_c`` row by row, the row sums by ``numerics.row_sum`` (the same bits
    eagerly, under ``jit`` and ``vmap``)."""
    return t_c / row_sum(t_c)[..., None]


__all__ = [
    "CountModelKind",
    "ModelKind",
    "Successors",
    "add_count",
    "count_probs",
    "debiased_reward",
    "dirichlet_counts",
    "dirichlet_rows",
    "smooth_reward",
]
