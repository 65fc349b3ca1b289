"""Hyperparameters of a Dyna-Q agent.

``DynaQConfig`` is a frozen dataclass registered as a JAX pytree. The numeric hyperparameters
(``learning_rate``, ``discount``, ``epsilon``, ``kappa``, ``theta``, ``optimism``,
``known_threshold``, ``bonus_beta``, ``posterior_reward_std``) are its *leaves*: they may be Python
floats or arrays, so a sweep stacks many configs (``DynaQConfig.stack``) and ``vmap``s over them.
The structural fields (``planning_steps``, ``model``, ``t_c_prior``, ``planner``,
``outcome_slots``, ``tau_origin``, ``posterior``) are *static*: they change shapes or code paths,
so a different value compiles a different program.
"""

import dataclasses
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from dynaq_jax.checks import FLOAT32_MAX, is_concrete
from dynaq_jax.registry import MODEL_REGISTRY, PLANNER_REGISTRY

MAX_PLANNING_STEPS = 10**6
"""The largest ``planning_steps``: each real step draws ``2 * planning_steps`` uniforms per agent,
so a larger value is almost surely a typo that would exhaust memory."""

MAX_TAU = 2**31 - 1
"""The most real steps a run can count (int32): Dyna-Q+'s ``kappa * sqrt(tau)`` must stay finite in
float32 up to it."""

ModelKind = str
"""A model name: ``"count"`` (``"dense"`` counts, or ``"slots"`` with ``outcome_slots > 0``),
``"deterministic"`` (``"last_seen"``), or the name of any registered model kind."""
MODEL_ALIASES: dict[str, tuple[str, str]] = {
    "count": ("dense", "slots"),
    "deterministic": ("last_seen", "last_seen"),
}
"""The config's model names kept from the first release -> the registered model kind they select
(without, with ``outcome_slots``)."""
MODEL_KINDS: tuple[str, ...] = tuple(MODEL_ALIASES)
"""The model names a command line offers (any registered model kind's name is accepted too)."""
PlannerKind = str
"""A planner name: ``"sample"``, ``"expected"``, ``"sweeping"`` or any registered planner."""
PLANNER_KINDS: tuple[str, ...] = ("sample", "expected", "sweeping")
"""The built-in planners (any registered planner's name is accepted too)."""
TAU_ORIGINS: tuple[str, ...] = ("run", "first_visit")
POSTERIORS: tuple[str, ...] = ("off", "planning")
"""The values of ``DynaQConfig.posterior``: no posterior sampling, or a draw of the model from its
posterior at every planning call (``exploration.posterior_draw``)."""
"""The values of ``DynaQConfig.tau_origin``: where Dyna-Q+'s ``tau`` of a never-tried action
starts counting."""

Leaf = float | Float[Array, "..."]

_LEAVES = (
    "learning_rate",
    "discount",
    "epsilon",
    "kappa",
    "theta",
    "optimism",
    "known_threshold",
    "bonus_beta",
    "posterior_reward_std",
)
_STATIC = (
    "planning_steps",
    "model",
    "t_c_prior",
    "planner",
    "outcome_slots",
    "tau_origin",
    "posterior",
)


def any_positive(value: object) -> bool:
    """Whether a concrete leaf (a float or an array of a sweep) is ``> 0`` anywhere; ``False``
    for a tracer (checks run where values are concrete)."""
    return is_concrete(value) and bool(np.any(np.asarray(value, np.float64) > 0))


def _check_leaf(name: str, value: object, lo: float, hi: float, lo_open: bool) -> None:
    """Raise ``ValueError`` naming ``name`` unless every element lies in the interval."""
    if not is_concrete(value):
        return
    # Only real numbers: ``np.asarray("0.5", float)`` would parse a string (which then fails
    # inside jit) and would turn ``True`` into 1.0.
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError):
        arr = np.asarray(None)
    if isinstance(value, bool) or arr.dtype.kind not in "iuf":
        raise ValueError(f"DynaQConfig.{name} must be a number, got {value!r}")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"DynaQConfig.{name} must be finite, got {value!r}")
    if np.any(np.abs(arr) > FLOAT32_MAX):
        raise ValueError(
            f"DynaQConfig.{name}={value!r} overflows float32 (the library computes in float32: "
            f"at most {FLOAT32_MAX:.3g})"
        )
    below = arr <= lo if lo_open else arr < lo
    if np.any(below) or np.any(arr > hi):
        left = "(" if lo_open else "["
        right = "]" if np.isfinite(hi) else ")"
        raise ValueError(f"DynaQConfig.{name} must lie in {left}{lo}, {hi}{right}, got {value!r}")


