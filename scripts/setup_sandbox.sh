#!/usr/bin/env bash
# Build the sandbox's runtime: bubblewrap plus a world-readable, root-owned venv made from the SYSTEM
# python3.11 (the dev venv lives under root's 0700 home, which the sandbox uid cannot read).
# Idempotent, in two parts with their own stamps: the venv (python + sandbox_runtime/requirements.txt;
# rebuilt only when they change: about 7 GB, minutes) and our packages from sandbox_runtime/ (t2j_contract,
# t2j_runtime with its start-up hook, and the module index built from the venv; recopied in seconds when
# their files change). Run as root.  Usage: scripts/setup_sandbox.sh [--force]
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then echo "setup_sandbox: run as root" >&2; exit 1; fi

VENV="${T2J_SANDBOX_VENV:-/opt/t2j-sandbox-venv}"
PY="${T2J_SANDBOX_PYTHON:-/usr/bin/python3.11}"
REQUIREMENTS=sandbox_runtime/requirements.txt
PACKAGES="t2j_contract t2j_runtime"
UNWANTED="triton"  # removed after the install, see below
HOOK=sandbox_runtime/t2j_runtime.pth
VENV_STAMP="$VENV/.t2j-venv-stamp"
PKG_STAMP="$VENV/.t2j-package-stamp"
FORCE="${1:-}"

if ! command -v bwrap >/dev/null 2>&1; then
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q bubblewrap
fi

# Every line that is not a comment pins one package exactly (the venv-match check below relies on it).
PINS="$(grep -vE '^[[:space:]]*(#|$)' "$REQUIREMENTS")"
if echo "$PINS" | grep -vqE '^[A-Za-z0-9._-]+==[A-Za-z0-9.+!-]+$'; then
    echo "setup_sandbox: every line of $REQUIREMENTS must be name==version" >&2; exit 1
fi
VENV_HASH="$( { echo "$PY"; echo "without $UNWANTED"; cat "$REQUIREMENTS"; } | sha256sum | cut -d' ' -f1)"
PKG_HASH="$( { for p in $PACKAGES; do find "sandbox_runtime/$p" -type f ! -path '*/__pycache__/*' -print0; done; \
    printf '%s\0' "$HOOK" "$REQUIREMENTS"; } | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)"

