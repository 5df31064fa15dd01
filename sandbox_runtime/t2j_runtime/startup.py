"""Run at every interpreter start in the runtime venv, from the `t2j_runtime.pth` line in site-packages.

Cheap on purpose (no third-party import): sets the plotting backend and the font configuration, installs
the import explanation and the post-import hooks. T2J_RUNTIME_HOOKS=0 turns all of it off (set-up uses
that to build the index).
"""

import os

if os.environ.get("T2J_RUNTIME_HOOKS", "1") != "0":
    from t2j_runtime import hooks, imports

    os.environ.setdefault("MPLBACKEND", "Agg")  # no screen in the box
    # No /etc/fonts in the box either: without this, fontconfig complains on stderr when matplotlib lists fonts.
    os.environ.setdefault("FONTCONFIG_FILE", os.path.join(os.path.dirname(__file__), "fonts.conf"))
    imports.install()
    hooks.install()
