"""Experiments: the spec, the steps as resumable jobs, the report, and the paper's CodeBLEU reproduced end to end
through a local OpenAI-compatible server answering with the paper's drafts."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from annotate.dataset import import_dataset_file
from annotate.models import FixStep, Job, JobStatus, Sample, System, Translation
from evaluate import experiment as experiments
from evaluate import experiment_report, metrics
from evaluate.experiment_copy_check import check as copy_check
from evaluate.models import Experiment, PromptMode
from evaluate.published import import_results
from tests.annotate.llm_fakes import CHAT_PATH, chat_requests, llm_endpoint, no_llm_endpoint  # noqa: F401
from tests.evaluate.paper_llm import answering_handler, paper_samples
from tests.paper import INTRINSIC, PAPER_DATASET, RESULTS, needs_paper_data
from tests.test_import_intrinsic import script

pytestmark = [pytest.mark.django_db, needs_paper_data]

# CodeBLEU is slow: a subset. e2, m1 and h5 are the samples whose recomputed figure moves most (up to 0.0019).
REPRODUCED = ["e1", "e2", "m1", "h5"]
PAPER_ARMS = {"A": "baseline", "B": "t2j"}


def _paper_spec(name: str = "paper", samples=REPRODUCED) -> dict:
    return {
        "name": name,
        "samples": samples,
        "reference": "groundtruth_before_fix",
        "metrics": ["codebleu"],
        "arms": [
            {"name": "baseline", "prompt": "standard", "model": "paper-llm"},
            {"name": "t2j", "prompt": "t2j-all", "model": "paper-llm"},
        ],
        "published": {"source": "t2j-paper", "section": "intrinsic", "arms": PAPER_ARMS},
    }


def _write(tmp_path, data) -> str:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(data))
    return str(path)


def _run(name: str, step: str) -> str:
    out = io.StringIO()
    call_command("experiment", "run", name, "--step", step, stdout=out)
    return out.getvalue()


def test_running_the_papers_protocol_reproduces_its_per_sample_codebleu(llm_endpoint, tmp_path):  # noqa: F811
    script.import_intrinsic(INTRINSIC, only=tuple(REPRODUCED))  # samples, and the reference groundtruth_before_fix
    import_results(RESULTS, source="t2j-paper")
    llm_endpoint.expect_request(CHAT_PATH).respond_with_handler(answering_handler(paper_samples()))
    call_command("experiment", "create", "--spec", _write(tmp_path, _paper_spec()), stdout=io.StringIO())
    assert "draft: done" in _run("paper", "draft")
    assert len(chat_requests(llm_endpoint)) == 8  # 4 samples x 2 arms, through the real SDK over HTTP
    assert "metrics: done" in _run("paper", "metrics")
    output = tmp_path / "report.json"
    call_command("experiment", "report", "paper", "--format", "json", "--output", str(output), stdout=io.StringIO())
    report = json.loads(output.read_text())

    published = json.loads(RESULTS.read_text())["intrinsic"]["codebleu"]
    labels = {arm: label for label, arm in PAPER_ARMS.items()}
    rows = report["per_sample"]
    assert {(r["sample"], r["arm"]) for r in rows} == {(s, a) for s in REPRODUCED for a in ("baseline", "t2j")}
    for row in rows:
        assert abs(row["codebleu"] - published[f"{row['sample']}.py"][labels[row["arm"]]]) <= 0.002, row
    difference = next(d for d in report["differences"] if d["column"] == "codebleu")
    assert (difference["a"], difference["b"], difference["n"]) == ("baseline", "t2j", 4)
    assert 0 < difference["wilcoxon_p"] <= 1 and difference["low"] <= difference["difference"] <= difference["high"]
    assert "groundtruth_before_fix" in difference["reference"] and "Wilcoxon" in difference["method"]
    codebleu = next(t for t in report["published"]["tables"] if t["metric"] == "codebleu")
    assert len(codebleu["rows"]) == 8 and all(abs(r["difference"]) <= 0.002 for r in codebleu["rows"])


def test_a_step_run_again_resumes_without_redoing_what_is_done(llm_endpoint, tmp_path):  # noqa: F811
    script.import_intrinsic(INTRINSIC, only=("e1", "e3"))
    llm_endpoint.expect_request(CHAT_PATH).respond_with_handler(answering_handler(paper_samples()))
    experiments.create(_paper_spec(samples=["e1", "e3"]) | {"published": None} | {"name": "again"})
    _run("again", "draft")
    Translation.objects.filter(system__name="again-t2j", sample__key="e3").delete()  # as if cancelled before it
    _run("again", "draft")
    assert len(chat_requests(llm_endpoint)) == 5  # 4, then only the missing draft
    jobs = Job.objects.filter(kind="experiment-draft").order_by("pk")
    assert [(j.status, j.total, j.done) for j in jobs] == [(JobStatus.DONE, 4, 4)] * 2


def test_a_cancelled_step_stops_and_says_so(llm_endpoint):  # noqa: F811
    script.import_intrinsic(INTRINSIC, only=("e1",))
    llm_endpoint.expect_request(CHAT_PATH).respond_with_handler(answering_handler(paper_samples()))
    experiment, _ = experiments.create(_paper_spec(samples=["e1"]) | {"published": None})
    job = experiments.new_job(experiment, "draft")
    Job.objects.filter(pk=job.pk).update(cancel_requested=True, status=JobStatus.RUNNING)
    job.refresh_from_db()
    experiments.execute(job)
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED and not chat_requests(llm_endpoint)
    assert not Translation.objects.filter(system__name__startswith="paper-").exists()


def test_drafting_without_an_endpoint_fails_the_job_with_the_reason(no_llm_endpoint):  # noqa: F811
    script.import_intrinsic(INTRINSIC, only=("e1",))
    experiments.create(_paper_spec(samples=["e1"]) | {"published": None})
    with pytest.raises(CommandError, match="step draft failed"):
        _run("paper", "draft")
    job = Job.objects.get(kind="experiment-draft")
    assert job.status == JobStatus.FAILED and "OPENAI" in job.message


def test_the_judge_step_is_skipped_without_an_endpoint(no_llm_endpoint):  # noqa: F811
    script.import_intrinsic(INTRINSIC, only=("e1",))
    spec = _paper_spec(samples=["e1"]) | {"published": None, "metrics": ["codebleu", "comparison"]}
    experiments.create(spec)
    assert "Skipped: no LLM judge" in _run("paper", "judge")


# --- the spec ---------------------------------------------------------------------------------------------


def test_a_bad_spec_is_refused_naming_every_problem_and_nothing_is_written(tmp_path):
    script.import_intrinsic(INTRINSIC, only=("e1",))
    systems = System.objects.count()
    bad = {
        "name": "bad name!",
        "samples": ["e1", "zz9"],
        "reference": "no-such-system",
        "metrics": ["codebleu", "bleu"],
        "arms": [
            {"name": "a", "prompt": "t2j-relevant"},
            {"name": "a", "prompt": "sometimes"},
            {"name": "c", "prompt": "t2j-categories", "categories": ["prng", "vibes"], "temperature": 9},
            {"name": "d", "system": "nope"},
        ],
        "colour": "blue",
    }
    with pytest.raises(CommandError) as error:
        call_command("experiment", "create", "--spec", _write(tmp_path, bad))
    message = str(error.value)
    for expected in (
        "unknown keys ['colour']",
        "spec.json.name must be a slug",
        "no stored sample 'zz9'",
        "reference must be 'verified' or the name of a stored system",
        "unknown 'bleu'",
        "arms[0].k (how many relevant steps)",
        "arms[1]: the arm name 'a' is used twice",
        "arms[1].prompt must be one of",
        "arms[2].temperature must be a number in [0, 2]",
        "arms[2].categories must be a non-empty list",
        "arms[3].system: there is no system named 'nope'",
    ):
        assert expected in message, expected
    assert not Experiment.objects.exists() and System.objects.count() == systems


def test_the_same_spec_again_changes_nothing_and_another_under_its_name_is_refused():
    script.import_intrinsic(INTRINSIC, only=("e1",))
    spec = _paper_spec(samples=["e1"]) | {"published": None}
    first, status = experiments.create(spec)
    assert status == "new" and [a.system.name for a in experiments.arms_of(first)] == ["paper-baseline", "paper-t2j"]
    assert experiments.create(spec) == (first, "unchanged")
    with pytest.raises(experiments.ExperimentError, match="exists with another spec"):
        experiments.create(spec | {"description": "changed"})


def test_arms_narrow_the_fix_steps_their_t2j_prompts_carry():
    import_dataset_file(PAPER_DATASET, system="paper-dataset")
    experiment, _ = experiments.create(
        {
            "name": "modes",
            "samples": ["e2"],
            "arms": [
                {"name": "k3", "prompt": "t2j-relevant", "k": 3},
                {"name": "prng", "prompt": "t2j-categories", "categories": ["prng"]},
            ],
        }
    )
    k3, prng = experiments.arms_of(experiment)
    assert (k3.prompt_mode, k3.relevant_k, prng.categories) == (PromptMode.T2J_RELEVANT, 3, ["prng"])
    shared = FixStep.objects.shared()
    e2 = experiments.samples_of(experiment)[0]
    relevant = experiments.steps_for(k3)(e2)
    assert len(relevant) == 3 and not shared.filter(pk__in=relevant, session__translation__sample=e2).exists()

    chosen = experiments.steps_for(prng)(e2)
    assert chosen and set(shared.filter(pk__in=chosen).values_list("category", flat=True)) == {"prng"}
    assert len(chosen) == shared.filter(category="prng").exclude(session__translation__sample=e2).count()


# --- the copy check ---------------------------------------------------------------------------------------


def _examples_prompt(examples: list[dict]) -> list[dict]:
    dataset = json.dumps({"Pytorch_to_JAX_Examples": examples})
    return [{"role": "user", "content": f"Bug-fix dataset (JSON):\n{dataset}\n\nTranslate the PyTorch program."}]


def test_a_draft_that_pastes_an_injected_example_is_flagged_and_an_honest_one_is_not():
    dataset = json.loads((PAPER_DATASET).read_text())["Pytorch_to_JAX_Examples"]
    others = [example for example in dataset if example["Example_id"] != "e2"]  # leave-one-out, as the prompt does
    prompt = _examples_prompt(others)
    e1 = next(example for example in others if example["Example_id"] == "e1")
    pasted = "# my translation\n" + e1["LLM_weak_output"] + "\nprint('done')\n"
    honest = paper_samples()["e2"]["baseline_before_fix"]  # drafted by the paper's baseline, with no examples shown

    found = copy_check(pasted, prompt)
    assert found.flagged and found.top_source == "e1" and found.top_share > 0.9
    clean = copy_check(honest, prompt, own_source=paper_samples()["e2"]["pytorch"])
    assert not clean.flagged and clean.top_share < 0.5 and clean.lines > 10
    assert copy_check(pasted, [{"role": "user", "content": "standard prompt"}]).flagged is False  # nothing injected


def test_the_report_flags_a_t2j_draft_that_pastes_its_prompts_example(llm_endpoint):  # noqa: F811
    import_dataset_file(PAPER_DATASET, system="paper-dataset")

    def paste_the_first_example(request):
        from werkzeug import Response

        text = json.loads(request.get_data())["messages"][-1]["content"]
        start = text.index('{"Pytorch_to_JAX_Examples"')
        dataset, _ = json.JSONDecoder().raw_decode(text, start)
        code = dataset["Pytorch_to_JAX_Examples"][0]["LLM_weak_output"]
        return Response(json.dumps(_completion(f"```python\n{code}\n```")), content_type="application/json")

    llm_endpoint.expect_request(CHAT_PATH).respond_with_handler(paste_the_first_example)
    arm = {"name": "t2j", "prompt": "t2j-relevant", "k": 4}
    experiments.create({"name": "paste", "samples": ["e2"], "arms": [arm]})
    _run("paste", "draft")
    assert Translation.objects.get(system__name="paste-t2j").included_steps.count() == 4  # the k most relevant
    report = experiment_report.build(Experiment.objects.get(name="paste"), resamples=99)
    (row,) = report["per_sample"]
    assert row["copy_flagged"] and row["copy_top_share"] > 0.9 and report["copy_check"]["flagged"] == 1


def _completion(content: str) -> dict:
    from tests.annotate.llm_fakes import completion

    return completion(content)


# --- the report -------------------------------------------------------------------------------------------


@pytest.fixture
def reported(evaluated):  # noqa: F811
    """An experiment over the evaluated data set's two systems (their drafts exist), reference: verified code."""
    experiment, _ = experiments.create(
        {
            "name": "evald",
            "samples": ["e1", "h1"],
            "metrics": ["codebleu", "fixcost", "comparison"],
            "arms": [{"name": "base", "system": "base"}, {"name": "t2j", "system": "t2j"}],
        }
    )
    return experiment


