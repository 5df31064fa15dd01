"""Inside the sandbox's runtime venv: what makes real programs of the field run with no network."""

__version__ = "0.1.0"
