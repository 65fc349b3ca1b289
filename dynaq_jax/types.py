"""Shape-annotated array aliases used across dynaq_jax.

Dimension names: ``S`` states, ``A`` actions, ``N`` planning updates, ``B`` a batch (seeds).
"""

from typing import TypeAlias

from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

QTable: TypeAlias = Float[Array, "S A"]
"""Action values ``Q[s, a]``."""

Counts: TypeAlias = Float[Array, "S A K"]
"""Transition counts: ``T_c[s, a, s']`` (``K = S``, initialised to a small prior), or the compact
model's counts of ``K`` outcome slots per pair (``DynaQConfig.outcome_slots``)."""

Probs: TypeAlias = Float[Array, "S A S"]
"""Transition probabilities ``T[s, a, s'] = T_c[s, a, s'] / sum_s'' T_c[s, a, s'']``."""

RewardTable: TypeAlias = Float[Array, "S A"]
"""Reward model ``R[s, a]``."""

Policy: TypeAlias = Int[Array, " S"]
"""A deterministic policy: one action per state."""

Values: TypeAlias = Float[Array, " S"]
"""State values ``V[s]``."""

IntScalar: TypeAlias = int | Int[Array, ""]
"""A state or action index: a Python int or a scalar integer array."""

FloatScalar: TypeAlias = float | Float[Array, ""]
"""A reward or hyperparameter: a Python float or a scalar float array."""

BoolScalar: TypeAlias = bool | Bool[Array, ""]
"""A flag such as ``terminated``."""

Key: TypeAlias = PRNGKeyArray
"""A JAX PRNG key (``jax.random.key`` or legacy ``PRNGKey``)."""

__all__ = [
    "BoolScalar",
    "Counts",
    "FloatScalar",
    "IntScalar",
    "Key",
    "Policy",
    "Probs",
    "QTable",
    "RewardTable",
    "Values",
]
