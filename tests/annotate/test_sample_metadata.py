"""An imported sample's title from its first docstring or comment line, its difficulty from its key."""

from __future__ import annotations

import pytest

from annotate.sample_metadata import difficulty_from_key, title_from_code


@pytest.mark.parametrize(
    ("code", "title"),
    [
        ('"""Train a tiny MLP.\n\nOn random data."""\nimport torch\n', "Train a tiny MLP."),
        ("#!/usr/bin/env python\n# -*- coding: utf-8 -*-\nimport torch  # noqa: F401\n# Define the Generator\n",
         "Define the Generator"),
        ("import torch\nx = torch.rand(3)  # three points\n", "three points"),
        ("import torch\nprint('# not a comment')\n", ""),
        ("def broken(:\n    # still a title\n", "still a title"),  # does not parse: comments still read
        ("# " + "x" * 300 + "\n", "x" * 200),
    ],
)
def test_the_title_is_the_first_docstring_or_comment_line(code, title):
    assert title_from_code(code) == title


@pytest.mark.parametrize(
    ("key", "difficulty"), [("e1", "easy"), ("m3", "medium"), ("h10", "hard"), ("H2", "hard"), ("x1", ""), ("e", "")]
)
def test_torchleet_keys_give_the_difficulty(key, difficulty):
    assert difficulty_from_key(key) == difficulty
