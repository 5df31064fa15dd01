// The runs panel: the last JAX and PyTorch run (htmx swaps a new one into #jax-output or #pytorch-output).
// It tells the editor where the JAX run failed. Keys: Ctrl+Enter runs the JAX code, Alt+Enter the PyTorch source,
// Ctrl+Alt+Enter the contract, Ctrl+Alt+V verifies (each as its button would: nothing twice, nothing read-only).
import { addShortcut, clickButton, ctrl } from "./shortcuts.js";

function announceFailingLine() {
  const run = document.querySelector("#jax-output [data-run-kind]");
  const line = run && run.dataset.failingLine ? Number(run.dataset.failingLine) : null;
  document.body.dispatchEvent(new CustomEvent("t2j:failing-line", { detail: { line } }));
}

export function initRuns() {
  announceFailingLine();
  document.body.addEventListener("htmx:afterSettle", (event) => {
    if (event.target.id === "jax-output") announceFailingLine();
  });
  addShortcut(
    (event) => ctrl(event) && !event.shiftKey && !event.altKey && event.key === "Enter",
    (monaco) => monaco.KeyMod.CtrlCmd | monaco.KeyCode.Enter,
    () => clickButton("run-jax"),
  );
  addShortcut(
    (event) => event.altKey && !ctrl(event) && !event.shiftKey && event.key === "Enter",
    (monaco) => monaco.KeyMod.Alt | monaco.KeyCode.Enter,
    () => clickButton("run-pytorch"),
  );
  addShortcut(
    (event) => ctrl(event) && event.altKey && !event.shiftKey && event.key === "Enter",
    (monaco) => monaco.KeyMod.CtrlCmd | monaco.KeyMod.Alt | monaco.KeyCode.Enter,
    () => clickButton("run-contract"),
  );
  addShortcut(
    (event) => ctrl(event) && event.altKey && !event.shiftKey && event.code === "KeyV",
    (monaco) => monaco.KeyMod.CtrlCmd | monaco.KeyMod.Alt | monaco.KeyCode.KeyV,
    () => clickButton("verify-button"),
  );
}
