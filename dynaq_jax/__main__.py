"""``python -m dynaq_jax``: the ``dynaq-jax`` command (``dynaq_jax.experiments.cli``)."""

from dynaq_jax.experiments.cli import main

raise SystemExit(main())
