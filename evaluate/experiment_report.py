"""An experiment's report: per-sample figures of each arm and the statistics on them, as JSON-ready data, Markdown,
CSV, and the plots of its page.

`build(experiment)` reads what the steps stored (evaluate/experiment.py) and returns one dict:
- per_sample: one row per (sample, arm): each metric column (CodeBLEU against the experiment's reference), the
  latest sandbox run of the draft's code, the contract verdict, the copy check;
- means: per column and arm, the mean with its 95% bootstrap CI (evaluate.statistics.mean_ci, inside the column's
  registered range);
- differences: per column and pair of arms, the paired difference b - a with its bootstrap CI, Wilcoxon's
  signed-rank p, and win counts (which arm is better per sample, by the column's direction);
- comparisons: Comparison Score of each pair of arms with its Clopper–Pearson CI; bradley_terry: log-strengths with
  bootstrap intervals (evaluate.ranking);
- correlations: each correlated column against FixCost Score per translation (r, ρ, n, p, CI);
- runs (ok / error / timeout rates with Clopper–Pearson CIs, the most common exceptions), verify, fixcost (mean
  steps with and without flagged steps, where verified sessions exist), copy_check, published (beside ours).
Every section states `reference`, `n` and `method`. Nothing is computed here that evaluate.statistics, ranking,
correlation, published or plots compute: this module picks the values and hands them over.
"""

from __future__ import annotations

import itertools
import json
import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict

from django.db.models import Prefetch
from django.utils import timezone

from annotate.models import ContractVerdict, DraftStatus, FixStep, Run, RunKind, RunStatus, StepCategory
from annotate.runs import code_hash
from evaluate import experiment as experiments
from evaluate import exports, metrics, plots, published, ranking, statistics
from evaluate.contexts import FIXCOST_BINS
from evaluate.correlation import correlate
from evaluate.experiment_copy_check import check as copy_check
from evaluate.metrics.codebleu import VERIFIED
from evaluate.models import CodeBLEUScore, Comparison, Experiment, PromptMode, PublishedSource

FORMATS = ("md", "csv", "json")
BT_BOOTSTRAP = 1000
TOP_EXCEPTIONS = 3
CODEBLEU_FIELDS = {
    "codebleu": "codebleu",
    "codebleu_ngram": "ngram",
    "codebleu_weighted_ngram": "weighted_ngram",
    "codebleu_syntax": "syntax",
    "codebleu_dataflow": "dataflow",
}
RUN_STATUSES = [status.value for status in RunStatus]
DIGITS = 4


def build(experiment: Experiment, *, resamples: int = statistics.RESAMPLES) -> dict:
    """The whole report as JSON-ready data (see the module docstring)."""
    experiment.refresh_from_db()  # the steps write its state through their own rows
    arms = experiments.arms_of(experiment)
    arm_of_system = {arm.system_id: arm.name for arm in arms}
    translations = list(experiments.translations_of(experiment).prefetch_related(_latest_runs()))
    columns = _columns(experiment)
    values = _values(experiment, translations, columns)
    reference = _reference_text(experiment)
    samples = experiment.sample_keys
    per_sample = _per_sample(experiment, arms, translations, values)
    report = {
        "experiment": experiment.name,
        "description": experiment.description,
        "reference": experiment.reference,
        "reference_label": experiments.reference_label(experiment),
        "samples": samples,
        "arms": [_arm_row(arm, translations) for arm in arms],
        "metrics": experiment.metrics,
        "columns": [
            {
                "name": c.name,
                "label": c.label or c.name,
                "higher_is_better": c.higher_is_better,
                "value_range": list(c.value_range),
            }
            for c in columns
        ],
        "per_sample": per_sample,
    }
    shown = [c for c in columns if any(row.get(c.name) is not None for row in per_sample)]
    arm_names = [arm.name for arm in arms]
    report["means"] = _means(per_sample, shown, arm_names, reference, resamples)
    report["differences"] = _differences(per_sample, shown, arm_names, samples, reference, resamples)
    report["comparisons"], report["bradley_terry"] = _comparisons(experiment, translations, arm_of_system)
    report["correlations"] = _correlations(per_sample, shown, reference, resamples)
    report["runs"] = _runs(per_sample, arm_names)
    report["verify"] = _verify(per_sample, arm_names)
    report["fixcost"] = _fixcost(per_sample, arm_names, resamples)
    report["copy_check"] = {
        "threshold": experiment.copy_threshold,
        "n": sum(1 for row in per_sample if row["copy_lines"] is not None),
        "flagged": sum(1 for row in per_sample if row["copy_flagged"]),
        "method": (
            "share of the draft's lines (whitespace collapsed; no blank, comment, import or short lines, none of the "
            "sample's own PyTorch program) found in the examples injected into its prompt; flagged when the top "
            f"source alone holds at least {experiment.copy_threshold:.0%}"
        ),
    }
    report["published"] = _published(experiment, per_sample, reference)
    report["error_categories"] = _error_categories(experiment, arms)
    return _clean(report)


