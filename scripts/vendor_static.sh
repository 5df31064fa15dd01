#!/usr/bin/env bash
# Copy the pinned npm builds into static/vendor/ (no CDN, no bundler). Run after `npm ci`.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf static/vendor
mkdir -p static/vendor/htmx static/vendor/monaco
cp node_modules/htmx.org/dist/htmx.min.js static/vendor/htmx/
# Monaco's AMD build, without translations we do not ship.
cp -r node_modules/monaco-editor/min/vs static/vendor/monaco/vs
rm -f static/vendor/monaco/vs/nls.messages.*.js
echo "vendored htmx $(node -p 'require("./node_modules/htmx.org/package.json").version') and monaco-editor $(node -p 'require("./node_modules/monaco-editor/package.json").version')"
