"""The profiling script's stand-in variants compute what the library computes (so their timings
compare like with like)."""

import jax
import jax.numpy as jnp
import numpy as np

from dynaq_jax import DynaQConfig
from dynaq_jax.planning import q_updates, simulate
from experiments import profile_hot_loop as prof


def test_scan_variants_equal_the_library_updates() -> None:
    seeds, n_s, n_a = 3, prof.ENV.n_states, prof.ENV.n_actions
    batch = jax.tree.map(lambda x: x[0], prof.random_batches(jax.random.key(0), 1, seeds))
    q0 = jax.random.uniform(jax.random.key(1), (seeds, n_s, n_a))
    alpha, gamma = jnp.full((seeds,), 0.1), jnp.full((seeds,), 0.95)
    on = jnp.ones((seeds,), jnp.bool_)
    want = jax.jit(jax.vmap(q_updates))(q0, batch, alpha, gamma, on)
    for name, (fn, batched) in prof.scan_variants().items():
        run = fn if batched else jax.vmap(fn)
        got = jax.jit(run)(q0, batch, alpha, gamma, on)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7, err_msg=name)


def test_simulate_variants_draw_the_library_transitions() -> None:
    config = DynaQConfig(planning_steps=prof.N)
    seeds, n_s, n_a = 4, prof.ENV.n_states, prof.ENV.n_actions
    states = prof.random_states(jax.random.key(2), seeds, config)
    keys = jax.random.split(jax.random.key(3), seeds)
    cdf = jnp.cumsum(states.t_c.reshape(seeds, n_s * n_a, n_s), axis=-1)
    u = jax.vmap(lambda k: jax.random.uniform(k, (2, prof.N)))(keys)
    want = jax.jit(jax.vmap(lambda s, k: simulate(s, k, config)))(states, keys)
    variants = {
        "uniforms given": jax.vmap(lambda s, c, x: prof.simulate_from_uniforms(s, x, config)),
        "binary search": jax.vmap(lambda s, c, x: prof.simulate_from_cdf(s, c, x, config)),
        "compare-count": jax.vmap(
            lambda s, c, x: prof.simulate_from_cdf(s, c, x, config, binary_search=False)
        ),
    }
    for name, fn in variants.items():
        got = jax.jit(fn)(states, cdf, u)
        for field in ("sa", "s_next", "nonterminal"):
            np.testing.assert_array_equal(
                getattr(got, field), getattr(want, field), err_msg=f"{name}: {field}"
            )
        np.testing.assert_allclose(got.reward, want.reward, rtol=1e-6, err_msg=name)