def store(experiment: Experiment, *, resamples: int = statistics.RESAMPLES) -> dict:
    """Build the report and keep it on the experiment, for its page (which only reads it)."""
    report = build(experiment, resamples=resamples)
    Experiment.objects.filter(pk=experiment.pk).update(report=report, report_built_at=timezone.now())
    return report


# --- values -----------------------------------------------------------------------------------------------


def _columns(experiment: Experiment) -> list[metrics.Column]:
    """Numeric per-translation columns of the chosen registry metrics (the dashboard-only ones left out)."""
    chosen = [m for m in metrics.all_metrics() if m.name in experiment.metrics]
    return [c for m in chosen for c in m.columns if c.value_range is not None and c.export]


def _values(experiment: Experiment, translations, columns) -> dict[int, dict]:
    """{translation id: {column: value}}: CodeBLEU against the experiment's reference, the rest as the registry
    reads them."""
    ids = [t.pk for t in translations]
    values: dict[int, dict] = defaultdict(dict)
    wanted = {c.name for c in columns}
    for metric in metrics.all_metrics():
        if metric.name == "codebleu" or not wanted & {c.name for c in metric.columns}:
            continue
        for tid, row in metric.values(ids).items():
            values[tid].update({k: v for k, v in row.items() if k in wanted})
    if "codebleu" in experiment.metrics:
        for score in CodeBLEUScore.objects.filter(translation_id__in=ids, reference=experiment.reference):
            values[score.translation_id].update({col: getattr(score, f) for col, f in CODEBLEU_FIELDS.items()})
    fixcost = metrics.get("fixcost").values(ids)  # FixCost and its flagged steps, where sessions exist
    for tid, row in fixcost.items():
        values[tid].setdefault("fixcost_steps", row.get("fixcost_steps"))
        values[tid]["fixcost_flagged_steps"] = row.get("fixcost_flagged_steps")
        values[tid].setdefault("fixcost_score", row.get("fixcost_score"))
    return values


def _latest_runs() -> Prefetch:
    """The drafts' batch runs without their outputs (a run's stdout may hold megabytes)."""
    fields = ("pk", "translation_id", "kind", "code_hash", "status", "exception_type", "exception_message")
    return Prefetch("batch_runs", queryset=Run.objects.only(*fields))


def _per_sample(experiment: Experiment, arms, translations, values: dict) -> list[dict]:
    by_cell = {(t.sample.key, t.system_id): t for t in translations}
    verdicts = experiment.state.get("verify", {})
    rows = []
    for key in experiment.sample_keys:
        for arm in arms:
            t = by_cell.get((key, arm.system_id))
            row = {"sample": key, "arm": arm.name, "system": arm.system.name, "draft": _draft_state(t)}
            row.update(values.get(t.pk, {}) if t else {})
            row.update(_run_cells(t))
            verdict = verdicts.get(str(t.pk)) if t else None
            current = verdict and t and verdict.get("code") == code_hash(t.code)
            row["verdict"] = verdict["verdict"] if current else None
            row.update(_copy_cells(t, experiment.copy_threshold))
            rows.append(row)
    return rows


def _draft_state(translation) -> str:
    if translation is None:
        return "missing"
    return translation.draft_status if translation.code.strip() else "empty"


def _run_cells(translation) -> dict:
    """The latest sandbox batch run of the draft's current code."""
    if translation is None or not translation.code.strip():
        return {"run_status": None, "run_exception": None}
    current = code_hash(translation.code)
    latest = None
    for run in translation.batch_runs.all():
        if run.kind == RunKind.JAX and run.code_hash == current and (latest is None or run.pk > latest.pk):
            latest = run
    return {
        "run_status": latest.status if latest else None,
        "run_exception": (latest.exception_line or None) if latest else None,
    }


