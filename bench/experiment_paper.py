"""The paper's intrinsic experiment end to end, as one experiment: its 20 samples, CodeBLEU against
groundtruth_before_fix, against the published figures.

    .venv/bin/python bench/experiment_paper.py [--with-sandbox] [--json]

In a throw-away SQLite database (never yours): imports intrinsic.json (scripts/import_intrinsic.py) and
results.json (`import_results`, source t2j-paper), starts a local OpenAI-compatible server that answers every
drafting prompt with the paper's draft of that sample for that prompt mode (tests/evaluate/paper_llm.py; the real
openai SDK over real HTTP), then `manage.py experiment create / run --step draft / run --step metrics / report
--format json` with arms baseline (standard prompt) and t2j (T2J prompt) on the 20 samples of results.json.
Prints, per arm, the mean CodeBLEU ours vs published with the largest per-sample difference, the paired difference
t2j − baseline with its bootstrap CI and Wilcoxon p, and the wall time of each command. --with-sandbox adds the
run step (the 40 drafts through the sandbox: minutes; take the machine's heavy lock around it).
"""

from __future__ import annotations

import argparse
import atexit
import importlib.util
import io
import json
import logging
import os
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
_WORKDIR = tempfile.mkdtemp(prefix="t2j-bench-experiment-")
atexit.register(shutil.rmtree, _WORKDIR, ignore_errors=True)
warnings.filterwarnings("ignore", "No directory at", UserWarning)  # WhiteNoise: no collectstatic here
# Forced, not defaulted: the bench writes an experiment and must never write it into a real database.
os.environ["T2J_DATA_DIR"] = _WORKDIR
os.environ["DATABASE_URL"] = f"sqlite:///{_WORKDIR}/bench.sqlite3"
os.environ["OPENAI_API_KEY"] = "bench-key"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "t2j_site.settings")

from pytest_httpserver import HTTPServer  # noqa: E402

SERVER = HTTPServer(host="127.0.0.1", port=0)
SERVER.start()
atexit.register(SERVER.stop)
os.environ["OPENAI_BASE_URL"] = SERVER.url_for("/v1")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402

from tests.evaluate.paper_llm import answering_handler, paper_samples  # noqa: E402
from tests.paper import INTRINSIC, RESULTS  # noqa: E402

PUBLISHED_MEANS = {"baseline": 0.1891, "t2j": 0.2881}  # the paper's Table (CodeBLEU, A and B columns)


def _import_intrinsic():
    spec = importlib.util.spec_from_file_location("import_intrinsic", ROOT / "scripts" / "import_intrinsic.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.import_intrinsic


def _timed(timings: dict, label: str, *args) -> None:
    start = time.perf_counter()
    call_command(*args, stdout=io.StringIO())
    timings[label] = round(time.perf_counter() - start, 2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--with-sandbox", action="store_true", help="also run every draft in the sandbox")
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    args = parser.parse_args()
    for noisy in ("httpx", "httpx2", "openai", "werkzeug"):  # one line per LLM request otherwise
        logging.getLogger(noisy).setLevel(logging.WARNING)
    call_command("migrate", verbosity=0)
    _import_intrinsic()(INTRINSIC)
    call_command("import_results", str(RESULTS), "--source", "t2j-paper", stdout=io.StringIO())
    published = json.loads(RESULTS.read_text())["intrinsic"]["codebleu"]
    samples = sorted((key.removesuffix(".py") for key in published), key=lambda k: (k[0], int(k[1:])))
    SERVER.expect_request("/v1/chat/completions").respond_with_handler(answering_handler(paper_samples()))
    spec = {
        "name": "paper-intrinsic",
        "description": "The T2J paper's intrinsic CodeBLEU, its drafts served by a stand-in LLM.",
        "samples": samples,
        "reference": "groundtruth_before_fix",
        "metrics": ["codebleu"],
        "arms": [
            {"name": "baseline", "prompt": "standard", "model": "paper"},
            {"name": "t2j", "prompt": "t2j-all", "model": "paper"},
        ],
        "published": {"source": "t2j-paper", "section": "intrinsic", "arms": {"A": "baseline", "B": "t2j"}},
    }
    spec_path = Path(_WORKDIR, "spec.json")
    spec_path.write_text(json.dumps(spec))
    report_path = Path(_WORKDIR, "report.json")
    timings: dict[str, float] = {}
    _timed(timings, "create", "experiment", "create", "--spec", str(spec_path))
    steps = ["draft", "run", "metrics"] if args.with_sandbox else ["draft", "metrics"]
    for step in steps:
        _timed(timings, step, "experiment", "run", "paper-intrinsic", "--step", step)
    report_args = ("experiment", "report", "paper-intrinsic", "--format", "json", "--output", str(report_path))
    _timed(timings, "report", *report_args)
    report = json.loads(report_path.read_text())
    table = next(t for t in report["published"]["tables"] if t["metric"] == "codebleu")
    labels = {"A": "baseline", "B": "t2j"}
    summary = {"n_samples": len(samples), "timings_s": timings, "arms": {}}
    for arm in table["summary"]:
        name = labels[arm["arm"]]
        summary["arms"][name] = {
            "n": arm["n"],
            "our_mean": round(arm["recomputed_mean"], 5),
            "published_mean_of_figures": round(arm["published_mean"], 5),
            "paper_table_mean": PUBLISHED_MEANS[name],
            "mean_difference_vs_table": round(arm["recomputed_mean"] - PUBLISHED_MEANS[name], 5),
            "max_abs_per_sample_difference": round(arm["max_abs_difference"], 5),
        }
        print(
            f"{name:8s} n={arm['n']} ours {arm['recomputed_mean']:.5f}  paper table {PUBLISHED_MEANS[name]:.4f}  "
            f"(published figures {arm['published_mean']:.5f})  max |per-sample diff| {arm['max_abs_difference']:.5f}"
        )
    d = next(d for d in report["differences"] if d["column"] == "codebleu")
    summary["difference"] = {k: d[k] for k in ("a", "b", "n", "difference", "low", "high", "wilcoxon_p", "b_better")}
    print(
        f"t2j − baseline: {d['difference']:.5f}  95% CI [{d['low']:.5f}, {d['high']:.5f}]  "
        f"Wilcoxon p = {d['wilcoxon_p']:.3g}  (t2j better on {d['b_better']} of {d['n']})"
    )
    if args.with_sandbox:
        summary["runs"] = report["runs"]["rows"]
        for row in report["runs"]["rows"]:
            print(f"runs {row['arm']}: {row['ok']}/{row['n']} ok; {'; '.join(row['top_exceptions'])}")
    print("wall time (s): " + ", ".join(f"{k} {v}" for k, v in timings.items()))
    if args.json:
        print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
