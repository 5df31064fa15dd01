"""Text helpers of code edits: the changed region a step shows, and the size of an edit."""

from __future__ import annotations

from annotate import diffs
from tests.annotate.fix_sessions import DRAFT


def test_changed_region_is_trimmed_to_the_change_with_context():
    before = "".join(f"line{i}\n" for i in range(1, 21))
    after = before.replace("line10\n", "LINE10\nextra\n")

    erroneous, corrected = diffs.changed_region(before, after, context=2)

    assert erroneous == "line8\nline9\nline10\nline11\nline12\n"
    assert corrected == "line8\nline9\nLINE10\nextra\nline11\nline12\n"


def test_changed_region_spans_from_the_first_to_the_last_change():
    before = "a\nb\nc\nd\ne\nf\ng\nh\n"
    after = "a\nB\nc\nd\ne\nf\nG\nh\n"

    assert diffs.changed_region(before, after, context=1) == ("a\nb\nc\nd\ne\nf\ng\nh\n", after)


def test_changed_region_of_identical_code_is_empty():
    assert diffs.changed_region(DRAFT, DRAFT) == ("", "")


def test_changed_region_at_the_start_of_the_file():
    assert diffs.changed_region("a\nb\nc\nd\n", "import x\na\nb\nc\nd\n", context=1) == ("a\n", "import x\na\n")


def test_edit_size_counts_inserted_and_deleted_characters():
    assert diffs.edit_size("abc", "abXc") == 1
    assert diffs.edit_size("x[0] = 1.0", "x = x.at[0].set(1.0)") > 0
    assert diffs.edit_size(DRAFT, DRAFT) == 0