def _copy_cells(translation, threshold: float) -> dict:
    """The copy check of a draft whose prompt carried examples (T2J); empty cells for the others."""
    found = None
    if translation is not None and translation.prompt_messages:
        found = copy_check(
            translation.code, translation.prompt_messages, own_source=translation.sample.pytorch_code,
            threshold=threshold,
        )  # fmt: skip
    if found is None or not found.examples:
        return {"copy_lines": None, "copy_share": None, "copy_top_source": None, "copy_top_share": None,
                "copy_flagged": False}  # fmt: skip
    return {
        "copy_lines": found.lines,
        "copy_share": found.share,
        "copy_top_source": found.top_source or None,
        "copy_top_share": found.top_share,
        "copy_flagged": found.flagged,
    }


def _arm_row(arm, translations) -> dict:
    mine = [t for t in translations if t.system_id == arm.system_id]
    return {
        "name": arm.name,
        "system": arm.system.name,
        "prompt_mode": arm.prompt_mode,
        "k": arm.relevant_k,
        "categories": arm.categories,
        "model": arm.system.model or ("(OPENAI_MODEL)" if arm.prompt_mode != PromptMode.IMPORTED else ""),
        # Imported drafts were made elsewhere: their temperature is unknown, not the System row's default 0.0.
        "temperature": arm.system.temperature if arm.prompt_mode != PromptMode.IMPORTED else None,
        "token_budget": arm.system.token_budget,
        "drafts": sum(1 for t in mine if t.code.strip()),
        "failed_drafts": sum(1 for t in mine if t.draft_status == DraftStatus.FAILED),
    }


def _reference_text(experiment: Experiment) -> str:
    if experiment.reference == VERIFIED:
        return "CodeBLEU against each sample's verified code"
    return f"CodeBLEU against {experiment.reference}"


# --- statistics -------------------------------------------------------------------------------------------


def _by_arm(rows: list[dict], column: str) -> dict[str, dict[str, float | None]]:
    out: dict[str, dict[str, float | None]] = defaultdict(dict)
    for row in rows:
        out[row["arm"]][row["sample"]] = row.get(column)
    return out


def _means(rows, columns, arms, reference: str, resamples: int) -> list[dict]:
    out = []
    for column in columns:
        by_arm = _by_arm(rows, column.name)
        for arm in arms:
            ci = statistics.mean_ci(list(by_arm[arm].values()), column.value_range, resamples=resamples)
            out.append(_interval_row({"column": column.name, "arm": arm}, ci, _ref(column, reference)))
    return out


def _differences(rows, columns, arms, samples, reference: str, resamples: int) -> list[dict]:
    out = []
    for column in columns:
        by_arm = _by_arm(rows, column.name)
        for a, b in itertools.combinations(arms, 2):
            xs = [by_arm[a].get(s) for s in samples]
            ys = [by_arm[b].get(s) for s in samples]
            d = statistics.paired_difference(xs, ys, column.value_range, resamples=resamples)
            b_better, a_better = (d.b_higher, d.a_higher) if column.higher_is_better else (d.a_higher, d.b_higher)
            out.append(
                {
                    "column": column.name,
                    "a": a,
                    "b": b,
                    "n": d.n,
                    "mean_a": d.mean_a,
                    "mean_b": d.mean_b,
                    "difference": d.difference.estimate,
                    "low": d.difference.low,
                    "high": d.difference.high,
                    "wilcoxon_statistic": d.wilcoxon_statistic,
                    "wilcoxon_p": d.wilcoxon_p,
                    "b_better": b_better,
                    "a_better": a_better,
                    "equal": d.equal,
                    "method": "; ".join(m for m in (d.difference.method, d.wilcoxon_method) if m),
                    "reference": _ref(column, reference),
                }
            )
    return out


def _comparisons(experiment: Experiment, translations, arm_of_system: dict) -> tuple[dict, dict]:
    """Votes between two arms' drafts of the experiment's samples (reviewers and LLM judges), per pair of arms."""
    ids = [t.pk for t in translations]
    votes = Comparison.objects.filter(left_id__in=ids, right_id__in=ids).select_related("left", "right")
    outcomes = [
        ranking.outcome_of(arm_of_system[c.left.system_id], arm_of_system[c.right.system_id], c.verdict)
        for c in votes
        if c.left.system_id != c.right.system_id
    ]
    method = "share of b's wins over a, ties and both-bad as half; " + statistics.proportion_ci(0, 1).method
    rows = []
    for score in ranking.pair_scores(outcomes):
        ci = statistics.proportion_ci(score.score_b * score.n, score.n)
        rows.append({"a": score.a, "b": score.b, "n": score.n, "score_b": ci.estimate, "low": ci.low, "high": ci.high})
    bt = ranking.bradley_terry_ranking(outcomes, bootstrap=BT_BOOTSTRAP) if outcomes else []
    bt_method = (
        f"Bradley–Terry log-strength (Hunter's MM, 0.1 virtual wins each way), percentile bootstrap 95% interval "
        f"over {BT_BOOTSTRAP} resamples of the votes (seed 0)"
    )
    return (
        {"n": len(outcomes), "method": method, "rows": rows},
        {"n": len(outcomes), "method": bt_method, "rows": [vars(r) | {"arm": r.system} for r in bt]},
    )


