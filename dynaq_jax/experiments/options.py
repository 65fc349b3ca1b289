"""Typed options: each check of a protocol field is declared once, in the field's annotation.

A field annotated ``PositiveInt`` (``Annotated[int, POSITIVE_INT, POSITIVE_INT.cli()]``) carries a
``FieldCheck``, which is used twice:

- ``check_fields(protocol)``, called by each protocol's ``__post_init__``, applies it to the
  value (``ValueError``: ``"FrozenLakeProtocol: seeds must be a positive int, got 0"``);
- ``FieldCheck.cli()`` is the same check as a tyro constructor: the command line applies it to
  the option's text while it parses (``dynaq-jax: error: argument --seeds: must be a positive
  int, got '0'``).

Counts are bounded above too (``maximum``): every count (seeds, runs, episodes, steps) is at most
``MAX_COUNT`` (``2**31 - 1``: JAX counts in int32), a PRNG seed at most ``MAX_SEED``
(``2**32 - 1``: a larger seed gives the key of a smaller one), ``planning_steps`` at most
``MAX_PLANNING_STEPS`` (``10**6``), and ``check_planning_draw`` bounds the planned updates of one
real step over all agents (``planning_steps x agents <= MAX_PLANNING_DRAW = 10**8``), so an
absurd size is an error naming the value and the bound before any JAX work, not an overflow or
an allocation failure inside JAX.

The hyperparameters that ``DynaQConfig`` validates (``LearningRate``, ``Discount``, ``Epsilon``,
``Kappa``, ``PlanningSteps``) are not checked here again: their ``FieldCheck`` names the config
field, and the command line builds ``DynaQConfig(**{field: value})`` and reports its
``ValueError``; a protocol validates them by building its whole config.
"""

import dataclasses
import math
import typing
from typing import Annotated, Any

import numpy as np
from tyro.constructors import PrimitiveConstructorSpec

from dynaq_jax.config import MAX_PLANNING_STEPS as CONFIG_MAX_PLANNING_STEPS
from dynaq_jax.config import MODEL_KINDS, DynaQConfig

_KIND_NAMES = {int: "an int", float: "a number", str: "a string"}
_KIND_TYPES: dict[type, tuple[type, ...]] = {
    int: (int, np.integer),
    float: (int, float, np.integer, np.floating),
    str: (str,),
}


