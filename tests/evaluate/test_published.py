"""Published figures: results.json loads as it is, bad files change nothing, published beside ours."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from annotate.models import FixStep, SessionStatus
from evaluate.models import CodeBLEUScore, Comparison, FixCostRecord, PublishedFigure, PublishedSource
from evaluate.published import (
    PublishedError,
    beside,
    codebleu_by_sample,
    fixcost_steps_by_sample,
    import_results,
    summarize,
)
from tests.annotate.factories import FixSessionFactory, FixStepFactory, SampleFactory, SystemFactory, TranslationFactory
from tests.paper import RESULTS, needs_paper_data

pytestmark = pytest.mark.django_db


def _write(tmp_path, data, name="figures.json"):
    path = tmp_path / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _figures(source: str) -> set[tuple]:
    return set(
        PublishedFigure.objects.filter(source__name=source).values_list(
            "section", "sample_key", "arm", "metric", "value", "verdict"
        )
    )


@needs_paper_data
def test_the_papers_results_load_as_they_are():
    out = io.StringIO()
    call_command("import_results", str(RESULTS), "--source", "t2j-paper", stdout=out)
    assert "282 figures" in out.getvalue() and "codebleu 40" in out.getvalue()
    source = PublishedSource.objects.get(name="t2j-paper")
    assert source.file_name == "results.json" and source.about.startswith("Figures published with the T2J paper")
    figures = {(f[1], f[2], f[3]): (f[4], f[5]) for f in _figures("t2j-paper")}
    # File names ("e4.py") become sample keys; each table's orientation (arm → sample or sample → arm) is read.
    assert figures[("e4", "A", "codebleu")] == (0.162096, "")
    assert figures[("h5", "baseline", "fixcost_steps")] == (32.0, "")
    assert figures[("h9", "groundtruth", "fixcost_steps")] == (0.0, "")
    assert figures[("e1", "B", "codetrans_func_ref")] == (3.0, "")
    assert figures[("e1", "A/B", "comparison")] == (1.0, "B")
    assert {f[0] for f in _figures("t2j-paper")} == {"intrinsic"}
    # Kept apart: no votes, no steps, no metric figures of ours came from it.
    assert not Comparison.objects.exists() and not FixStep.objects.exists()
    assert not CodeBLEUScore.objects.exists() and not FixCostRecord.objects.exists()


@needs_paper_data
def test_importing_the_same_figures_again_changes_nothing():
    import_results(RESULTS, source="t2j-paper")
    before = _figures("t2j-paper")
    assert import_results(RESULTS, source="t2j-paper").status == "unchanged"
    assert _figures("t2j-paper") == before


@needs_paper_data
def test_a_bad_file_names_every_problem_and_changes_nothing(tmp_path):
    import_results(RESULTS, source="t2j-paper")
    before = _figures("t2j-paper")
    bad = _write(
        tmp_path,
        {
            "intrinsic": {
                "codebleu": {"e1.py": {"A": 1.3, "B": "high"}, "e1": {"A": 0.2}, "e2": {"A": 0.2}},
                "fixcost_steps": {"baseline": {"e2": -1, "bad key!": 3}},
                "comparison": {"e3": "C"},
                "votes": {},
            },
            "extrinsic": [],
        },
    )
    with pytest.raises(PublishedError) as error:
        import_results(bad, source="t2j-paper", replace=True)
    message = error.value.message
    assert "intrinsic.codebleu.e1.py.A: 1.3 is outside codebleu's range [0, 1]" in message
    assert "intrinsic.codebleu.e1.py.B: 'high' is not a number" in message
    assert "fixcost_steps.baseline.e2: -1 is outside fixcost_steps's range at least 0" in message
    assert "sample 'bad key!'" in message and "verdict 'C' is not one of A, B, tie, both-bad" in message
    assert "intrinsic.votes: unknown table" in message and "extrinsic must be an object" in message
    assert _figures("t2j-paper") == before


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"{not json", "not valid JSON"),
        (b'{"intrinsic": {"codebleu": {"e1": {"A": NaN}}}}', "not a finite number"),
        (b"[1, 2]", "must hold a JSON object"),
        (b'{"about": "nothing", "extrinsic": {}}', "holds no figures"),
        (b'{"intrinsic": {"codebleu": {"e1": {"A": 0.1}, "e1.py": {"A": 0.2}}}}', "is given twice"),
        (b'{"about": "caf\xe9"}', "not valid UTF-8"),
    ],
)
def test_unreadable_files_are_refused_with_the_reason(tmp_path, content, expected):
    path = tmp_path / "results.json"
    path.write_bytes(content)
    with pytest.raises(CommandError, match=expected):
        call_command("import_results", str(path), "--source", "paper", stdout=io.StringIO())
    assert not PublishedSource.objects.exists()


@needs_paper_data
def test_other_figures_under_a_stored_name_need_replace(tmp_path):
    import_results(RESULTS, source="t2j-paper")
    other = _write(tmp_path, {"intrinsic": {"codebleu": {"e1.py": {"A": 0.5}}}})
    with pytest.raises(PublishedError, match="holds other figures .* use --replace"):
        import_results(other, source="t2j-paper")
    assert len(_figures("t2j-paper")) == 282
    assert import_results(other, source="t2j-paper", replace=True, dry_run=True).status == "replaced"
    assert len(_figures("t2j-paper")) == 282
    assert import_results(other, source="t2j-paper", replace=True).status == "replaced"
    assert _figures("t2j-paper") == {("intrinsic", "e1", "A", "codebleu", 0.5, "")}


def test_the_flat_shape_loads_any_sources_figures(tmp_path):
    path = _write(
        tmp_path,
        {
            "about": "another paper",
            "figures": [
                {"sample": "k1", "arm": "gpt", "metric": "codebleu", "value": 0.4},
                {"section": "ext", "sample": "k1", "arm": "gpt", "metric": "runtime_median_s", "value": 1.5},
                {"sample": "k1", "arm": "gpt/llama", "metric": "comparison", "verdict": "tie"},
            ],
        },
    )
    assert import_results(path, source="other").by_metric == {"codebleu": 1, "comparison": 1, "runtime_median_s": 1}
    assert ("", "k1", "gpt/llama", "comparison", 0.5, "tie") in _figures("other")
    bad = _write(tmp_path, {"figures": [{"sample": "k1", "arm": "gpt", "metric": "bleu", "value": 0.4}]}, "bad.json")
    with pytest.raises(PublishedError, match="unknown metric 'bleu'"):
        import_results(bad, source="other2")


@needs_paper_data
def test_published_beside_recomputed_with_the_difference():
    import_results(RESULTS, source="t2j-paper")
    ours = {("e1", "A"): 0.3, ("e1", "B"): 0.330553, ("x9", "A"): 0.5}
    rows = beside("t2j-paper", "codebleu", ours, section="intrinsic", recomputed_as="vs groundtruth")
    e1a = next(r for r in rows if (r.sample, r.arm) == ("e1", "A"))
    assert (e1a.published, e1a.recomputed, e1a.recomputed_as) == (0.288925, 0.3, "vs groundtruth")
    assert e1a.difference == pytest.approx(0.3 - 0.288925)
    assert next(r for r in rows if r.sample == "x9").published is None  # ours only: shown, no difference
    assert [r.sample for r in rows[:4]] == ["e1", "e1", "e2", "e2"] and rows[-1].sample == "x9"
    by_arm = {s.arm: s for s in summarize(rows)}
    assert by_arm["A"].n == 1 and by_arm["B"].max_abs_difference == pytest.approx(0)
    with pytest.raises(PublishedError, match="no published source named 'nope'"):
        beside("nope", "codebleu", {})


def test_our_codebleu_and_fixcost_read_per_sample_for_the_published_arms():
    sample = SampleFactory(key="paper-e1")
    weak, strong = SystemFactory(name="weak"), SystemFactory(name="strong")
    t_weak = TranslationFactory(sample=sample, system=weak)
    TranslationFactory(sample=sample, system=strong)
    CodeBLEUScore.objects.create(
        translation=t_weak, reference="strong", codebleu=0.25, ngram=0, weighted_ngram=0, syntax=0, dataflow=0
    )
    CodeBLEUScore.objects.create(
        translation=t_weak, reference="verified", codebleu=0.9, ngram=0, weighted_ngram=0, syntax=0, dataflow=0
    )
    assert codebleu_by_sample({"A": "weak"}, "strong", sample_prefix="paper-") == {("e1", "A"): 0.25}
    session = FixSessionFactory(translation=t_weak, status=SessionStatus.VERIFIED)
    steps = [FixStepFactory(session=session, index=i + 1) for i in range(3)]
    assert fixcost_steps_by_sample({"baseline": "weak"}, sample_prefix="paper-") == {("e1", "baseline"): 3.0}
    # The hook: any count of a session's steps, e.g. FixCost without the steps a rule flagged.
    flagged = {steps[0].pk}
    without = fixcost_steps_by_sample(
        {"baseline": "weak"},
        counted=lambda s: s.counted_steps().exclude(pk__in=flagged).count(),
        sample_prefix="paper-",
    )
    assert without == {("e1", "baseline"): 2.0}
