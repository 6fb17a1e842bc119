"""``python -m tinygrad_mlp ...`` runs the command line."""

from .cli import main

raise SystemExit(main())