@dataclasses.dataclass(frozen=True)
class FieldCheck:
    """What the value of one option (a protocol field) must be.

    Attributes:
        kind: ``int``, ``float`` or ``str``: the type the text is parsed as (bools never pass).
        requirement: the range in words (``"a positive int"``), shown in errors; ``""``: no range.
        minimum: the lower bound of the range (``None``: none).
        strict: the value must exceed ``minimum`` (otherwise it may equal it).
        maximum: the upper bound (inclusive; ``None``: none).
        maximum_text: ``maximum`` in words for the errors (``""``: the number).
        choices: the allowed values (strings), if only some are.
        config_field: ``DynaQConfig`` validates the value under this field name (``""``: no).
        metavar: the placeholder in the command line's help (``""``: tyro's, e.g. ``INT``).
        many: the option takes one or more values (a tuple); each is checked.
        optional: ``None`` is allowed (the option is not given).
    """

    kind: type
    requirement: str = ""
    minimum: float | None = None
    strict: bool = False
    maximum: float | None = None
    maximum_text: str = ""
    choices: tuple[str, ...] = ()
    config_field: str = ""
    metavar: str = ""
    many: bool = False
    optional: bool = False

    def _is_kind(self, value: object) -> bool:
        return not isinstance(value, bool) and isinstance(value, _KIND_TYPES[self.kind])

    def _out_of_range(self, value: Any) -> bool:
        if self.minimum is None:
            return False
        return not (value > self.minimum if self.strict else value >= self.minimum)

    def _too_large(self, value: Any) -> bool:
        return self.maximum is not None and value > self.maximum

    def _at_most(self) -> str:
        return f"at most {self.maximum_text or self.maximum}"

    def check(self, where: str, name: str, value: object) -> None:
        """Raise ``ValueError`` (``"{where}: {name} must be ..., got ..."``) unless ``value``
        passes; a ``many`` value is checked element by element."""
        if value is None and self.optional:
            return
        values = value if self.many and isinstance(value, tuple | list) else (value,)
        for v in values:
            if self.choices:
                if v not in self.choices:
                    raise ValueError(
                        f"{where}: unknown {name} {v!r}; choose from {list(self.choices)}"
                    )
            elif (
                not self._is_kind(v)
                or (self.requirement and self._out_of_range(v))
                or (self.kind is float and not self.config_field and not math.isfinite(v))
            ):
                what = self.requirement or _KIND_NAMES[self.kind]
                raise ValueError(f"{where}: {name} must be {what}, got {v!r}")
            elif self._too_large(v):
                raise ValueError(f"{where}: {name} must be {self._at_most()}, got {v!r}")

    def parse(self, text: str) -> Any:
        """The value of one command-line ``text``, checked (``ValueError`` otherwise): parsed as
        ``kind``, within the range, and accepted by ``DynaQConfig`` when ``config_field``."""
        if self.choices:
            if text not in self.choices:
                raise ValueError(f"invalid choice {text!r} (choose from {list(self.choices)})")
            return text
        value = self.kind(text)
        if self.kind is float and not math.isfinite(value) and not self.config_field:
            raise ValueError(f"expected a finite number, got {text!r}")
        if self.requirement and self._out_of_range(value):
            raise ValueError(f"must be {self.requirement}, got {text!r}")
        if self._too_large(value):
            raise ValueError(f"must be {self._at_most()}, got {text!r}")
        if self.config_field:
            DynaQConfig(**{self.config_field: value})  # its ValueError names the field and value
        return value

    def cli(self) -> PrimitiveConstructorSpec[Any]:
        """This check as a tyro constructor (put it in the field's ``Annotated`` too)."""

        def from_text(args: list[str]) -> Any:
            if not self.many:
                return self.parse(args[0])
            if not args:
                raise ValueError("expected at least one value")
            return tuple(self.parse(a) for a in args)

        def is_instance(value: object) -> bool:
            if value is None:
                return self.optional
            if self.many:
                return isinstance(value, tuple) and all(self._is_kind(v) for v in value)
            return self._is_kind(value)

        def to_text(value: Any) -> list[str]:
            if value is None:
                return []
            return [str(v) for v in value] if self.many else [str(value)]

        metavar = self.metavar or (
            "{" + ",".join(self.choices) + "}" if self.choices else self.kind.__name__.upper()
        )
        return PrimitiveConstructorSpec(
            nargs="*" if self.many else 1,
            metavar=f"{metavar} [{metavar} ...]" if self.many else metavar,
            instance_from_str=from_text,
            is_instance=is_instance,
            str_from_instance=to_text,
            choices=self.choices or None,
        )


_FIELD_CHECKS: dict[type, tuple[tuple[str, FieldCheck], ...]] = {}


def field_checks(cls: type) -> tuple[tuple[str, FieldCheck], ...]:
    """``(field name, check)`` for every ``FieldCheck`` in the annotations of dataclass ``cls``."""
    if cls not in _FIELD_CHECKS:
        hints = typing.get_type_hints(cls, include_extras=True)
        _FIELD_CHECKS[cls] = tuple(
            (f.name, meta)
            for f in dataclasses.fields(cls)
            for meta in getattr(hints[f.name], "__metadata__", ())
            if isinstance(meta, FieldCheck)
        )
    return _FIELD_CHECKS[cls]


def check_fields(obj: object) -> None:
    """Apply the ``FieldCheck`` of every field of the dataclass instance ``obj`` (``ValueError``
    naming the class, the field and the value)."""
    where = type(obj).__name__
    for name, check in field_checks(type(obj)):
        check.check(where, name, getattr(obj, name))


MAX_COUNT = 2**31 - 1
"""The largest count (seeds, runs, episodes, steps): JAX counts in int32."""
MAX_SEED = 2**32 - 1
"""The largest PRNG seed: ``jax.random.key`` keeps 32 bits, so seed ``2**32`` is seed 0 again."""
MAX_PLANNING_STEPS = CONFIG_MAX_PLANNING_STEPS
"""The largest ``planning_steps`` the command line takes (the core's own bound)."""
MAX_PLANNING_DRAW = 10**8
"""The most planned updates of one real step over all agents trained together
(``planning_steps x agents``): one real step's planning draw is held in memory at once, about 55
bytes per planned update (FrozenLake, measured), so the bound is about 5 GB."""