def _correlations(rows, columns, reference: str, resamples: int) -> dict:
    target = metrics.REFERENCE_COLUMN
    ys = [row.get(target) for row in rows]
    out = []
    for column in columns:
        if not column.correlated:
            continue
        found = correlate(column.name, [row.get(column.name) for row in rows], ys, resamples=resamples)
        out.append(vars(found) | {"reference": _ref(column, reference)})
    n_with_fixcost = sum(1 for y in ys if y is not None)
    return {"against": target, "n_with_fixcost": n_with_fixcost, "rows": out}


def _runs(rows, arms) -> dict:
    out = []
    for arm in arms:
        mine = [row for row in rows if row["arm"] == arm and row["run_status"] is not None]
        counts = Counter(row["run_status"] for row in mine)
        ci = statistics.proportion_ci(counts.get(RunStatus.OK, 0), len(mine))
        exceptions = Counter(row["run_exception"] for row in mine if row["run_exception"])
        out.append(
            {
                "arm": arm,
                "n": len(mine),
                **{status: counts.get(status, 0) for status in RUN_STATUSES},
                "ok_rate": ci.estimate,
                "low": ci.low,
                "high": ci.high,
                "top_exceptions": [f"{line} ({n})" for line, n in exceptions.most_common(TOP_EXCEPTIONS)],
            }
        )
    method = "latest sandbox run of each draft's current code; ok rate with " + statistics.proportion_ci(0, 1).method
    return {"method": method, "rows": out}


def _verify(rows, arms) -> dict:
    out = []
    for arm in arms:
        verdicts = Counter(row["verdict"] for row in rows if row["arm"] == arm and row["verdict"])
        by_verdict = {verdict.replace("-", "_"): verdicts.get(verdict, 0) for verdict in ContractVerdict.values}
        out.append({"arm": arm, "n": sum(verdicts.values()), **by_verdict})
    return {"method": "contract verdict of each draft's current code (samples with a contract)", "rows": out}


def _fixcost(rows, arms, resamples: int) -> dict:
    out = []
    for arm in arms:
        mine = [row for row in rows if row["arm"] == arm and row.get("fixcost_steps") is not None]
        steps = [row["fixcost_steps"] for row in mine]
        without = [_without_flagged(row) for row in mine]
        ci = statistics.mean_ci(steps, (0.0, None), resamples=resamples)
        ci_without = statistics.mean_ci(without, (0.0, None), resamples=resamples)
        bins = Counter(next(label for lo, hi, label in FIXCOST_BINS if lo <= s <= hi) for s in steps)
        out.append(
            {
                "arm": arm,
                "n": ci.n,
                "mean_steps": ci.estimate,
                "low": ci.low,
                "high": ci.high,
                "mean_without_flagged": ci_without.estimate,
                "low_without_flagged": ci_without.low,
                "high_without_flagged": ci_without.high,
                "method": ci.method,
                "bins": {label: bins.get(label, 0) for _, _, label in FIXCOST_BINS},
            }
        )
    return {"method": "steps of each verified session of a draft (retracted steps left out)", "rows": out}


def _without_flagged(row: dict) -> float | None:
    steps = row.get("fixcost_steps")
    return None if steps is None else steps - (row.get("fixcost_flagged_steps") or 0)