@jax.tree_util.register_pytree_node_class
@dataclasses.dataclass(frozen=True)
class DynaQConfig:
    """Dyna-Q hyperparameters (validated on construction).

    Attributes:
        learning_rate: ``alpha`` in ``Q[s,a] += alpha * (target - Q[s,a])`` and in the reward
            smoothing ``R[s,a] = (1 - alpha) R[s,a] + alpha r``; in ``(0, 1]``.
        discount: ``gamma``; in ``[0, 1]``.
        epsilon: exploration rate of epsilon-greedy acting; in ``[0, 1]``.
        planning_steps: ``n``, simulated updates per real step (static); an int ``>= 0``.
        model: ``"count"`` (the lecture notes' ``T_c``/``R``) or ``"deterministic"`` (the
            notebook's and Sutton & Barto's last-seen ``(s', r)``); static.
        kappa: Dyna-Q+ exploration bonus ``kappa * sqrt(tau)``; ``0`` is plain Dyna-Q; ``>= 0``.
        t_c_prior: initial value of every ``T_c`` cell (the notes' "very small number"); ``> 0``.
        planner: how the ``planning_steps`` simulated updates are made (static; see
            ``dynaq_jax.planners``): ``"sample"`` (Dyna-Q: a uniform tried pair, a sampled ``s'``,
            an ``alpha`` step), ``"expected"`` (a uniform tried pair, the full backup
            ``Q[s,a] = R_hat[s,a] + gamma sum_s' T[s,a,s'] (1 - terminal[s']) max Q[s']``,
            ``R_hat`` the de-biased reward model ``planners.reward_estimate``) or
            ``"sweeping"`` (prioritized sweeping, Sutton & Barto 8.4: up to ``n`` pops of the
            pair of largest priority, then its predecessors' priorities; the real transition
            enters the queue instead of a direct update). ``kappa > 0`` needs ``"sample"``.
        theta: prioritized sweeping's threshold: a pair enters the queue only with priority
            ``|target - Q[s,a]| > theta``; ``>= 0``. Unused by the other planners.
        optimism: R-max-style optimism for untried pairs, the reward bound ``r_max`` (``0`` is
            off): every untried action of a state seen in the real world is valued
            ``r_max / (1 - gamma)`` until it is tried; ``>= 0``, needs ``discount < 1`` and
            ``kappa = 0``.
        outcome_slots: how the counts ``T_c`` are stored (static). ``0``: densely, ``[S, A, S]``
            (the notes' model; ``2 * 4 * S * A * S`` bytes per agent with its running sums).
            ``K > 0``: the *compact* model, ``K`` outcome slots per pair ``[S, A, K]``, each
            holding one observed ``s'`` and its count, filled in order of first observation.
            Exact for environments where every pair has at most ``K`` distinct outcomes (``1``
            for deterministic ones such as Taxi, ``3`` for slippery FrozenLake); a transition to a
            ``(K + 1)``-th outcome is not stored and is counted in ``DynaQState.dropped`` (the
            trainers warn). The compact model plans with ``T = counts / visits`` over the
            observed outcomes: the prior's mass on unobserved states is not represented.
        tau_origin: where Dyna-Q+'s ``tau`` of an action never tried from a visited state counts
            from (static; only matters with ``kappa > 0``). ``"run"`` (the default): from the
            start of the run, ``tau = real_steps - 1``, as Sutton & Barto 8.3 define it ("has not
            been tried in tau time steps") and as the common reproduction
            (ShangtongZhang/reinforcement-learning-an-introduction, chapter08/maze.py, untried
            actions stamped with time 1, ``tau = time - stamp``) computes it. ``"first_visit"``:
            from the first visit of the state, the untried actions stamped as tried then (this
            library's behaviour before the field existed, so what files saved without it were
            trained with: ``io.load`` reads such a file as ``"first_visit"``). A tried action's
            ``tau`` counts from its last try under both.
        known_threshold: R-max's known-ness threshold ``m`` (Brafman and Tennenholtz 2002): with
            ``optimism > 0`` a pair stays *unknown*, valued ``optimism / (1 - gamma)`` by every
            update, until it was tried ``m`` times; an integer ``>= 1`` (``1``: unknown until
            tried once). ``> 1`` needs ``optimism > 0``.
        bonus_beta: MBIE-EB's exploration bonus ``beta / sqrt(n(s, a))`` (Strehl and Littman
            2008, section 4.2) added to the planned reward of every tried pair, ``n`` its real
            tries; ``0`` is off; ``>= 0``. Works with every planner and model kind.
        posterior: posterior sampling (static): ``"off"``, or ``"planning"``: every planning call
            draws ``T[s, a, :] ~ Dirichlet(T_c[s, a, :])`` for every tried pair and plans on the
            draw (PSRL, Osband, Russo and Van Roy 2013, with the draw renewed per planning call
            instead of per episode); needs a count model.
        posterior_reward_std: the reward's posterior with ``posterior="planning"``: the planned
            reward of a tried pair is drawn as ``R[s,a] + sigma * xi / sqrt(n(s,a))``,
            ``xi ~ N(0, 1)`` (a Gaussian posterior with known noise ``sigma``); ``0`` plans on
            the reward estimate itself; ``>= 0``, ``> 0`` needs ``posterior="planning"``.
    """

    learning_rate: Leaf = 0.1
    discount: Leaf = 0.95
    epsilon: Leaf = 0.1
    planning_steps: int = 50
    model: ModelKind = "count"
    kappa: Leaf = 0.0
    t_c_prior: float = 1e-5
    planner: PlannerKind = "sample"
    theta: Leaf = 1e-4
    optimism: Leaf = 0.0
    outcome_slots: int = 0
    tau_origin: str = "run"
    known_threshold: Leaf = 1
    bonus_beta: Leaf = 0.0
    posterior: str = "off"
    posterior_reward_std: Leaf = 0.0

    def __post_init__(self) -> None:
        _check_leaf("learning_rate", self.learning_rate, 0.0, 1.0, lo_open=True)
        _check_leaf("discount", self.discount, 0.0, 1.0, lo_open=False)
        _check_leaf("epsilon", self.epsilon, 0.0, 1.0, lo_open=False)
        _check_leaf("kappa", self.kappa, 0.0, float("inf"), lo_open=False)
        steps = self.planning_steps
        if isinstance(steps, bool) or not isinstance(steps, int | np.integer) or steps < 0:
            raise ValueError(f"DynaQConfig.planning_steps must be an int >= 0, got {steps!r}")
        if steps > MAX_PLANNING_STEPS:
            raise ValueError(
                f"DynaQConfig.planning_steps={steps!r} exceeds {MAX_PLANNING_STEPS} (each real "
                "step draws 2 * planning_steps uniforms per agent)"
            )
        object.__setattr__(self, "planning_steps", int(steps))
        models = (*MODEL_ALIASES, *(n for n in MODEL_REGISTRY if n not in MODEL_ALIASES))
        if not isinstance(self.model, str) or self.model not in models:
            raise ValueError(f"DynaQConfig.model must be one of {models}, got {self.model!r}")
        prior = self.t_c_prior
        if (
            isinstance(prior, bool)
            or not isinstance(prior, int | float | np.floating | np.integer)
            or not np.isfinite(prior)
            or prior <= 0
        ):
            raise ValueError(f"DynaQConfig.t_c_prior must be a finite float > 0, got {prior!r}")
        if not float(np.finfo(np.float32).tiny) <= float(prior) <= FLOAT32_MAX / 2**31:
            raise ValueError(
                f"DynaQConfig.t_c_prior={prior!r} is not representable as a positive float32 count "
                "(it underflows to 0 or overflows)"
            )
        object.__setattr__(self, "t_c_prior", float(prior))
        if not isinstance(self.planner, str) or self.planner not in PLANNER_REGISTRY:
            raise ValueError(
                f"DynaQConfig.planner must be one of {PLANNER_REGISTRY.names()}, "
                f"got {self.planner!r}"
            )
        slots = self.outcome_slots
        if isinstance(slots, bool) or not isinstance(slots, int | np.integer) or slots < 0:
            raise ValueError(f"DynaQConfig.outcome_slots must be an int >= 0, got {slots!r}")
        object.__setattr__(self, "outcome_slots", int(slots))
        if not isinstance(self.tau_origin, str) or self.tau_origin not in TAU_ORIGINS:
            raise ValueError(
                f"DynaQConfig.tau_origin must be one of {TAU_ORIGINS}, got {self.tau_origin!r}"
            )
        _check_leaf("theta", self.theta, 0.0, float("inf"), lo_open=False)
        _check_leaf("optimism", self.optimism, 0.0, float("inf"), lo_open=False)
        _check_leaf("known_threshold", self.known_threshold, 1.0, float(MAX_TAU), lo_open=False)
        if is_concrete(self.known_threshold):
            m = np.asarray(self.known_threshold, np.float64)
            if np.any(m != np.floor(m)):
                raise ValueError(
                    f"DynaQConfig.known_threshold must be an integer >= 1 (R-max's m), "
                    f"got {self.known_threshold!r}"
                )
        _check_leaf("bonus_beta", self.bonus_beta, 0.0, float("inf"), lo_open=False)
        if not isinstance(self.posterior, str) or self.posterior not in POSTERIORS:
            raise ValueError(
                f"DynaQConfig.posterior must be one of {POSTERIORS}, got {self.posterior!r}"
            )
        _check_leaf(
            "posterior_reward_std", self.posterior_reward_std, 0.0, float("inf"), lo_open=False
        )
        self._check_combinations()
        PLANNER_REGISTRY[self.planner].check_config(self)
        MODEL_REGISTRY[self.model_kind].check_config(self)

    @property
    def model_kind(self) -> str:
        """The registered model kind this config selects: ``"count"`` is ``"dense"``, or
        ``"slots"`` with ``outcome_slots > 0``; ``"deterministic"`` is ``"last_seen"``; any other
        name is itself. (The one place the model name is resolved.)"""
        alias = MODEL_ALIASES.get(self.model)
        if alias is None:
            return self.model
        return alias[1] if self.outcome_slots else alias[0]

    def _check_combinations(self) -> None:
        """``optimism > 0`` needs ``discount < 1`` (a finite ``r_max / (1 - gamma)``) and
        ``kappa = 0`` (Dyna-Q+ models untried actions itself). Checked where the values are
        concrete; each planner and model kind checks its own fields (``check_config``)."""
        values = (self.optimism, self.discount, self.kappa, self.known_threshold)
        if not all(is_concrete(v) for v in values):
            return
        kappa = np.asarray(self.kappa, np.float64)
        if np.any(kappa * np.sqrt(MAX_TAU) > FLOAT32_MAX):
            raise ValueError(
                f"DynaQConfig.kappa={self.kappa!r} is too large: the bonus kappa * sqrt(tau) "
                f"overflows float32 within {MAX_TAU} steps"
            )
        on = np.asarray(self.optimism, np.float64) > 0
        if np.any(on & (np.asarray(self.discount, np.float64) >= 1.0)):
            raise ValueError(
                f"DynaQConfig.optimism={self.optimism!r} needs discount < 1 (the optimistic "
                f"value is optimism / (1 - discount)), got discount={self.discount!r}"
            )
        with np.errstate(divide="ignore", invalid="ignore"):
            vmax = np.asarray(self.optimism, np.float64) / (
                1.0 - np.asarray(self.discount, np.float64)
            )
        if np.any(on & (np.abs(vmax) > FLOAT32_MAX)):
            raise ValueError(
                f"DynaQConfig.optimism={self.optimism!r} with discount={self.discount!r} gives the "
                f"optimistic value optimism / (1 - discount) beyond float32 ({FLOAT32_MAX:.3g})"
            )
        if np.any(~on & (np.asarray(self.known_threshold, np.float64) > 1)):
            raise ValueError(
                f"DynaQConfig.known_threshold={self.known_threshold!r} needs optimism > 0 (R-max's "
                f"m says how long a pair stays optimistic), got optimism={self.optimism!r}"
            )
        if self.posterior == "off" and any_positive(self.posterior_reward_std):
            raise ValueError(
                f"DynaQConfig.posterior_reward_std={self.posterior_reward_std!r} needs "
                "posterior='planning' (it is the width of the reward's posterior draw)"
            )
        if np.any(on & (np.asarray(self.kappa, np.float64) > 0)):
            raise ValueError(
                f"DynaQConfig.optimism={self.optimism!r} and kappa={self.kappa!r} cannot both be "
                "> 0: Dyna-Q+ models untried actions as returning to their state"
            )

    # -- pytree protocol: leaves are the numeric hyperparameters, the rest is static --------------
    def tree_flatten(self) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        return tuple(getattr(self, f) for f in _LEAVES), tuple(getattr(self, f) for f in _STATIC)

    @classmethod
    def tree_unflatten(cls, aux: tuple[Any, ...], leaves: Sequence[Any]) -> "DynaQConfig":
        # JAX rebuilds configs with tracers or placeholders as leaves: skip validation here.
        obj = object.__new__(cls)
        for name, value in zip(_LEAVES, leaves, strict=True):
            object.__setattr__(obj, name, value)
        for name, value in zip(_STATIC, aux, strict=True):
            object.__setattr__(obj, name, value)
        return obj

    def replace(self, **changes: Any) -> "DynaQConfig":
        """A copy with ``changes`` applied (validated like a new config)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The config as plain Python values (arrays become nested lists), for JSON."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = np.asarray(value).tolist() if f.name in _LEAVES else value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "DynaQConfig":
        """Inverse of ``to_dict``; unknown keys raise ``ValueError``, missing ones take their
        defaults (no guessing from the other fields: a caller that knows a dict predates a field,
        such as ``io.load`` for ``tau_origin``, sets it before calling)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown DynaQConfig fields: {unknown}")
        kwargs: dict[str, Any] = {
            k: (np.asarray(v, np.float32) if k in _LEAVES and isinstance(v, list) else v)
            for k, v in data.items()
        }
        return cls(**kwargs)

    @property
    def batch_shape(self) -> tuple[int, ...]:
        """Common shape of the leaves: ``()`` for one config, ``(B,)`` for a stacked sweep."""
        shapes = {np.shape(getattr(self, f)) for f in _LEAVES}
        return max(shapes, key=len) if shapes else ()

    @classmethod
    def stack(cls, configs: Sequence["DynaQConfig"]) -> "DynaQConfig":
        """Stack configs that share their static fields into one with leaves of shape ``[B]``.

        ``jax.vmap(f, in_axes=(0, ...))(DynaQConfig.stack(cs), ...)`` runs every config at once.
        """
        if not configs:
            raise ValueError("DynaQConfig.stack needs at least one config")
        first = configs[0]
        for i, c in enumerate(configs):
            for name in _STATIC:
                if getattr(c, name) != getattr(first, name):
                    raise ValueError(
                        f"DynaQConfig.stack: config {i} has {name}={getattr(c, name)!r}, "
                        f"config 0 has {getattr(first, name)!r}; static fields must agree "
                        "(run one sweep per value)"
                    )
        leaves: dict[str, Any] = {
            name: jnp.asarray([getattr(c, name) for c in configs], dtype=jnp.float32)
            for name in _LEAVES
        }
        static: dict[str, Any] = {name: getattr(first, name) for name in _STATIC}
        return cls(**leaves, **static)
