"""The runtime's source packages (sandbox_runtime/) are importable in these tests, as in the runtime venv."""

from __future__ import annotations

import sys
from pathlib import Path

RUNTIME = Path(__file__).resolve().parents[2] / "sandbox_runtime"
if str(RUNTIME) not in sys.path:
    sys.path.insert(0, str(RUNTIME))