def test_every_interval_of_the_report_lies_inside_its_metrics_range(reported):
    report = experiment_report.build(reported, resamples=199)
    ranges = {c.name: c.value_range for m in metrics.all_metrics() for c in m.columns}
    assert report["means"]
    for row in report["means"]:
        low, high = ranges[row["column"]]
        for value in (row["mean"], row["low"], row["high"]):
            assert value is None or (low <= value and (high is None or value <= high)), row
    for row in report["comparisons"]["rows"]:
        assert 0 <= row["low"] <= row["score_b"] <= row["high"] <= 1
    # 4 votes, all for t2j: the Clopper–Pearson interval is [0.398, 1], never zero-width.
    assert report["comparisons"]["rows"][0]["n"] == 4 and round(report["comparisons"]["rows"][0]["low"], 3) == 0.398


def test_the_report_states_reference_n_and_method_for_every_table(reported):
    report = experiment_report.build(reported, resamples=199)
    text = experiment_report.render(report, "md")
    tables = text.split("\n## ")[1:]
    assert len(tables) >= 9
    for table in tables:
        if table.startswith("Arms"):
            continue
        assert "Reference:" in table or "Per translation" in table, table[:80]
        assert "n = " in table or "n per arm" in table, table[:80]
        assert "Method:" in table, table[:80]
    fixcost = {r["arm"]: r for r in report["fixcost"]["rows"]}
    assert (fixcost["base"]["mean_steps"], fixcost["t2j"]["mean_steps"]) == (3, 1)
    assert "each sample's verified" in report["reference_label"]


