"""mlc.app: the application layer -- one plain function per workflow, called by the CLI (mlc.cli)."""
