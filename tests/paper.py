"""Where the tests find the paper's published data (../shared/t2j-paper beside the repository; never copied in).

`T2J_SHARED_DIR` points elsewhere (a clone in another folder). Without the data, the tests that read it skip
with the reason, except under CI=true, where they run and fail: CI always has the data.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_DIR = Path(__file__).resolve().parent.parent
SHARED_DIR = Path(os.environ.get("T2J_SHARED_DIR") or REPO_DIR.parent / "shared")
PAPER_DIR = SHARED_DIR / "t2j-paper"
PAPER_DATASET = PAPER_DIR / "fix_bugs_dataset.json"
INTRINSIC = PAPER_DIR / "intrinsic.json"
RESULTS = PAPER_DIR / "results.json"

needs_paper_data = pytest.mark.skipif(
    not PAPER_DIR.is_dir() and os.environ.get("CI") != "true",
    reason=f"the paper's data is not at {PAPER_DIR} (set T2J_SHARED_DIR to the folder holding t2j-paper/)",
)