site_of() { "$1/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'; }

# The installed venv already holds exactly the pinned versions and none of the unwanted packages (e.g. built
# by an older version of this script)?
venv_matches() {
    [ -x "$VENV/bin/python" ] || return 1
    [ "$(readlink -f "$VENV/bin/python")" = "$(readlink -f "$PY")" ] || return 1
    echo "$PINS" | T2J_RUNTIME_HOOKS=0 "$VENV/bin/python" -c '
import importlib.metadata as m, re, sys
def norm(name):
    return re.sub(r"[-_.]+", "-", name).lower()
installed = {norm(d.metadata["Name"]): d.version.split("+")[0] for d in m.distributions()}
pins = [line.strip().split("==") for line in sys.stdin if line.strip()]
unwanted = [norm(name) for name in sys.argv[1:]]
sys.exit(0 if all(installed.get(norm(n)) == v for n, v in pins) and not set(unwanted) & set(installed) else 1)
' $UNWANTED 2>/dev/null
}

# Copy one package into a venv's site-packages: next to the old copy, precompiled, then swapped in.
install_package() {
    local venv="$1" name="$2" site
    site="$(site_of "$venv")"
    rm -rf "$site/$name.new" "$site/$name.old"
    cp -r "sandbox_runtime/$name" "$site/$name.new"
    find "$site/$name.new" -name '__pycache__' -prune -exec rm -rf {} +
    # Precompile so read-only use never tries to write __pycache__ (compiled as its final name).
    "$venv/bin/python" -m compileall -q -d "$site/$name" "$site/$name.new" >/dev/null
    chown -R root:root "$site/$name.new"
    chmod -R u+rwX,go+rX,go-w "$site/$name.new"
    [ -e "$site/$name" ] && mv "$site/$name" "$site/$name.old"
    mv "$site/$name.new" "$site/$name"
    rm -rf "$site/$name.old"
}

# The start-up hook (a .pth file runs its import line at every interpreter start in the venv), then the
# module index, which needs the final packages in place.
install_hook_and_index() {
    local venv="$1" site
    site="$(site_of "$venv")"
    install -o root -g root -m 0644 "$HOOK" "$site/t2j_runtime.pth"
    # -P: the checkout this runs from is not on sys.path, so its own modules (annotate, tests...) stay out of the index.
    T2J_RUNTIME_HOOKS=0 "$venv/bin/python" -P -m t2j_runtime.module_index "$REQUIREMENTS" "$venv/t2j-module-index.json.new"
    chmod 0644 "$venv/t2j-module-index.json.new"
    mv "$venv/t2j-module-index.json.new" "$venv/t2j-module-index.json"
}

if [ "$FORCE" != "--force" ] && [ -f "$VENV_STAMP" ] && [ "$(cat "$VENV_STAMP")" = "$VENV_HASH" ]; then
    :
elif [ "$FORCE" != "--force" ] && venv_matches; then
    echo "$VENV_HASH" > "$VENV_STAMP"
else
    echo "setup_sandbox: building $VENV from $PY and $REQUIREMENTS"
    umask 022
    rm -rf "$VENV.new"
    "$PY" -m venv "$VENV.new"
    # (This machine's pip configuration lists local indexes that warn once per package: not worth a log line.)
    "$VENV.new/bin/pip" install -q --no-cache-dir --disable-pip-version-check -r "$REQUIREMENTS" \
        2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
    # triton (GPU kernels for torch.compile, pulled in by the CUDA torch build) bundles its own LLVM, whose
    # start-up code crashes the process once tensorflow's LLVM is loaded (`import tensorflow`, a tf.data
    # pipeline, then `import torchvision`: segmentation fault). On the CPU torch.compile emits C++ without it.
    "$VENV.new/bin/pip" uninstall -q -y --disable-pip-version-check $UNWANTED
    # venv scripts carry the build path in their shebangs; rewrite them for the final location.
    grep -rlI --exclude='*.so' "$VENV.new" "$VENV.new/bin" 2>/dev/null | xargs -r sed -i "s#$VENV.new#$VENV#g"
    sed -i "s#$VENV.new#$VENV#g" "$VENV.new/pyvenv.cfg"
    chown -R root:root "$VENV.new"
    chmod -R u+rwX,go+rX,go-w "$VENV.new"
    echo "$VENV_HASH" > "$VENV.new/.t2j-venv-stamp"
    rm -f "$VENV.new/.t2j-package-stamp"
    rm -rf "$VENV.old"
    [ -e "$VENV" ] && mv "$VENV" "$VENV.old"
    mv "$VENV.new" "$VENV"
    rm -rf "$VENV.old"
fi

if [ "$FORCE" = "--force" ] || [ ! -f "$PKG_STAMP" ] || [ "$(cat "$PKG_STAMP")" != "$PKG_HASH" ]; then
    umask 022
    for name in $PACKAGES; do install_package "$VENV" "$name"; done
    install_hook_and_index "$VENV"
    echo "$PKG_HASH" > "$PKG_STAMP"
    echo "setup_sandbox: $PACKAGES and the module index installed"
else
    echo "setup_sandbox: $VENV is up to date"
fi
rm -f "$VENV/.t2j-stamp"  # the single stamp of older versions of this script
"$VENV/bin/python" -c '
import jax, torch, torchvision, t2j_contract, t2j_runtime
print("setup_sandbox: ok, jax", jax.__version__, "torch", torch.__version__, "torchvision", torchvision.__version__,
      "t2j_contract", t2j_contract.__version__, "t2j_runtime", t2j_runtime.__version__)'