_COUNT_TEXT = "2147483647 (2**31 - 1: JAX counts in int32)"
POSITIVE_INT = FieldCheck(
    int, "a positive int", minimum=1, maximum=MAX_COUNT, maximum_text=_COUNT_TEXT
)
NON_NEGATIVE_INT = FieldCheck(
    int, "an int >= 0", minimum=0, maximum=MAX_COUNT, maximum_text=_COUNT_TEXT
)
SEED = FieldCheck(
    int,
    "an int >= 0",
    minimum=0,
    maximum=MAX_SEED,
    maximum_text="4294967295 (2**32 - 1: a larger seed gives the key of a smaller one)",
    metavar="SEED",
)
MODEL = FieldCheck(str, choices=MODEL_KINDS)
LEARNING_RATE = FieldCheck(float, config_field="learning_rate", metavar="ALPHA")
DISCOUNT = FieldCheck(float, config_field="discount", metavar="GAMMA")
EPSILON = FieldCheck(float, config_field="epsilon")
KAPPA = FieldCheck(float, config_field="kappa")
THETA = FieldCheck(float, config_field="theta")
PLUS_KAPPA = FieldCheck(
    float, "> 0 (the Dyna-Q+ bonus)", minimum=0.0, strict=True, config_field="kappa"
)
PLANNING_STEPS = FieldCheck(
    int,
    config_field="planning_steps",
    metavar="N",
    maximum=MAX_PLANNING_STEPS,
    maximum_text=f"{MAX_PLANNING_STEPS} (planned updates per real step)",
)

PositiveInt = Annotated[int, POSITIVE_INT, POSITIVE_INT.cli()]
"""An int ``>= 1``."""
NonNegativeInt = Annotated[int, NON_NEGATIVE_INT, NON_NEGATIVE_INT.cli()]
"""An int ``>= 0``."""
Seed = Annotated[int, SEED, SEED.cli()]
"""A PRNG seed: an int in ``[0, 2**32 - 1]``."""
Model = Annotated[str, MODEL, MODEL.cli()]
"""A model the command line offers: ``config.MODEL_KINDS`` (``"count"``, ``"deterministic"``)."""
LearningRate = Annotated[float, LEARNING_RATE, LEARNING_RATE.cli()]
"""``DynaQConfig.learning_rate``: in ``(0, 1]``."""
Discount = Annotated[float, DISCOUNT, DISCOUNT.cli()]
"""``DynaQConfig.discount``: in ``[0, 1]``."""
Epsilon = Annotated[float, EPSILON, EPSILON.cli()]
"""``DynaQConfig.epsilon``: in ``[0, 1]``."""
Kappa = Annotated[float, KAPPA, KAPPA.cli()]
"""``DynaQConfig.kappa``: ``>= 0`` (``0`` is plain Dyna-Q)."""
Theta = Annotated[float, THETA, THETA.cli()]
"""``DynaQConfig.theta``: prioritized sweeping's priority threshold, ``>= 0``."""
PlusKappa = Annotated[float, PLUS_KAPPA, PLUS_KAPPA.cli()]
"""A Dyna-Q+ ``kappa``: ``> 0`` (and a valid ``DynaQConfig.kappa``)."""
PlanningSteps = Annotated[int, PLANNING_STEPS, PLANNING_STEPS.cli()]
"""``DynaQConfig.planning_steps``: an int in ``[0, MAX_PLANNING_STEPS]``."""


def check_planning_draw(where: str, planning_steps: int, agents: int, what: str = "seeds") -> None:
    """Raise ``ValueError`` unless ``planning_steps x agents <= MAX_PLANNING_DRAW``: the planned
    updates of one real step over the ``agents`` trained together (``what``: what they are
    called, in the message)."""
    total = planning_steps * agents
    if total > MAX_PLANNING_DRAW:
        raise ValueError(
            f"{where}: planning_steps x {what} = {planning_steps} x {agents} = {total} planned "
            f"updates per real step exceeds {MAX_PLANNING_DRAW} (one real step's planning draw is "
            "held in memory at once); use fewer seeds or fewer planning steps"
        )


__all__ = [
    "DISCOUNT",
    "EPSILON",
    "KAPPA",
    "LEARNING_RATE",
    "MAX_COUNT",
    "MAX_PLANNING_DRAW",
    "MAX_PLANNING_STEPS",
    "MAX_SEED",
    "MODEL",
    "NON_NEGATIVE_INT",
    "PLANNING_STEPS",
    "PLUS_KAPPA",
    "POSITIVE_INT",
    "SEED",
    "THETA",
    "Discount",
    "Epsilon",
    "FieldCheck",
    "Kappa",
    "LearningRate",
    "Model",
    "NonNegativeInt",
    "PlanningSteps",
    "PlusKappa",
    "PositiveInt",
    "Seed",
    "Theta",
    "check_fields",
    "check_planning_draw",
    "field_checks",
]
