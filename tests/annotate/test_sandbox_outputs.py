"""What comes back from a box is checked on the host: plots, stand-in events, unstorable text; and the
inputs and limits a run may ask for. No box is started here."""

from __future__ import annotations

import base64
import io
import os

import pytest
from PIL import Image

from annotate import sandbox
from annotate.sandbox import inputs, outputs
from annotate.sandbox.result import RunResult, clean_text
from tests.annotate.sandbox_support import cache_key

U = cache_key("u")


def _png(size=(40, 30), **info) -> bytes:
    out = io.BytesIO()
    image = Image.new("RGB", size, (200, 20, 20))
    pnginfo = None
    if info:
        from PIL.PngImagePlugin import PngInfo

        pnginfo = PngInfo()
        for key, value in info.items():
            pnginfo.add_text(key, value)
    image.save(out, format="PNG", pnginfo=pnginfo)
    return out.getvalue()


def _sent(name: str, data: bytes) -> dict:
    return {"name": name, "png": base64.b64encode(data).decode()}


def test_plots_come_back_re_encoded_with_names_made_by_the_host():
    sent = [_sent("001-show.png", _png(comment="<script>alert(1)</script>")), _sent("../../etc/x.png", _png())]

    found = outputs.plots(sent)

    assert [(p["name"], p["source"]) for p in found] == [("001-show.png", "show"), ("002-plot.png", "plot")]
    first = base64.b64decode(found[0]["png"])
    assert first.startswith(outputs.PNG_MAGIC) and b"<script>" not in first
    assert Image.open(io.BytesIO(first)).size == (40, 30)


@pytest.mark.parametrize(
    "data",
    [
        b"GIF89a not a png",
        outputs.PNG_MAGIC + b"\x00" * 64,  # the magic, then garbage
        _png()[:60],  # cut short, inside its image data
    ],
)
def test_what_is_not_a_whole_png_is_left_out(data):
    assert outputs.plots([_sent("001-show.png", data)]) == []


def test_plots_over_the_caps_are_left_out(settings):
    settings.T2J_PLOTS_MAX_COUNT = 2
    settings.T2J_PLOTS_MAX_BYTES = 4096
    noisy = Image.frombytes("RGB", (200, 200), os.urandom(200 * 200 * 3))
    out = io.BytesIO()
    noisy.save(out, format="PNG")
    assert len(out.getvalue()) > 4096

    found = outputs.plots(
        [_sent("001-savefig.png", out.getvalue()), *[_sent(f"00{i}-show.png", _png()) for i in (2, 3, 4)]]
    )

    assert [p["name"] for p in found] == ["001-show.png", "002-show.png"]


def test_an_image_of_too_many_pixels_is_not_decoded():
    # A small file that would decode to 20000 x 20000 pixels.
    assert outputs.reencode_png(_png(size=(20000, 20000)), 10 * 1024**2) is None


def test_stand_in_events_keep_only_known_fields_of_the_right_type_once_each():
    events = [
        {"kind": "standin", "what": "torchvision.datasets.MNIST", "message": "MNIST: 256 train", "train_examples": 256,
         "files": {"/box/data/x": "sha"}, "test_examples": True},
        {"kind": "standin", "what": "again", "message": "MNIST: 256 train"},
        {"kind": "plot", "file": "plots/001-show.png"},
        {"kind": "standin", "message": "bad \ud800 text" + "x" * 1000},
        "not a dict",
    ]  # fmt: skip

    found = outputs.standins(events)

    assert found[0] == {"what": "torchvision.datasets.MNIST", "message": "MNIST: 256 train", "train_examples": 256}
    assert found[1]["message"].startswith("bad \ufffd text") and len(found[1]["message"]) == outputs.MAX_TEXT
    assert len(found) == 2
    assert outputs.standins("nonsense") == []


def test_lone_surrogates_and_nul_are_replaced_wherever_a_result_holds_text():
    result = RunResult.from_dict(
        {
            "status": "error",
            "stdout": "a\x00b",
            "exception_message": "bad value \ud800 in input",
            "traceback": [{"file": "mod_\udcff.py", "line": 3, "function": "f\ud800"}],
            "standins": [{"message": "x\udfff"}],
        }
    )

    assert result.stdout == "a\ufffdb"
    assert result.exception_message == "bad value \ufffd in input"
    assert result.traceback == [{"file": "mod_\ufffd.py", "line": 3, "function": "f\ufffd"}]
    assert result.standins == [{"message": "x\ufffd"}]
    assert clean_text("plain ✓") == "plain ✓"


def test_a_sample_may_raise_its_time_limits_up_to_the_operator_maxima(settings):
    settings.T2J_RUN_WALL_S, settings.T2J_RUN_MAX_WALL_S = 30.0, 180.0
    settings.T2J_RUN_CPU_S, settings.T2J_RUN_MAX_CPU_S = 60, 360

    assert sandbox.Limits.resolve({"wall_s": 120, "cpu_s": 240}).wall_s == 120.0
    assert sandbox.Limits.resolve({"wall_s": 500}).wall_s == 180.0
    assert sandbox.Limits.resolve({"cpu_s": 10_000}).cpu_s == 360
    assert sandbox.Limits.resolve({"wall_s": 2}).wall_s == 2.0
    ceiling = sandbox.Limits.ceiling()
    assert (ceiling.wall_s, ceiling.cpu_s) == (180.0, 360)


def test_other_limits_can_only_be_tightened(settings):
    settings.T2J_RUN_MEMORY_BYTES = 1024**3
    assert sandbox.Limits.resolve({"memory_bytes": 8 * 1024**3}).memory_bytes == 1024**3
    assert sandbox.Limits.resolve({"memory_bytes": 1024**2}).memory_bytes == 1024**2
    with pytest.raises(ValueError, match="unknown sandbox limits: wall"):
        sandbox.Limits.resolve({"wall": 3})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"readonly_files": {"../x": b""}}, "must not contain '..'"),
        ({"readonly_files": {"main.py": b""}}, "reserved"),
        ({"files": {"data.csv": "a"}, "readonly_files": {"data.csv": b"b"}}, "given twice"),
        ({"files": {"data": "a"}, "readonly_files": {"data/x.csv": b"b"}}, "both a file and a folder"),
        ({"standins": {"train_examples": 0}}, "whole number from 1"),
        ({"standins": {"epochs": 3}}, "standins must be a mapping"),
    ],
)
def test_bad_run_inputs_are_refused_before_anything_runs(kwargs, message):
    with pytest.raises(inputs.InvalidRunInput, match=message):
        sandbox.run("print(1)", "jax", U, **kwargs)


def test_code_with_a_lone_surrogate_is_refused_as_not_unicode():
    with pytest.raises(inputs.InvalidRunInput, match="lone surrogate"):
        sandbox.run("print('\ud800')", "jax", U)


def test_the_runner_api_round_trips_a_job():
    job = inputs.make_job(
        "print(1)", "pytorch", U, files=inputs.encode_files({"a.py": "x = 1"}),
        readonly_files=inputs.encode_files({"data/t.csv": b"1,2"}), limits={"wall_s": 5}, standins={"test_examples": 8},
    )  # fmt: skip

    again = inputs.job_from_payload(job.as_payload())

    assert again == job
