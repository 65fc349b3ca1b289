"""``python -m dynaq_jax``: the ``dynaq-jax`` command."""

from dynaq_jax.cli import main

raise SystemExit(main())
