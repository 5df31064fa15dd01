#!/usr/bin/env bash
# Build the sandbox's runtime: bubblewrap plus a world-readable, root-owned venv made from the SYSTEM
# python3.11 (the dev venv lives under root's 0700 home, which the sandbox uid cannot read).
# Idempotent, in two parts with their own stamps: the venv (python + pinned requirements; rebuilt only when
# they change, minutes) and the t2j_contract package from sandbox_runtime/ (recopied in a second when its
# files change). Run as root.  Usage: scripts/setup_sandbox.sh [--force]
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then echo "setup_sandbox: run as root" >&2; exit 1; fi

VENV="${T2J_SANDBOX_VENV:-/opt/t2j-sandbox-venv}"
PY="${T2J_SANDBOX_PYTHON:-/usr/bin/python3.11}"
VENV_STAMP="$VENV/.t2j-venv-stamp"
PKG_STAMP="$VENV/.t2j-package-stamp"
FORCE="${1:-}"

if ! command -v bwrap >/dev/null 2>&1; then
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q bubblewrap
fi

# Same versions as requirements.txt, so the sandbox runs what the app was tested against.
pin() { grep -iE "^$1==" requirements.txt | head -n1; }
REQS="$(for p in jax jaxlib flax optax numpy torch; do pin "$p"; done)"
for p in jax jaxlib flax optax numpy torch; do
    echo "$REQS" | grep -qiE "^$p==" || { echo "setup_sandbox: $p is not pinned in requirements.txt" >&2; exit 1; }
done
VENV_HASH="$( { echo "$PY"; echo "$REQS"; } | sha256sum | cut -d' ' -f1)"
PKG_HASH="$(find sandbox_runtime/t2j_contract -type f -name '*.py' -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)"

site_of() { "$1/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'; }

# The installed venv already matches the pins (e.g. built by an older version of this script)?
venv_matches() {
    [ -x "$VENV/bin/python" ] || return 1
    [ "$(readlink -f "$VENV/bin/python")" = "$(readlink -f "$PY")" ] || return 1
    local installed
    installed="$("$VENV/bin/python" - <<'PYEOF' 2>/dev/null
import importlib.metadata as m
for name in ("jax", "jaxlib", "flax", "optax", "numpy", "torch"):
    print(f"{name}=={m.version(name).split('+')[0]}")  # torch 2.13.0+cpu is the 2.13.0 pin
PYEOF
)" || return 1
    [ "$(echo "$installed" | tr 'A-Z' 'a-z')" = "$(echo "$REQS" | tr 'A-Z' 'a-z')" ]
}

# Copy the package into a venv's site-packages: next to the old copy, precompiled, then swapped in.
install_package() {
    local venv="$1" site
    site="$(site_of "$venv")"
    rm -rf "$site/t2j_contract.new" "$site/t2j_contract.old"
    cp -r sandbox_runtime/t2j_contract "$site/t2j_contract.new"
    find "$site/t2j_contract.new" -name '__pycache__' -prune -exec rm -rf {} +
    # Precompile so read-only use never tries to write __pycache__ (compiled as its final name).
    "$venv/bin/python" -m compileall -q -d "$site/t2j_contract" "$site/t2j_contract.new" >/dev/null
    chown -R root:root "$site/t2j_contract.new"
    chmod -R u+rwX,go+rX,go-w "$site/t2j_contract.new"
    [ -e "$site/t2j_contract" ] && mv "$site/t2j_contract" "$site/t2j_contract.old"
    mv "$site/t2j_contract.new" "$site/t2j_contract"
    rm -rf "$site/t2j_contract.old"
    echo "$PKG_HASH" > "$venv/.t2j-package-stamp"
}

if [ "$FORCE" != "--force" ] && [ -f "$VENV_STAMP" ] && [ "$(cat "$VENV_STAMP")" = "$VENV_HASH" ]; then
    :
elif [ "$FORCE" != "--force" ] && venv_matches; then
    echo "$VENV_HASH" > "$VENV_STAMP"
else
    echo "setup_sandbox: building $VENV from $PY"
    umask 022
    rm -rf "$VENV.new"
    "$PY" -m venv "$VENV.new"
    "$VENV.new/bin/pip" install -q --no-cache-dir $REQS
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
    install_package "$VENV"
    echo "setup_sandbox: t2j_contract installed"
else
    echo "setup_sandbox: $VENV is up to date"
fi
rm -f "$VENV/.t2j-stamp"  # the single stamp of older versions of this script
"$VENV/bin/python" -c 'import jax, jaxlib, flax, optax, numpy, torch, t2j_contract; print("setup_sandbox: ok, jax", jax.__version__, "torch", torch.__version__, "t2j_contract", t2j_contract.__version__)'
