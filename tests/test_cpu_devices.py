"""One process, several cores: ``dynaq_jax.use_cpu_devices`` and the command line's
``--cpu-devices``.

JAX reads its CPU device count once, when it starts: these tests check the count in fresh
processes (``python -c``), the errors once JAX has started (this process), and that the command
line's default of one device per core gives the same bits as one device.
"""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import numpy as np
import pytest

import dynaq_jax as dq
from dynaq_jax import distributed

REPO = Path(__file__).resolve().parents[1]
FLAG = "--xla_force_host_platform_device_count"


def fresh_env(**extra: str) -> dict[str, str]:
    """This environment without XLA_FLAGS, the repository first on the path."""
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    env["JAX_PLATFORMS"] = "cpu"
    env.update(extra)
    return env


def python(code: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=fresh_env(**extra),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_bad_counts_name_the_value() -> None:
    for bad in (0, -2, True, 2.5, "2"):
        with pytest.raises(ValueError, match=rf"n must be None or an int >= 1, got {bad!r}"):
            dq.use_cpu_devices(bad)  # type: ignore[arg-type]


def test_xla_flags_count_is_read() -> None:
    assert distributed.flagged_cpu_devices("") is None
    assert distributed.flagged_cpu_devices(f"--xla_cpu_x=1 {FLAG}=3") == 3
    assert distributed.flagged_cpu_devices(f"{FLAG}=3 {FLAG}=5") == 5  # the last one counts
    assert distributed.flagged_cpu_devices(f"{FLAG}=x") is None
    assert distributed.cpu_cores() >= 1


def test_after_jax_started_the_count_is_kept_or_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    have = len(jax.devices("cpu"))  # JAX has started in this process (conftest)
    assert dq.use_cpu_devices() == have  # the default keeps what JAX has
    assert dq.use_cpu_devices(have) == have
    with pytest.raises(ValueError, match=rf"n={have + 1} CPU devices asked for, .* with {have}"):
        dq.use_cpu_devices(have + 1)
    monkeypatch.setenv("XLA_FLAGS", f"{FLAG}=7")
    with pytest.raises(ValueError, match=rf"n=2 but XLA_FLAGS sets {FLAG}=7"):
        dq.use_cpu_devices(2)


def test_no_cpu_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_cpu(backend: str | None = None) -> list[object]:
        raise RuntimeError(f"Unknown backend {backend}")

    monkeypatch.delenv("XLA_FLAGS", raising=False)
    monkeypatch.setattr(distributed.jax, "devices", no_cpu)
    assert dq.use_cpu_devices() == 0  # nothing to split on CPU: the default backend decides
    with pytest.raises(ValueError, match=r"n=2, but JAX has no CPU backend here \(Unknown"):
        dq.use_cpu_devices(2)


def test_a_fresh_process_gets_the_devices() -> None:
    out = python(
        """
        import dynaq_jax as dq, jax
        print(dq.use_cpu_devices(3), jax.device_count(), jax.devices()[0].platform)
        """
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["3", "3", "cpu"]
    out = python(
        """
        import dynaq_jax as dq, jax
        print(dq.use_cpu_devices(), jax.device_count(), dq.distributed.cpu_cores())
        """
    )
    assert out.returncode == 0, out.stderr[-2000:]
    got, count, cores = map(int, out.stdout.split())
    assert got == count == cores
    # XLA_FLAGS set outside is kept by the default.
    out = python("import dynaq_jax as dq; print(dq.use_cpu_devices())", XLA_FLAGS=f"{FLAG}=5")
    assert out.returncode == 0 and out.stdout.split() == ["5"], out.stderr[-2000:]


def run_cli(out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    argv = ["frozen-lake", "--seeds", "5", "--episodes", "20", "--planning-steps", "5"]
    return subprocess.run(
        [sys.executable, "-m", "dynaq_jax", *argv, "--no-progress", "--out", str(out), *extra],
        cwd=REPO,
        env=fresh_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_cli_splits_the_seeds_over_the_devices_with_the_same_bits(tmp_path: Path) -> None:
    one = run_cli(tmp_path / "one", "--cpu-devices", "1")
    three = run_cli(tmp_path / "three", "--cpu-devices", "3")
    for proc in (one, three):
        assert proc.returncode == 0, proc.stderr[-2000:]
    assert "on 1 cpu device(s)" in one.stdout and "on 3 cpu device(s)" in three.stdout
    for name in ("metrics.npz", "agents.npz"):
        a, b = np.load(tmp_path / "one" / name), np.load(tmp_path / "three" / name)
        assert a.files == b.files
        for key in a.files:
            assert np.asarray(a[key]).tobytes() == np.asarray(b[key]).tobytes(), (name, key)
    bad = run_cli(tmp_path / "bad", "--cpu-devices", "0")
    assert bad.returncode == 2
    assert "dynaq-jax: error: --cpu-devices must be an int >= 1, got 0" in bad.stderr


SPLIT_SCRIPT = """
import hashlib, sys
import dynaq_jax as dq
dq.use_cpu_devices(int(sys.argv[1]))
import jax, numpy as np
from dynaq_jax import distributed
from dynaq_jax.experiments import explore

# 7 rows over the devices (padded to equal blocks, trimmed back)
x = jax.numpy.arange(7.0)
out = distributed.over_local_devices(jax.vmap(lambda v: v * 2 + 1), x)
assert np.asarray(out).tolist() == [2 * i + 1.0 for i in range(7)], out
mdp = explore.ENVS["river-swim"].make()
values = []
for option in ("epsilon-greedy", "posterior"):
    config = explore.option_config(option, "sample", explore.model_for(mdp))
    keys = jax.random.split(jax.random.key(3), 5)
    values.append(np.asarray(explore._run_seeds(mdp, config, keys, 200, 50)))
print(jax.local_device_count(), hashlib.sha256(np.stack(values).tobytes()).hexdigest())
"""


def test_explore_splits_its_seeds_over_the_devices_with_the_same_bits() -> None:
    runs = [python(SPLIT_SCRIPT.replace("sys.argv[1]", str(d))) for d in (1, 3)]
    for out in runs:
        assert out.returncode == 0, out.stderr[-2000:]
    (one, h1), (three, h3) = (out.stdout.split() for out in runs)
    assert (one, three) == ("1", "3") and h1 == h3
