"""Matplotlib in the box: no screen, so `plt.show()` and `savefig` leave PNG files for the host to collect.

The backend is Agg (MPLBACKEND, set at start-up). `pyplot.show()` and `Figure.show()` render every open
figure (the one figure) as a PNG in `<output>/plots/` and, like closing the windows of a real `show()`,
close them; `savefig(path)` saves where the program asked and also leaves a PNG copy there. Files are
named `NNN-show.png` / `NNN-savefig.png` in the order made, each listed in events.jsonl as
`{"kind": "plot", "file": "plots/001-show.png", "source": "show", "bytes": ...}`. At most
T2J_PLOTS_MAX_COUNT files (default 16) of at most T2J_PLOTS_MAX_BYTES each (default 1 MiB) are kept; a
plot over either cap is left out, recorded as `{"kind": "plot-skipped", "reason": ...}` and said on stderr.
"""

from __future__ import annotations

import functools
import os

from t2j_runtime import record

DEFAULT_MAX_COUNT = 16
DEFAULT_MAX_BYTES = 1024**2
_original = {}


def _cap(variable: str, default: int) -> int:
    try:
        value = int(os.environ.get(variable, default))
    except ValueError:
        return default
    return value if value > 0 else default


def _plots_folder() -> str:
    folder = os.path.join(record.output_dir(), "plots")
    os.makedirs(folder, exist_ok=True)
    return folder


def _skip(reason: str) -> None:
    record.event("plot-skipped", reason=reason)
    record.say(f"plot not kept: {reason}")


def save_png(figure, source: str) -> str | None:
    """Render `figure` as the next PNG of the plots folder; return its path, or None when over a cap."""
    folder = _plots_folder()
    made = sorted(name for name in os.listdir(folder) if name.endswith(".png"))
    max_count = _cap("T2J_PLOTS_MAX_COUNT", DEFAULT_MAX_COUNT)
    if len(made) >= max_count:
        _skip(f"more than {max_count} plots")
        return None
    name = f"{len(made) + 1:03d}-{source}.png"
    path = os.path.join(folder, name)
    _original["savefig"](figure, path, format="png")
    size = os.path.getsize(path)
    max_bytes = _cap("T2J_PLOTS_MAX_BYTES", DEFAULT_MAX_BYTES)
    if size > max_bytes:
        os.remove(path)
        _skip(f"{name} has {size} bytes, more than {max_bytes}")
        return None
    record.event("plot", file=f"plots/{name}", source=source, bytes=size)
    return path


def _show(pyplot):
    def show(*args, **kwargs) -> None:
        for number in pyplot.get_fignums():
            save_png(pyplot.figure(number), "show")
        pyplot.close("all")

    show.__wrapped__ = pyplot.show
    return show


def _figure_show(figure, warn=True) -> None:
    save_png(figure, "show")


def _savefig(original):
    @functools.wraps(original)
    def savefig(self, fname, *args, **kwargs):
        result = original(self, fname, *args, **kwargs)
        if isinstance(fname, str | os.PathLike):  # a file the program wanted; not a buffer it reads back
            save_png(self, "savefig")
        return result

    return savefig


def patch_figure(module) -> None:
    """Hook for `matplotlib.figure`."""
    _original["savefig"] = module.Figure.savefig
    module.Figure.savefig = _savefig(module.Figure.savefig)
    module.Figure.show = _figure_show


def patch_pyplot(module) -> None:
    """Hook for `matplotlib.pyplot`."""
    module.show = _show(module)
