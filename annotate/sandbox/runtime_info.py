"""What the sandbox's runtime venv holds, from the module index scripts/setup_sandbox.sh writes into it
(`<venv>/t2j-module-index.json`, built by sandbox_runtime/t2j_runtime/module_index.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

INDEX_NAME = "t2j-module-index.json"


@dataclass
class RuntimeContents:
    """The runtime's Python and packages: `pinned` from sandbox_runtime/requirements.txt, `others` the rest."""

    python: str = ""
    pinned: list[dict] = field(default_factory=list)  # [{"name", "version", "modules": [...]}]
    others: list[dict] = field(default_factory=list)  # [{"name", "version"}], what the pinned ones pulled in
    problem: str = ""  # why nothing is known (no index yet, unreadable)


def contents() -> RuntimeContents:
    """The runtime venv's contents; `problem` says why they are unknown (never raises)."""
    path = Path(settings.T2J_SANDBOX_VENV) / INDEX_NAME
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
        pinned = [
            {"name": str(p["name"]), "version": str(p["version"]), "modules": [str(m) for m in p.get("modules", [])]}
            for p in index["packages"]
        ]
        names = {p["name"].lower() for p in pinned}
        others = sorted(
            (
                {"name": str(name), "version": str(info.get("version", ""))}
                for name, info in index["distributions"].items()
            ),
            key=lambda item: item["name"].lower(),
        )
    except FileNotFoundError:
        return RuntimeContents(problem=f"{path} does not exist: run scripts/setup_sandbox.sh (make install)")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        return RuntimeContents(problem=f"{path} cannot be read: {error}")
    return RuntimeContents(
        python=str(index.get("python", "")),
        pinned=pinned,
        others=[item for item in others if item["name"].lower() not in names],
    )
