#!/usr/bin/env bash
# Build the sandbox's runtime: bubblewrap plus a world-readable, root-owned venv made from the SYSTEM
# python3.11 (the dev venv lives under root's 0700 home, which the sandbox uid cannot read).
# Idempotent: a stamp file holds a hash of the requirement list and of sandbox_runtime/; nothing is
# redone while it matches. Run as root.  Usage: scripts/setup_sandbox.sh [--force]
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then echo "setup_sandbox: run as root" >&2; exit 1; fi

VENV="${T2J_SANDBOX_VENV:-/opt/t2j-sandbox-venv}"
PY="${T2J_SANDBOX_PYTHON:-/usr/bin/python3.11}"
STAMP="$VENV/.t2j-stamp"

if ! command -v bwrap >/dev/null 2>&1; then
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q bubblewrap
fi

# Same versions as requirements.txt, so the sandbox runs what the app was tested against.
pin() { grep -iE "^$1==" requirements.txt | head -n1; }
REQS="$(for p in jax jaxlib flax optax numpy torch; do pin "$p"; done)"
for p in jax jaxlib flax optax numpy torch; do
    echo "$REQS" | grep -qiE "^$p==" || { echo "setup_sandbox: $p is not pinned in requirements.txt" >&2; exit 1; }
done
HASH="$( { echo "$PY"; echo "$REQS"; find sandbox_runtime -type f -name '*.py' -print0 | sort -z | xargs -0 cat; } \
        | sha256sum | cut -d' ' -f1)"

if [ "${1:-}" != "--force" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$HASH" ]; then
    echo "setup_sandbox: $VENV is up to date"
    exit 0
fi

echo "setup_sandbox: building $VENV from $PY"
umask 022
rm -rf "$VENV.new"
"$PY" -m venv "$VENV.new"
"$VENV.new/bin/pip" install -q --no-cache-dir $REQS
SITE="$("$VENV.new/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
cp -r sandbox_runtime/t2j_contract "$SITE/"
# Precompile so read-only use never tries to write __pycache__.
"$VENV.new/bin/python" -m compileall -q "$SITE/t2j_contract" >/dev/null
# venv scripts carry the build path in their shebangs; rewrite them for the final location.
grep -rlI --exclude='*.so' "$VENV.new" "$VENV.new/bin" 2>/dev/null | xargs -r sed -i "s#$VENV.new#$VENV#g"
sed -i "s#$VENV.new#$VENV#g" "$VENV.new/pyvenv.cfg"
chown -R root:root "$VENV.new"
chmod -R u+rwX,go+rX,go-w "$VENV.new"
echo "$HASH" > "$VENV.new/.t2j-stamp"
rm -rf "$VENV.old"
[ -e "$VENV" ] && mv "$VENV" "$VENV.old"
mv "$VENV.new" "$VENV"
rm -rf "$VENV.old"
"$VENV/bin/python" -c 'import jax, jaxlib, flax, optax, numpy, torch, t2j_contract; print("setup_sandbox: ok, jax", jax.__version__, "torch", torch.__version__)'
