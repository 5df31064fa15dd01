from __future__ import annotations

import pytest

from annotate.code_extraction import NoCodeFound, extract_code

PROGRAM = "import jax.numpy as jnp\n\nprint(jnp.ones(2).sum())\n"


def test_it_takes_a_fenced_python_block_out_of_prose():
    answer = f"Sure! Here is the translation:\n\n```python\n{PROGRAM}```\n\nThis keeps the same output."

    assert extract_code(answer) == PROGRAM


def test_it_takes_a_block_without_a_language_tag_and_tilde_fences():
    assert extract_code(f"```\n{PROGRAM}```") == PROGRAM
    assert extract_code(f"~~~py\n{PROGRAM}~~~") == PROGRAM


def test_it_ignores_shell_blocks_beside_the_program():
    answer = f"Install first:\n```bash\npip install jax\n```\nThen:\n```python\n{PROGRAM}```"

    assert extract_code(answer) == PROGRAM


def test_of_several_blocks_the_whole_program_wins_over_a_usage_snippet():
    answer = f"```python\n{PROGRAM}```\nUse it like:\n```python\nmain()\n```"

    assert extract_code(answer) == PROGRAM


def test_blocks_that_are_pieces_of_one_program_are_joined_in_order():
    answer = "First the model:\n```python\ndef f(x):\n    return x + 1\n```\nThen run it:\n```python\nprint(f(2))\n```"

    assert extract_code(answer) == "def f(x):\n    return x + 1\n\nprint(f(2))\n"


def test_an_unclosed_fence_of_a_cut_off_answer_runs_to_the_end():
    assert extract_code("```python\nimport jax\nx = 1") == "import jax\nx = 1\n"


def test_a_longer_fence_keeps_inner_backticks():
    code = 'doc = """\n```\nexample\n```\n"""\n'
    assert extract_code(f"````python\n{code}````") == code


def test_plain_code_is_taken_as_it_is():
    assert extract_code(PROGRAM) == PROGRAM


def test_prose_around_unfenced_code_is_dropped():
    answer = f"Here you go.\n{PROGRAM}\nThis uses jax.numpy instead of torch."

    assert extract_code(answer) == PROGRAM


@pytest.mark.parametrize(
    "answer",
    ["I cannot translate this program, sorry.", "", "```python\n\n```", "Hello"],
)
def test_an_answer_without_code_raises_with_a_reason(answer):
    with pytest.raises(NoCodeFound):
        extract_code(answer)
