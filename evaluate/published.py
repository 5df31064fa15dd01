"""Published figures: a paper's per-sample figures imported as a named source, and shown beside ours.

`import_results` (manage.py import_results FILE --source NAME) reads either shape below, checks every figure
(names, numbers inside the metric's registered range, no figure twice) and stores all of them or none, as
PublishedFigure rows of one PublishedSource. They stay apart from what this app computes or people record:
never fix steps, votes or scores.

The paper's shape (its results.json, loaded as it is): sections ("intrinsic", "extrinsic") of tables:
    {"about": "...", "intrinsic": {
        "fixcost_steps": {ARM: {SAMPLE: steps}},
        "codebleu": {SAMPLE: {ARM: value}},                # SAMPLE may be a file name, "e4.py"
        "codetrans": {ASPECT: {SAMPLE: {ARM: score}}},     # ASPECT: func_ref, func_noref, usefulness_(no)ref
        "comparison": {SAMPLE: "A" | "B" | "tie" | "both-bad"}},   # the verdict between the A and B columns
     "extrinsic": {}}
A flat shape for other sources: {"about": "...", "figures": [{"section"?, "sample", "arm", "metric", "value"?,
"verdict"?}]} where metric is a registry column name or "comparison".

`beside(...)` gives published vs recomputed with the difference, per sample and arm; the recomputed values are
the caller's ({(sample, arm): value}), read with `codebleu_by_sample` or `fixcost_steps_by_sample` or computed
otherwise (e.g. FixCost without flagged steps), so a report can set any of our figures beside the paper's.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from django.db import transaction

from annotate.dataset.errors import DatasetError, Problems
from annotate.dataset.reading import decode, key_problem, parse_json, read_path
from annotate.models import FixSession, SessionStatus
from evaluate import metrics
from evaluate.models import CodeBLEUScore, PublishedFigure, PublishedSource

COMPARISON = "comparison"
COMPARISON_PAIR = "A/B"  # the paper's comparison is between its A and B columns
VERDICT_POINTS = {"A": 0.0, "B": 1.0, "tie": 0.5, "both-bad": 0.5}  # points of B, as our Comparison Score counts
CODETRANS_ASPECTS = ("func_ref", "func_noref", "usefulness_ref", "usefulness_noref")
PAPER_TABLES = ("fixcost_steps", "codebleu", "codetrans", COMPARISON)
FLAT_KEYS = {"section", "sample", "arm", "metric", "value", "verdict"}
NAME_MAX = 64


class PublishedError(DatasetError):
    """A bad results file or a clash with a stored source; nothing was written. `problems` name their place."""


@dataclass(frozen=True)
class Figure:
    section: str
    sample: str
    arm: str
    metric: str
    value: float | None
    verdict: str = ""

    @property
    def cell(self) -> tuple[str, str, str, str]:
        return (self.section, self.sample, self.arm, self.metric)


@dataclass(frozen=True)
class ImportOutcome:
    source: str
    status: str  # "new", "unchanged" or "replaced"
    by_metric: dict[str, int]

    def summary(self) -> str:
        counts = ", ".join(f"{metric} {n}" for metric, n in self.by_metric.items())
        return f"source {self.source!r} {self.status}: {sum(self.by_metric.values())} figures ({counts})"


# --- import -----------------------------------------------------------------------------------------------


def import_results(path: Path, *, source: str, replace: bool = False, dry_run: bool = False) -> ImportOutcome:
    """Import the figures of a results file as source `source`, all or none.

    Raises PublishedError listing every problem: unreadable file, unknown table or metric, a value that is not
    a finite number inside the metric's range, a sample or arm name we cannot store, a figure given twice, or a
    stored source of that name with other figures (unless `replace`). Importing the same figures again is a
    no-op ("unchanged").
    """
    if problem := _name_problem(source):
        raise PublishedError(f"source name {source!r} {problem}")
    try:
        data = read_path(path)
        parsed = parse_json(decode(data, path.name), path.name)
    except DatasetError as error:
        raise PublishedError(error.problems) from None
    about, figures = read_figures(parsed, path.name)
    by_metric = dict(sorted(Counter(f.metric for f in figures).items()))
    with transaction.atomic():
        stored = PublishedSource.objects.select_for_update().filter(name=source).first()
        if stored is not None and _stored_figures(stored) == set(figures):
            return ImportOutcome(source, "unchanged", by_metric)
        if stored is not None and not replace:
            raise PublishedError(
                f"a source named {source!r} holds other figures (imported from {stored.file_name}); "
                "nothing was imported; use --replace to overwrite it or choose another --source"
            )
        status = "replaced" if stored is not None else "new"
        if dry_run:
            return ImportOutcome(source, status, by_metric)
        fields = {"file_name": path.name[:255], "sha256": hashlib.sha256(data).hexdigest(), "about": about}
        if stored is None:
            stored = PublishedSource.objects.create(name=source, **fields)
        else:
            stored.figures.all().delete()
            PublishedSource.objects.filter(pk=stored.pk).update(**fields)
        PublishedFigure.objects.bulk_create(
            PublishedFigure(
                source=stored,
                section=f.section,
                sample_key=f.sample,
                arm=f.arm,
                metric=f.metric,
                value=f.value,
                verdict=f.verdict,
            )
            for f in figures
        )
    return ImportOutcome(source, status, by_metric)


def read_figures(parsed, name: str) -> tuple[str, list[Figure]]:
    """(about, figures) of a parsed results file in either shape; PublishedError with every problem found."""
    problems = Problems()
    if not isinstance(parsed, dict):
        raise PublishedError(f"{name} must hold a JSON object")
    about = parsed.get("about", "")
    if not isinstance(about, str):
        problems.add(f"{name}.about must be a string")
        about = ""
    if "figures" in parsed:
        figures = _flat_figures(parsed, name, problems)
    else:
        figures = _paper_figures(parsed, name, problems)
    seen: dict[tuple, str] = {}
    for figure in figures:
        if figure.cell in seen:
            problems.add(f"{name}: {_describe(figure)} is given twice")
        seen.setdefault(figure.cell, "")
    if problems:
        raise PublishedError(problems.items)
    if not figures:
        raise PublishedError(f"{name} holds no figures")
    return about, figures


def _paper_figures(parsed: dict, name: str, problems: Problems) -> list[Figure]:
    figures: list[Figure] = []
    for section, tables in parsed.items():
        if section == "about":
            continue
        place = f"{name}.{section}"
        if problem := _name_problem(section):
            problems.add(f"{place}: section name {problem}")
            continue
        if not isinstance(tables, dict):
            problems.add(f"{place} must be an object of tables ({', '.join(PAPER_TABLES)})")
            continue
        for table, body in tables.items():
            where = f"{place}.{table}"
            if table not in PAPER_TABLES:
                problems.add(f"{where}: unknown table (known: {', '.join(PAPER_TABLES)})")
            elif table == "fixcost_steps":
                for arm, per_sample in _items(body, where, problems):
                    for sample, value in _items(per_sample, f"{where}.{arm}", problems):
                        at = f"{where}.{arm}.{sample}"
                        figures += _figure(section, sample, arm, "fixcost_steps", value, at, problems)
            elif table == "codebleu":
                for sample, per_arm in _items(body, where, problems):
                    for arm, value in _items(per_arm, f"{where}.{sample}", problems):
                        at = f"{where}.{sample}.{arm}"
                        figures += _figure(section, sample, arm, "codebleu", value, at, problems)
            elif table == "codetrans":
                for aspect, per_sample in _items(body, where, problems):
                    if aspect not in CODETRANS_ASPECTS:
                        problems.add(f"{where}.{aspect}: unknown aspect (known: {', '.join(CODETRANS_ASPECTS)})")
                        continue
                    for sample, per_arm in _items(per_sample, f"{where}.{aspect}", problems):
                        for arm, value in _items(per_arm, f"{where}.{aspect}.{sample}", problems):
                            at = f"{where}.{aspect}.{sample}.{arm}"
                            figures += _figure(section, sample, arm, f"codetrans_{aspect}", value, at, problems)
            else:
                for sample, verdict in _items(body, where, problems):
                    figures += _verdict(section, sample, COMPARISON_PAIR, verdict, f"{where}.{sample}", problems)
    return figures


def _flat_figures(parsed: dict, name: str, problems: Problems) -> list[Figure]:
    extra = set(parsed) - {"about", "figures"}
    if extra:
        problems.add(f"{name}: a file with 'figures' holds nothing else but 'about' (found {', '.join(sorted(extra))})")
    rows = parsed["figures"]
    if not isinstance(rows, list):
        problems.add(f"{name}.figures must be a list")
        return []
    figures: list[Figure] = []
    for i, row in enumerate(rows):
        place = f"{name}.figures[{i}]"
        if not isinstance(row, dict):
            problems.add(f"{place} must be an object")
            continue
        if unknown := set(row) - FLAT_KEYS:
            problems.add(f"{place} has unknown keys {sorted(unknown)} (allowed: {', '.join(sorted(FLAT_KEYS))})")
        missing = [key for key in ("sample", "arm", "metric") if not isinstance(row.get(key), str)]
        if missing:
            problems.add(f"{place} needs text {', '.join(missing)}")
            continue
        section = row.get("section", "")
        if not isinstance(section, str) or (section and _name_problem(section)):
            problems.add(f"{place}.section must be a name of letters, digits, '-' and '_'")
            continue
        if row["metric"] == COMPARISON:
            figures += _verdict(section, row["sample"], row["arm"], row.get("verdict"), place, problems)
        else:
            figures += _figure(section, row["sample"], row["arm"], row["metric"], row.get("value"), place, problems)
    return figures


def _items(body, place: str, problems: Problems) -> list[tuple[str, object]]:
    if not isinstance(body, dict):
        problems.add(f"{place} must be an object")
        return []
    return list(body.items())


def _figure(section: str, sample: str, arm: str, metric: str, value, at: str, problems: Problems) -> list[Figure]:
    """The figure at place `at`, or none (and a problem) when a name or the value cannot be stored."""
    ranges = _ranges()
    if metric not in ranges:
        problems.add(f"{at}: unknown metric {metric!r} (known: {', '.join(sorted(ranges))}, {COMPARISON})")
        return []
    key = _sample_key(sample)
    if problem := key_problem(key):
        problems.add(f"{at}: sample {sample!r} {problem}")
        return []
    if problem := _name_problem(arm):
        problems.add(f"{at}: arm {arm!r} {problem}")
        return []
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        problems.add(f"{at}: {value!r} is not a number")
        return []
    low, high = ranges[metric]
    if value < low or (high is not None and value > high):
        bounds = f"[{low:g}, {high:g}]" if high is not None else f"at least {low:g}"
        problems.add(f"{at}: {value!r} is outside {metric}'s range {bounds}")
        return []
    return [Figure(section, key, arm, metric, float(value))]


def _verdict(section: str, sample: str, arm: str, verdict, place: str, problems: Problems) -> list[Figure]:
    key = _sample_key(sample)
    if problem := key_problem(key):
        problems.add(f"{place}: sample {sample!r} {problem}")
        return []
    if verdict not in VERDICT_POINTS:
        problems.add(f"{place}: verdict {verdict!r} is not one of {', '.join(VERDICT_POINTS)}")
        return []
    return [Figure(section, key, arm, COMPARISON, VERDICT_POINTS[verdict], verdict)]


def _ranges() -> dict[str, tuple[float, float | None]]:
    """Value range per registry column that holds numbers: the metrics a source may publish."""
    return {c.name: c.value_range for c in metrics.dashboard_columns() if c.value_range is not None}


def _sample_key(sample: str) -> str:
    """The paper keys its CodeBLEU and CodeTrans tables by file name ("e4.py"): the sample is "e4"."""
    return sample.removesuffix(".py")


def _name_problem(name: str) -> str | None:
    if not name:
        return "is empty"
    if len(name) > NAME_MAX:
        return f"is longer than {NAME_MAX} characters"
    if not re.fullmatch(r"[-a-zA-Z0-9_./ ]+", name):
        return "may only hold letters, digits, spaces and - _ . /"
    return None


def _describe(figure: Figure) -> str:
    section = f"{figure.section}: " if figure.section else ""
    return f"{section}{figure.metric} of sample {figure.sample!r}, arm {figure.arm!r}"


def _stored_figures(source: PublishedSource) -> set[Figure]:
    return {Figure(f.section, f.sample_key, f.arm, f.metric, f.value, f.verdict) for f in source.figures.all()}


# --- published beside recomputed ----------------------------------------------------------------------------

# {(sample key as published, arm as published): value}
PerSample = Mapping[tuple[str, str], float | None]


@dataclass(frozen=True)
class Beside:
    """A published figure and ours for the same sample and arm; difference = recomputed - published."""

    sample: str
    arm: str
    metric: str
    published: float | None
    recomputed: float | None
    difference: float | None
    recomputed_as: str = ""  # which of our figures, e.g. "CodeBLEU vs groundtruth_before_fix", "without flagged"


def published_values(source: str, metric: str, *, section: str | None = None) -> dict[tuple[str, str], float | None]:
    """{(sample, arm): value} of one metric of a stored source (one section, or every section when None)."""
    figures = PublishedFigure.objects.filter(source__name=source, metric=metric)
    if section is not None:
        figures = figures.filter(section=section)
    values: dict[tuple[str, str], float | None] = {}
    for sample, arm, value in figures.values_list("sample_key", "arm", "value"):
        if (sample, arm) in values:
            raise PublishedError(f"source {source!r} has {metric} of {sample}/{arm} in several sections; name one")
        values[(sample, arm)] = value
    return values


def beside(
    source: str, metric: str, recomputed: PerSample, *, section: str | None = None, recomputed_as: str = ""
) -> list[Beside]:
    """Published vs recomputed per sample and arm, for every cell either side has, samples in natural order.

    `recomputed` is ours, keyed like the published figures ({(sample, arm): value}): the hook through which a
    report puts any of our figures beside the paper's (CodeBLEU against a chosen reference, FixCost with or
    without flagged steps). PublishedError when the source does not exist.
    """
    if not PublishedSource.objects.filter(name=source).exists():
        raise PublishedError(f"there is no published source named {source!r}; import it with import_results")
    published = published_values(source, metric, section=section)
    cells = sorted(published.keys() | recomputed.keys(), key=lambda cell: (_natural(cell[0]), cell[1]))
    rows = []
    for sample, arm in cells:
        theirs, ours = published.get((sample, arm)), recomputed.get((sample, arm))
        difference = ours - theirs if ours is not None and theirs is not None else None
        rows.append(Beside(sample, arm, metric, theirs, ours, difference, recomputed_as))
    return rows


@dataclass(frozen=True)
class ArmSummary:
    """One arm of a `beside` table over the samples with both figures: n, both means, the largest |difference|."""

    arm: str
    n: int
    published_mean: float | None
    recomputed_mean: float | None
    max_abs_difference: float | None


def summarize(rows: list[Beside]) -> list[ArmSummary]:
    by_arm: dict[str, list[Beside]] = defaultdict(list)
    for row in rows:
        if row.difference is not None:
            by_arm[row.arm].append(row)
    out = []
    for arm in sorted({row.arm for row in rows}):
        both = by_arm.get(arm, [])
        n = len(both)
        out.append(
            ArmSummary(
                arm,
                n,
                sum(r.published for r in both) / n if n else None,
                sum(r.recomputed for r in both) / n if n else None,
                max(abs(r.difference) for r in both) if n else None,
            )
        )
    return out


def codebleu_by_sample(
    arms: Mapping[str, str], reference: str, *, sample_prefix: str = ""
) -> dict[tuple[str, str], float]:
    """Our stored CodeBLEU against `reference` ('verified' or a reference system's name) as {(sample, arm): value}.

    `arms` maps the source's arm labels to our system names ({"A": "baseline_before_fix"}); our sample key is
    `sample_prefix` + the published key (an intrinsic set imported with --key-prefix).
    """
    systems = {system: arm for arm, system in arms.items()}
    scores = CodeBLEUScore.objects.filter(reference=reference, translation__system__name__in=systems).values_list(
        "translation__sample__key", "translation__system__name", "codebleu"
    )
    return {
        (sample.removeprefix(sample_prefix), systems[system]): value
        for sample, system, value in scores
        if sample.startswith(sample_prefix)
    }


def fixcost_steps_by_sample(
    arms: Mapping[str, str],
    *,
    counted: Callable[[FixSession], int] | None = None,
    sample_prefix: str = "",
) -> dict[tuple[str, str], float]:
    """FixCost steps of each verified translation of the named systems as {(sample, arm): steps}.

    `counted(session)` counts a verified session's steps; the default counts every step FixCost counts (not
    retracted). Pass another count to set, say, FixCost without flagged steps beside the published figures.
    """
    count = counted or (lambda session: session.counted_steps().count())
    systems = {system: arm for arm, system in arms.items()}
    sessions = FixSession.objects.filter(
        status=SessionStatus.VERIFIED, translation__system__name__in=systems
    ).select_related("translation__sample", "translation__system")
    values = {}
    for session in sessions:
        sample = session.translation.sample.key
        if sample.startswith(sample_prefix):
            values[(sample.removeprefix(sample_prefix), systems[session.translation.system.name])] = float(
                count(session)
            )
    return values


def _natural(key: str) -> tuple:
    """e2 before e10: digits compare as numbers."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", key))
