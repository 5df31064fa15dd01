#!/usr/bin/env bash
# Copy the pinned npm builds into static/vendor/ (no CDN, no bundler). Run after `npm ci`.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf static/vendor
mkdir -p static/vendor/htmx static/vendor/monaco static/vendor/chartjs
cp node_modules/htmx.org/dist/htmx.min.js static/vendor/htmx/
# Monaco's AMD build, without translations we do not ship.
cp -r node_modules/monaco-editor/min/vs static/vendor/monaco/vs
rm -f static/vendor/monaco/vs/nls.messages.*.js
# Chart.js 4's UMD build (window.Chart) and the two plugins' UMD builds that register on it: box plots and
# error bars. Plain <script src> files from our origin, so they run under `script-src 'self'`.
cp node_modules/chart.js/dist/chart.umd.min.js static/vendor/chartjs/chart.umd.min.js
cp node_modules/@sgratzl/chartjs-chart-boxplot/build/index.umd.min.js static/vendor/chartjs/chartjs-chart-boxplot.umd.min.js
cp node_modules/chartjs-chart-error-bars/build/index.umd.min.js static/vendor/chartjs/chartjs-chart-error-bars.umd.min.js
version() { node -p "require('./node_modules/$1/package.json').version"; }
echo "vendored htmx $(version htmx.org), monaco-editor $(version monaco-editor), chart.js $(version chart.js)," \
  "@sgratzl/chartjs-chart-boxplot $(version @sgratzl/chartjs-chart-boxplot), chartjs-chart-error-bars $(version chartjs-chart-error-bars)"