def _published(experiment: Experiment, rows, reference: str) -> dict | None:
    """Published vs ours per sample: CodeBLEU, and FixCost steps with and without the steps step hygiene flagged,
    for the arms the spec maps to the source's labels (a label the source has no figure of for a metric is left
    out of that metric's table)."""
    source = experiment.published_source
    if not source:
        return None
    if not PublishedSource.objects.filter(name=source).exists():
        return {"source": source, "missing": True, "tables": []}
    section = experiment.published_section or None
    variants = (
        ("codebleu", reference, lambda row: row.get("codebleu")),
        ("fixcost_steps", "FixCost steps of our verified sessions", lambda row: row.get("fixcost_steps")),
        ("fixcost_steps", "FixCost steps without flagged steps", _without_flagged),
    )
    tables = []
    for metric, ours_as, ours in variants:
        theirs = published.published_values(source, metric, section=section)
        labels = {label for _, label in theirs} & set(experiment.published_arms)
        recomputed = {
            (row["sample"], label): ours(row)
            for label in labels
            for row in rows
            if row["arm"] == experiment.published_arms[label] and ours(row) is not None
        }
        if not recomputed:
            continue
        beside = [
            vars(b)
            for b in published.beside(source, metric, recomputed, section=section, recomputed_as=ours_as)
            if b.sample in experiment.sample_keys and b.arm in labels
        ]
        summary = [vars(s) for s in published.summarize([published.Beside(**b) for b in beside])]
        tables.append({"metric": metric, "recomputed_as": ours_as, "rows": beside, "summary": summary})
    return {"source": source, "section": section or "", "arms": experiment.published_arms, "tables": tables}


def _interval_row(keys: dict, ci: statistics.Interval, reference: str) -> dict:
    return keys | {
        "n": ci.n,
        "mean": ci.estimate,
        "low": ci.low,
        "high": ci.high,
        "method": ci.method,
        "reference": reference,
    }


def _ref(column: metrics.Column, reference: str) -> str:
    return reference if column.name.startswith("codebleu") else "none (not a similarity metric)"