def test_the_csv_report_is_the_per_sample_table(reported):
    text = experiment_report.render(experiment_report.build(reported, resamples=99), "csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["sample"], r["arm"]) for r in rows] == [("e1", "base"), ("e1", "t2j"), ("h1", "base"), ("h1", "t2j")]
    assert [float(r["codebleu"]) for r in rows] == [0.2, 0.3, 0.2, 0.3]


def test_every_plot_of_the_report_has_rows(reported):
    report = experiment_report.build(reported, resamples=99)
    found = experiment_report.plots_of(report, resamples=99)
    assert {p.kind for p in found} >= {"box", "forest", "stacked"}
    assert all(p.rows for p in found)


def test_report_of_an_unknown_experiment_is_a_clear_error():
    with pytest.raises(CommandError, match="there is no experiment named 'nope'"):
        call_command("experiment", "report", "nope")


def test_the_judge_step_compares_every_pair_of_arms_in_both_orders_once(llm_endpoint, evaluated):  # noqa: F811
    from werkzeug import Response

    from evaluate.models import Comparison

    def second_is_better(request):
        return Response(json.dumps(_completion("B reads better.\nVerdict: B")), content_type="application/json")

    llm_endpoint.expect_request(CHAT_PATH).respond_with_handler(second_is_better)
    spec = {"name": "judged", "samples": ["e1", "h1"], "metrics": ["comparison"],
            "arms": [{"name": "base", "system": "base"}, {"name": "t2j", "system": "t2j"}]}  # fmt: skip
    experiments.create(spec)
    reviewers = Comparison.objects.count()
    assert "and 2 pair(s) in both orders" in _run("judged", "judge")
    llm_votes = Comparison.objects.filter(judge_user__isnull=True)
    assert llm_votes.count() == 4 and Comparison.objects.count() == reviewers + 4
    assert all(vote.inconsistent for vote in llm_votes)  # "B" in both orders: the verdict flips with the order
    assert "and 0 pair(s)" in _run("judged", "judge")  # judged pairs are not asked again
    report = experiment_report.build(Experiment.objects.get(name="judged"), resamples=99)
    assert report["comparisons"]["n"] == reviewers + 4


def test_with_reference_codetrans_asks_about_the_experiments_reference_system(llm_endpoint, evaluated):  # noqa: F811
    from tests.annotate.factories import SystemFactory, TranslationFactory
    from tests.annotate.llm_fakes import prompt_text

    llm_endpoint.expect_request(CHAT_PATH).respond_with_json(_completion("Close to the reference.\nScore: 3"))
    groundtruth = SystemFactory(name="groundtruth")
    for key in ("e1", "h1"):
        TranslationFactory(sample=Sample.objects.get(key=key), system=groundtruth, code=f"# the ground truth of {key}")
    experiments.create({"name": "gt", "samples": ["e1", "h1"], "metrics": ["codetrans"], "reference": "groundtruth",
                        "arms": [{"name": "base", "system": "base"}, {"name": "t2j", "system": "t2j"}]})  # fmt: skip

    _run("gt", "judge")

    with_reference = [prompt_text(body) for body in chat_requests(llm_endpoint) if "Reference JAX" in prompt_text(body)]
    assert len(with_reference) == 4 * 2  # 4 translations, 2 aspects asked with the reference each
    assert all("# the ground truth of" in prompt for prompt in with_reference)


def test_published_fixcost_is_shown_beside_the_bug_fix_datasets_with_and_without_flagged_steps():
    import_dataset_file(PAPER_DATASET, system="paper-dataset")
    import_results(RESULTS, source="t2j-paper")
    samples = [key.removesuffix(".py") for key in json.loads(RESULTS.read_text())["intrinsic"]["codebleu"]]
    experiments.create(
        {
            "name": "fixcost",
            "samples": samples,
            "metrics": ["fixcost"],
            "arms": [{"name": "dataset", "system": "paper-dataset"}],
            "published": {"source": "t2j-paper", "section": "intrinsic", "arms": {"baseline": "dataset"}},
        }
    )
    _run("fixcost", "metrics")
    report = experiment_report.build(Experiment.objects.get(name="fixcost"), resamples=99)
    counted, unflagged = report["published"]["tables"]
    assert (counted["metric"], unflagged["metric"]) == ("fixcost_steps", "fixcost_steps")
    assert "without flagged" in unflagged["recomputed_as"]
    for table in (counted, unflagged):
        assert len(table["rows"]) == 20 and all(r["difference"] is not None for r in table["rows"])
    ours = {r["sample"]: r["recomputed"] for r in counted["rows"]}
    assert sum(ours.values()) == 276  # every step of the released dataset counts
    assert any(r["difference"] != 0 for r in counted["rows"])  # it holds more steps than the paper counted
    assert all(u["recomputed"] <= ours[u["sample"]] for u in unflagged["rows"])


def test_the_shipped_paper_spec_reproduces_the_papers_mean_codebleu_from_its_drafts(tmp_path):
    # fixtures/experiments/paper_intrinsic.json: the README's ready-made experiment (arms on the imported drafts).
    script.import_intrinsic(INTRINSIC, replace=True)
    import_results(RESULTS, source="t2j-paper")
    spec = settings.BASE_DIR / "fixtures" / "experiments" / "paper_intrinsic.json"
    call_command("experiment", "create", "--spec", str(spec), stdout=io.StringIO())
    assert "metrics: done" in _run("paper-intrinsic", "metrics")
    output = tmp_path / "report.json"
    call_command("experiment", "report", "paper-intrinsic", "--format", "json", "--output", str(output))

    report = json.loads(output.read_text())
    means = {m["arm"]: m for m in report["means"] if m["column"] == "codebleu"}
    assert means["baseline"]["n"] == means["t2j"]["n"] == 20
    # The paper's drafts were made elsewhere: their temperature is not known, so none is claimed.
    assert all(arm["temperature"] is None for arm in report["arms"])
    assert abs(means["baseline"]["mean"] - 0.1891) <= 0.001 and abs(means["t2j"]["mean"] - 0.2881) <= 0.001
