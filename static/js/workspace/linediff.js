// A line diff for the save panel's conflict and restore boxes, in the shape of the server's annotate.diffs.line_diff
// ([op, text] runs: -1 only in the first text, 1 only in the second, 0 in both), drawn the same way. Small on
// purpose: the common head and tail are cut off and the middle is diffed by longest common subsequence; a middle
// too large for that is shown as replaced whole (still every line of both, nothing hidden).

const MAX_CELLS = 4_000_000; // lines(a) × lines(b) of the middle: about 16 MB of table at most

function splitLines(text) {
  return text.match(/[^\n]*\n|[^\n]+$/g) || [];
}

function push(runs, op, line) {
  const last = runs[runs.length - 1];
  if (last && last[0] === op) last[1] += line;
  else runs.push([op, line]);
}

/** The line diff of `a` (e.g. the saved code) against `b` (e.g. yours): [[op, text], ...]. */
export function lineDiff(a, b) {
  const x = splitLines(a);
  const y = splitLines(b);
  let head = 0;
  while (head < x.length && head < y.length && x[head] === y[head]) head += 1;
  let tail = 0;
  while (tail < x.length - head && tail < y.length - head && x[x.length - 1 - tail] === y[y.length - 1 - tail]) {
    tail += 1;
  }
  const xs = x.slice(head, x.length - tail);
  const ys = y.slice(head, y.length - tail);
  const runs = [];
  x.slice(0, head).forEach((line) => push(runs, 0, line));
  if (xs.length * ys.length > MAX_CELLS) {
    xs.forEach((line) => push(runs, -1, line));
    ys.forEach((line) => push(runs, 1, line));
  } else {
    middle(xs, ys).forEach(([op, line]) => push(runs, op, line));
  }
  x.slice(x.length - tail).forEach((line) => push(runs, 0, line));
  return runs;
}

function middle(xs, ys) {
  const n = xs.length;
  const m = ys.length;
  // lcs[i * (m + 1) + j]: length of the longest common subsequence of xs[i:] and ys[j:].
  const lcs = new Uint32Array((n + 1) * (m + 1));
  for (let i = n - 1; i >= 0; i -= 1) {
    for (let j = m - 1; j >= 0; j -= 1) {
      lcs[i * (m + 1) + j] =
        xs[i] === ys[j] ? lcs[(i + 1) * (m + 1) + j + 1] + 1 : Math.max(lcs[(i + 1) * (m + 1) + j], lcs[i * (m + 1) + j + 1]);
    }
  }
  const out = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (xs[i] === ys[j]) {
      out.push([0, xs[i]]);
      i += 1;
      j += 1;
    } else if (lcs[(i + 1) * (m + 1) + j] >= lcs[i * (m + 1) + j + 1]) {
      out.push([-1, xs[i]]);
      i += 1;
    } else {
      out.push([1, ys[j]]);
      j += 1;
    }
  }
  for (; i < n; i += 1) out.push([-1, xs[i]]);
  for (; j < m; j += 1) out.push([1, ys[j]]);
  return out;
}

/** A <pre class="diff"> of `runs`, text only (never HTML): − lines only in the first text, + only in the second. */
export function diffElement(runs) {
  const pre = document.createElement("pre");
  pre.className = "diff";
  for (const [op, text] of runs) {
    const span = document.createElement("span");
    span.className = op === -1 ? "diff-del" : op === 1 ? "diff-add" : "diff-same";
    span.textContent = text;
    pre.append(span);
  }
  return pre;
}