def _clean(value):
    """JSON-safe: NaN and infinities become None (JSON has neither)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


# --- formats ----------------------------------------------------------------------------------------------


def render(report: dict, fmt: str) -> str:
    """The report as `fmt` (md, csv or json); ValueError for another format."""
    if fmt == "json":
        return json.dumps(report, indent=2, ensure_ascii=False) + "\n"
    if fmt == "csv":
        return to_csv(report)
    if fmt == "md":
        return to_markdown(report)
    raise ValueError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")


def per_sample_columns(report: dict) -> list[str]:
    first = ["sample", "arm", "system", "draft"]
    metric_columns = [c["name"] for c in report["columns"]]
    rest = [
        "run_status",
        "run_exception",
        "verdict",
        "copy_lines",
        "copy_share",
        "copy_top_source",
        "copy_top_share",
        "copy_flagged",
    ]
    return first + metric_columns + rest


def to_csv(report: dict) -> str:
    """The per-sample table, one row per (sample, arm); the statistics are in md and json."""
    return exports.to_csv(report["per_sample"], per_sample_columns(report))


def _fmt(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{DIGITS}f}" if abs(value) >= 1e-4 or value == 0 else f"{value:.2e}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def _md_table(headers: Sequence[str], rows: Sequence[Sequence]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    return lines + [""]


def _ci(low, high) -> str:
    return f"[{_fmt(low)}, {_fmt(high)}]" if low is not None else "–"


def to_markdown(report: dict) -> str:
    arms = [a["name"] for a in report["arms"]]
    n = len(report["samples"])
    out = [f"# Experiment {report['experiment']}", ""]
    if report["description"]:
        out += [report["description"], ""]
    out += [f"Reference for similarity metrics: {report['reference_label']}. Samples: n = {n}.", ""]
    out += ["## Arms", ""] + _md_table(
        ["arm", "system", "prompt", "model", "temperature", "token budget", "drafts", "failed"],
        [
            [
                a["name"],
                a["system"],
                a["prompt_mode"]
                + (f" k={a['k']}" if a["k"] else "")
                + (f" {','.join(a['categories'])}" if a["categories"] else ""),
                a["model"],
                a["temperature"],
                a["token_budget"],
                a["drafts"],
                a["failed_drafts"],
            ]
            for a in report["arms"]
        ],
    )
    for column in report["columns"]:
        name = column["name"]
        if not any(row.get(name) is not None for row in report["per_sample"]):
            continue
        by = {(row["sample"], row["arm"]): row.get(name) for row in report["per_sample"]}
        ref = next((m["reference"] for m in report["means"] if m["column"] == name), "")
        out += [f"## {column['label']} per sample", "", f"Reference: {ref}. n = {n} samples. Method: as stored.", ""]
        out += _md_table(["sample", *arms], [[s, *(by.get((s, a)) for a in arms)] for s in report["samples"]])
        means = [m for m in report["means"] if m["column"] == name]
        out += [f"Means — reference: {ref}. Method: {next((m['method'] for m in means if m['method']), '–')}.", ""]
        out += _md_table(
            ["arm", "n", "mean", "95% CI"], [[m["arm"], m["n"], m["mean"], _ci(m["low"], m["high"])] for m in means]
        )
        diffs = [d for d in report["differences"] if d["column"] == name]
        if diffs:
            out += [f"Paired differences b − a — reference: {ref}. Method: {diffs[0]['method']}.", ""]
            out += _md_table(
                ["a", "b", "n", "mean a", "mean b", "b − a", "95% CI", "Wilcoxon p", "b better", "a better", "equal"],
                [
                    [
                        d["a"],
                        d["b"],
                        d["n"],
                        d["mean_a"],
                        d["mean_b"],
                        d["difference"],
                        _ci(d["low"], d["high"]),
                        d["wilcoxon_p"],
                        d["b_better"],
                        d["a_better"],
                        d["equal"],
                    ]
                    for d in diffs
                ],
            )
    comparisons, bt = report["comparisons"], report["bradley_terry"]
    out += [
        "## Comparison Score",
        "",
        f"Reference: none (votes). n = {comparisons['n']} votes. Method: {comparisons['method']}.",
        "",
    ]
    out += _md_table(
        ["a", "b", "votes", "score of b", "95% CI"],
        [[r["a"], r["b"], r["n"], r["score_b"], _ci(r["low"], r["high"])] for r in comparisons["rows"]],
    )
    out += ["## Bradley–Terry", "", f"Reference: none (votes). n = {bt['n']} votes. Method: {bt['method']}.", ""]
    out += _md_table(
        ["rank", "arm", "log-strength", "95% interval", "votes"],
        [[r["rank"], r["arm"], r["strength"], _ci(r["low"], r["high"]), r["votes"]] for r in bt["rows"]],
    )
    corr = report["correlations"]
    methods = "; ".join(sorted({r[m] for r in corr["rows"] for m in ("pearson_method", "spearman_method") if r[m]}))
    out += ["## Correlations with FixCost Score", ""]
    out += [f"Per translation; n = {corr['n_with_fixcost']} drafts with a FixCost. Method: {methods or '–'}.", ""]
    out += _md_table(
        ["metric", "reference", "n", "r", "p", "95% CI", "ρ", "p", "95% CI"],
        [
            [
                r["metric"],
                r["reference"],
                r["n"],
                r["pearson_r"],
                r["pearson_p"],
                _ci(r["pearson_low"], r["pearson_high"]),
                r["spearman_rho"],
                r["spearman_p"],
                _ci(r["spearman_low"], r["spearman_high"]),
            ]
            for r in corr["rows"]
        ],
    )
    runs = report["runs"]
    out += ["## Sandbox runs", "", f"Reference: none. n per arm below. Method: {runs['method']}.", ""]
    out += _md_table(
        ["arm", "n", *RUN_STATUSES, "ok rate", "95% CI", "most common exceptions"],
        [
            [
                r["arm"],
                r["n"],
                *(r[s] for s in RUN_STATUSES),
                r["ok_rate"],
                _ci(r["low"], r["high"]),
                "; ".join(r["top_exceptions"]),
            ]
            for r in runs["rows"]
        ],
    )
    verify = report["verify"]
    out += ["## Contracts", "", f"Reference: the samples' contracts. n per arm below. Method: {verify['method']}.", ""]
    out += _md_table(
        ["arm", "n", "passed", "failed", "contract-error"],
        [[r["arm"], r["n"], r["passed"], r["failed"], r["contract_error"]] for r in verify["rows"]],
    )
    fixcost = report["fixcost"]
    out += ["## FixCost", "", f"Reference: none. n per arm below. Method: {fixcost['method']}; bootstrap CI.", ""]
    out += _md_table(
        ["arm", "n", "mean steps", "95% CI", "without flagged", "95% CI"],
        [
            [
                r["arm"],
                r["n"],
                r["mean_steps"],
                _ci(r["low"], r["high"]),
                r["mean_without_flagged"],
                _ci(r["low_without_flagged"], r["high_without_flagged"]),
            ]
            for r in fixcost["rows"]
        ],
    )
    copy = report["copy_check"]
    out += [
        "## Copy check",
        "",
        f"Reference: the examples injected into each prompt. n = {copy['n']} T2J drafts, "
        f"{copy['flagged']} flagged. Method: {copy['method']}.",
        "",
    ]
    out += _md_table(
        ["sample", "arm", "lines", "share", "top source", "top share", "flagged"],
        [
            [
                r["sample"],
                r["arm"],
                r["copy_lines"],
                r["copy_share"],
                r["copy_top_source"],
                r["copy_top_share"],
                r["copy_flagged"],
            ]
            for r in report["per_sample"]
            if r["copy_lines"] is not None
        ],
    )
    out += _published_md(report["published"])
    return "\n".join(out)


def _published_md(pub: dict | None) -> list[str]:
    if not pub:
        return []
    if pub.get("missing"):
        return ["## Published figures", "", f"Source {pub['source']!r} is not imported (manage.py import_results).", ""]
    out = ["## Published figures beside ours", ""]
    for table in pub["tables"]:
        out += [
            f"{table['metric']}: published by {pub['source']} vs ours ({table['recomputed_as']}). "
            f"n = {len(table['rows'])} cells. Method: difference = ours − published.",
            "",
        ]
        out += _md_table(
            ["sample", "arm", "published", "ours", "difference"],
            [[r["sample"], r["arm"], r["published"], r["recomputed"], r["difference"]] for r in table["rows"]],
        )
        out += _md_table(
            ["arm", "n", "published mean", "our mean", "max |difference|"],
            [
                [s["arm"], s["n"], s["published_mean"], s["recomputed_mean"], s["max_abs_difference"]]
                for s in table["summary"]
            ],
        )
    return out


# --- plots ------------------------------------------------------------------------------------------------


def plots_of(report: dict, *, resamples: int = statistics.RESAMPLES) -> list[plots.Plot]:
    """Every plot of the report page: per-arm boxes and paired differences of each metric, Bradley–Terry, metrics
    against FixCost Score, the FixCost distribution, error categories, run outcomes and copy check per arm."""
    arms = [a["name"] for a in report["arms"]]
    out = []
    for column in report["columns"]:
        name = column["name"]
        by_arm = _by_arm(report["per_sample"], name)
        if not any(v is not None for values in by_arm.values() for v in values.values()):
            continue
        means = {m["arm"]: _as_interval(m) for m in report["means"] if m["column"] == name}
        ref = next(m["reference"] for m in report["means"] if m["column"] == name)
        out.append(
            plots.box_plot(
                f"box-{_slug(name)}",
                f"{column['label']} per arm ({ref})",
                {arm: list(by_arm[arm].values()) for arm in arms},
                tuple(column["value_range"]),
                resamples=resamples,
                intervals=means,
                what="drafts",
            )
        )
        diffs = [d for d in report["differences"] if d["column"] == name and d["difference"] is not None]
        if diffs:
            rows = [
                {
                    "label": f"{d['b']} − {d['a']}",
                    "estimate": d["difference"],
                    "low": d["low"],
                    "high": d["high"],
                    "n": d["n"],
                    "wilcoxon_p": d["wilcoxon_p"],
                }
                for d in diffs
            ]
            caption = f"n per pair: {', '.join(str(d['n']) for d in diffs)} samples; {ref}. {diffs[0]['method']}."
            out.append(
                plots.forest(
                    f"difference-{_slug(name)}", f"Paired difference in {column['label']}", rows, caption=caption
                )
            )
    bt = report["bradley_terry"]
    if bt["rows"]:
        rows = [
            {"label": r["arm"], "estimate": r["strength"], "low": r["low"], "high": r["high"], "votes": r["votes"]}
            for r in bt["rows"]
        ]
        out.append(
            plots.forest(
                "bradley-terry", "Bradley–Terry log-strength", rows, caption=f"n = {bt['n']} votes. {bt['method']}."
            )
        )
    out += _scatters(report)
    fixcost = [{"group": r["arm"], **r["bins"]} for r in report["fixcost"]["rows"] if r["n"]]
    labels = [label for _, _, label in FIXCOST_BINS]
    if fixcost:
        n = sum(r["n"] for r in report["fixcost"]["rows"])
        out.append(
            plots.stacked(
                "fixcost-distribution",
                "FixCost distribution per arm",
                fixcost,
                labels,
                caption=f"n = {n} verified drafts, counted by fix steps.",
            )
        )
    errors = report["error_categories"]
    if errors["rows"]:
        caption = f"n = {errors['n']} counted steps of verified sessions, by category."
        out.append(
            plots.stacked(
                "error-categories", "Error categories per arm", errors["rows"], errors["categories"], caption=caption
            )
        )
    runs = [{"group": r["arm"], **{s: r[s] for s in RUN_STATUSES}} for r in report["runs"]["rows"] if r["n"]]
    if runs:
        n = sum(r["n"] for r in report["runs"]["rows"])
        out.append(
            plots.stacked(
                "runs",
                "Sandbox run outcomes per arm",
                runs,
                RUN_STATUSES,
                caption=f"n = {n} drafts with a run. {report['runs']['method']}.",
            )
        )
    copied = Counter((r["arm"], r["copy_flagged"]) for r in report["per_sample"] if r["copy_lines"] is not None)
    if copied:
        rows = [
            {"group": arm, "flagged": copied[(arm, True)], "not flagged": copied[(arm, False)]}
            for arm in arms
            if copied[(arm, True)] + copied[(arm, False)]
        ]
        out.append(
            plots.stacked(
                "copy-check",
                "Copy check per arm",
                rows,
                ["flagged", "not flagged"],
                caption=f"n = {sum(copied.values())} T2J drafts. {report['copy_check']['method']}.",
            )
        )
    return out


def _scatters(report: dict) -> list[plots.Plot]:
    target = metrics.REFERENCE_COLUMN
    columns = {c["name"]: c for c in report["columns"]}
    out = []
    for row in report["correlations"]["rows"]:
        name = row["metric"]
        points = [
            (r["arm"], r["sample"], r[target], r[name])
            for r in report["per_sample"]
            if r.get(target) is not None and r.get(name) is not None
        ]
        if len(points) >= 3:
            out.append(
                plots.scatter_with_fit(
                    f"scatter-{_slug(name)}",
                    f"{columns[name]['label']} against FixCost Score",
                    points,
                    x_label="FixCost Score",
                    y_label=columns[name]["label"],
                    x_range=(0.0, 1.0),
                    y_range=tuple(columns[name]["value_range"]),
                )
            )
    return out


def _error_categories(experiment: Experiment, arms) -> dict:
    """Counted steps of the arms' verified sessions on the experiment's samples, by category, per arm."""
    arm_of = {arm.system_id: arm.name for arm in arms}
    counts: dict[str, Counter] = defaultdict(Counter)
    steps = FixStep.objects.shared().filter(
        session__translation__system_id__in=arm_of, session__translation__sample__key__in=experiment.sample_keys
    )
    for system_id, category in steps.values_list("session__translation__system_id", "category"):
        counts[arm_of[system_id]][category or StepCategory.OTHER] += 1
    rows = [{"group": arm, **{label: c[value] for value, label in StepCategory.choices}} for arm, c in counts.items()]
    return {"n": sum(sum(c.values()) for c in counts.values()), "categories": list(StepCategory.labels), "rows": rows}


def _as_interval(row: dict) -> statistics.Interval:
    return statistics.Interval(row["mean"], row["low"], row["high"], row["n"], row["method"])


def _slug(name: str) -> str:
    return name.replace("_", "-").lower()


# --- the page ---------------------------------------------------------------------------------------------


def page(report: dict) -> dict:
    """What the report page loops over: one section per metric column with values (the per-sample table as rows of
    [sample, value per arm], its means, differences and plots), and the other plots by section."""
    arms = [a["name"] for a in report["arms"]]
    by_id = {plot.id: asdict(plot) for plot in plots_of(report)}  # json_script needs plain data
    sections = []
    for column in report["columns"]:
        name = column["name"]
        cells = {(row["sample"], row["arm"]): row.get(name) for row in report["per_sample"]}
        if all(value is None for value in cells.values()):
            continue
        means = [m for m in report["means"] if m["column"] == name]
        sections.append(
            {
                "column": column,
                "reference": means[0]["reference"] if means else "",
                "rows": [[sample, *(cells.get((sample, arm)) for arm in arms)] for sample in report["samples"]],
                "means": means,
                "mean_method": next((m["method"] for m in means if m["method"]), ""),
                "differences": [d for d in report["differences"] if d["column"] == name],
                "plots": [by_id[i] for i in (f"box-{_slug(name)}", f"difference-{_slug(name)}") if i in by_id],
            }
        )
    prefixes = {"ranking": "bradley-terry", "correlations": "scatter-", "fixcost": "fixcost-",
                "errors": "error-categories", "runs": "runs", "copy": "copy-check"}  # fmt: skip
    rest = {key: [p for p in by_id.values() if p["id"].startswith(prefix)] for key, prefix in prefixes.items()}
    copied = [row for row in report["per_sample"] if row["copy_lines"] is not None]
    return {"arms": arms, "sections": sections, "plots": rest, "copied": copied}
