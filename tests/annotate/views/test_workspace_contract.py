"""The workspace's contract tab: developers read the contract of the sample they fix (source, the interface it
expects, tolerances) and each stage of the last run, with the first mismatch as expected vs got."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from annotate import fixlog
from annotate.models import RunKind
from tests.annotate.contract_support import contract_file, demo_file, demo_sample
from tests.annotate.factories import RunFactory, SampleFactory, TranslationFactory

pytestmark = pytest.mark.django_db

PYTEST_FAILED = [
    {"name": "spec", "status": "passed", "mismatch": None},
    {
        "name": "numeric",
        "status": "failed",
        "mismatch": {
            "check": "test_forward_pass",
            "test": "test_forward_pass",
            "message": "AssertionError: Not equal to tolerance rtol=1e-05, atol=1e-05",
            "where": "contract.py:41",
            "function": "numpy.testing.assert_allclose",
            "shape": [64, 1],
            "expected_shape": [64, 1],
            "dtype": "float32",
            "expected_dtype": "float64",
            "first_index": [3, 0],
            "first_actual": 2.5,
            "first_expected": 2.0,
            "index": [7, 0],
            "actual": 9.0,
            "expected": 4.0,
            "max_abs": 5.0,
            "max_rel": 1.25,
            "mismatched": 12,
            "size": 64,
            "rtol": 1e-05,
            "atol": 1e-05,
        },
    },
    {"name": "behavioral", "status": "not-reached", "mismatch": None},
]
PYTEST_REPORT = {
    "kind": "pytest",
    "tests": [
        {"name": "test_forward_pass", "stage": "numeric", "outcome": "failed", "message": "AssertionError: ..."},
        {"name": "test_loss", "stage": "numeric", "outcome": "failed", "message": "TypeError: bad operand (x.py:3)"},
        {"name": "test_convergence", "stage": "behavioral", "outcome": "not-reached"},
    ],
    "imports": [
        {"module": "torch_program", "seconds": 5.9, "output": "Epoch [1000/1000], Loss: 0.6634\n", "truncated": False},
        {"module": "jax_program", "seconds": 0.9, "output": "", "truncated": False},
    ],
    "shapes": {"model parameters": {"params": {"fc": {"kernel": [64, 3], "bias": [3]}}}},
}


def page_of(client, session, **headers) -> str:
    return client.get(reverse("workspace:session_detail", args=[session.pk]), **headers).content.decode()


def test_a_developer_reads_the_interface_tolerances_and_source_before_any_run(developer_client, developer):
    session = fixlog.claim(TranslationFactory(sample=demo_sample("cnn"), code="x = 1\n"), developer)

    html = page_of(developer_client, session)

    assert 'id="contract-panel"' in html and 'data-default-tab="interface"' in html
    assert "The contract has not run on this session yet." in html
    # What took five blind guesses: the names, their form, and how the contract uses them.
    assert "<td><code>train_step</code></td>" in html and "<code>4 positional arguments</code>" in html
    assert "<td><code>optimizer</code></td>" in html and "jax_program.model.apply(params, to_jax(_nhwc(x)))" in html
    assert "&#x27;conv1&#x27;: conv(model.conv1, grad)" in html and "&#x27;fc&#x27;: _fc(model, grad)" in html
    assert "NHWC" in html  # the contract's own description of its layouts
    # Tolerances per check, and the source.
    assert re.search(r"<td><code>forward logits</code></td><td>numeric</td>\s*<td>0.0001</td><td>1e-05", html)
    assert 'class="code contract-source"' in html and "def behavioral(torch_program, jax_program):" in html


def test_the_last_pytest_style_run_shows_tests_per_stage_and_the_first_mismatch_as_expected_vs_got(
    developer_client, developer
):
    sample = demo_sample("linreg", contract_file("linreg_equivalence.py"))
    session = fixlog.claim(TranslationFactory(sample=sample, code=demo_file("linreg", "draft_weak.py")), developer)
    RunFactory(
        kind=RunKind.CONTRACT,
        session=session,
        user=developer,
        code=session.current_code,
        verdict="failed",
        stages=PYTEST_FAILED,
        contract_version=1,
        contract_report=PYTEST_REPORT,
    )

    html = page_of(developer_client, session)

    assert 'data-default-tab="result"' in html and "pytest-style test module" in html
    assert '<li class="stage stage-failed" id="stage-numeric">' in html
    assert '<tr class="row-shape"><th>shape</th><td>[64, 1]</td><td>[64, 1]</td></tr>' in html
    assert '<tr class="row-dtype"><th>dtype</th><td>float64</td><td>float32</td></tr>' in html
    assert "<th>first differing index [3, 0]</th><td>2</td><td>2.5</td>" in html
    assert "<th>worst index [7, 0]</th><td>4</td><td>9</td>" in html
    assert "max abs diff 5, max rel diff 1.25 · 12 of 64 elements off" in html
    assert "compared by numpy.testing.assert_allclose" in html and "(contract.py:41)" in html
    # Every test under its stage; a second failing test keeps its own message.
    assert 'id="test-test_loss"' in html and "TypeError: bad operand (x.py:3)" in html
    assert '<li class="test test-not-reached" id="test-test_convergence">' in html
    # Importing the unguarded script printed its training log: shown under the names the contract used.
    assert "<code>pytorch_code</code>" in html and "Epoch [1000/1000], Loss: 0.6634" in html
    # The parameter shapes the contract expected, one line per leaf.
    assert "params.fc.kernel (64, 3)\nparams.fc.bias (3,)" in html
    # The interface of a test module: what it imports from the candidate.
    assert "<td><code>predict</code></td>" in html and "Your code is importable as <code>jax_code</code>" in html


def test_a_contract_that_cannot_be_read_says_so_and_the_source_is_still_shown(developer_client, developer):
    sample = SampleFactory(contract="TOLERANCE = 1e-5\n</pre><script>alert(1)</script>\n", contract_version=1)
    session = fixlog.claim(TranslationFactory(sample=sample, code="x = 1\n"), developer)

    html = page_of(developer_client, session)

    assert "The contract cannot be read: It is not valid Python" in html
    assert "&lt;/pre&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)" not in html


def test_a_sample_without_a_contract_has_no_tab(developer_client, developer):
    session = fixlog.claim(TranslationFactory(sample=SampleFactory(contract=""), code="x = 1\n"), developer)

    assert 'id="contract-panel"' not in page_of(developer_client, session)
