// The fix workspace page: one module per panel, wired here. A module script is deferred and runs in document
// order with the other deferred scripts, so after monaco-setup.js has defined window.t2jMonaco; the editors
// themselves may mount before or after this runs (editor.js's whenEditorReady handles both).
//
// Panels never reach into each other's state; they talk through DOM events on document.body:
//   t2j:editor-ready {editor}   monaco-setup.js → whenEditorReady (editor, shortcuts, here): #code's Monaco exists
//   t2j:failing-line {line}     runs → editor: the line the last JAX run failed at (null: none)
//   t2j:version {version}       server (HX-Trigger) → save: the version the posted code was saved as
//   htmx:configRequest          → save: a request that carries the code saves it (no autosave needed)
//   htmx:beforeSwap (409)       → save: a refused save stops autosave until the user chooses
import "./contract.js"; // sets itself up: the contract tab talks to no other panel
import { whenEditorReady, initEditor } from "./editor.js";
import { initRuns } from "./runs.js";
import { initSave } from "./save.js";
import { initStepLog } from "./step-log.js";

// Refusals come back as 400/403/409 with a fragment that explains them: show it instead of dropping it.
function showRefusals() {
  document.body.addEventListener("htmx:beforeSwap", (event) => {
    const status = event.detail.xhr.status;
    if (status === 400 || status === 403 || status === 409) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
}

const root = document.getElementById("workspace");
if (root) {
  initEditor(); // first: it listens for the failing line that initRuns announces
  initSave(root);
  initRuns();
  initStepLog();
  showRefusals();
  // Last, so every panel has bound its editor keys when the page says it is ready (the browser tests wait on it).
  whenEditorReady(() => {
    root.dataset.editorReady = "1";
  });
}
