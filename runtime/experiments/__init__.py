"""mlc.runtime.experiments: assignment, switchback schedules, exposure logging and analysis,
driven by the compiled ``experiments/config.json`` (docs/experiments.md). See README.md."""
