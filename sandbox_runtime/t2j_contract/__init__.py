"""Contract helpers available to programs inside the sandbox (read-only in the runtime venv).

The verification issue fills this package; the sandbox only guarantees it is importable.
"""

from __future__ import annotations

__version__ = "0.1.0"
