"""Scores CodeBLEU pairs read as JSON from stdin; run as a separate interpreter with PYTHONHASHSEED=0.

Kept free of Django so a worker starts fast. Input: [[candidate, reference], ...]. Output: one dict per pair.
The data-flow component iterates over sets, so its value depends on the interpreter's hash seed; the parent
starts this file with a fixed seed (setting it inside a running interpreter would have no effect).
"""

from __future__ import annotations

import json
import os
import sys

WEIGHTS = (0.25, 0.25, 0.25, 0.25)
KEYS = ("codebleu", "ngram_match_score", "weighted_ngram_match_score", "syntax_match_score", "dataflow_match_score")


def score(candidate: str, reference: str) -> dict:
    from codebleu import calc_codebleu

    try:
        result = calc_codebleu([reference], [candidate], lang="python", weights=WEIGHTS)
    except Exception as error:  # one unparseable program must not sink the batch
        return {"error": f"{type(error).__name__}: {error}"}
    return {key: float(result[key]) for key in KEYS} | {"hash_seed": os.environ.get("PYTHONHASHSEED", "")}


def main() -> None:
    pairs = json.load(sys.stdin)
    json.dump([score(candidate, reference) for candidate, reference in pairs], sys.stdout)


if __name__ == "__main__":
    main()
