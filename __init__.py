"""mlc: one declarative spec compiled into every artifact an ML application needs."""

__version__ = "0.1.0"
