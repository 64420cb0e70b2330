"""`python -m mlc` runs the command-line interface."""

from mlc.compiler.cli import main

raise SystemExit(main())
