"""Adapters between the compiled loop's env protocol and the ecosystem's JAX envs.

- ``from_gymnax``: a gymnax 1.0 environment with discrete spaces (e.g. ``FrozenLake-misc``) as an
  env of the protocol (``GymnaxEnv``); needs the optional extra ``dynaq-jax[gymnax]`` only to
  build the gymnax env itself.
- ``from_functional``: a gymnasium functional env (``gymnasium.experimental.functional.FuncEnv``,
  e.g. ``gymnasium.envs.tabular.cliffwalking.CliffWalkingFunctional``) as an env of the protocol
  (``FunctionalEnv``).
- ``as_gymnasium``: the reverse, any env of the protocol as an ordinary ``gymnasium.Env`` with
  ``Discrete`` spaces (``ProtocolGymEnv``, with gymnasium's ``TimeLimit`` for its time limit),
  for the host loop or any gymnasium tooling.

None of them imports gymnax or flax: they use the env objects they are given.
"""

from dynaq_jax.envs.adapters.functional import FunctionalEnv, from_functional
from dynaq_jax.envs.adapters.gymnax_env import GymnaxEnv, from_gymnax
from dynaq_jax.envs.adapters.to_gymnasium import ProtocolGymEnv, as_gymnasium

__all__ = [
    "FunctionalEnv",
    "GymnaxEnv",
    "ProtocolGymEnv",
    "as_gymnasium",
    "from_functional",
    "from_gymnax",
]
