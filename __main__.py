"""`python -m mlc` runs the command-line interface."""

from mlc.cli.main import main

raise SystemExit(main())
