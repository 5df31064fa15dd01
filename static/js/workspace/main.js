// The fix workspace page: one module per panel, wired here. A module script is deferred and runs in document
// order with the other deferred scripts, so after monaco-setup.js has defined window.t2jMonaco; the editors
// themselves may mount before or after this runs (editor.js's whenEditorReady handles both).
//
// Panels never reach into each other's state; they talk through DOM events on document.body:
//   t2j:editor-ready {editor}   monaco-setup.js → whenEditorReady (editor, shortcuts, here): #code's Monaco exists
//   t2j:failing-line {line}     runs, stale → editor: the line the last JAX run failed at (null: none, or the code
//                               changed since)
//   t2j:version {version}       server (HX-Trigger) → save: the version the posted code was saved as
//   htmx:confirm                → save: a request that changes the session waits until the code is saved
//   htmx:configRequest          → save: a request that carries the code saves it (no autosave needed)
//   htmx:beforeSwap (409)       → save: a refused save shows its choice (not swapped in as it is)
import "./contract.js"; // sets itself up: the contract tab talks to no other panel
import { whenEditorReady, initEditor } from "./editor.js";
import { initProgress } from "./progress.js";
import { initRuns } from "./runs.js";
import { initSave } from "./save.js";
import { initStale } from "./stale.js";
import { initStepLog } from "./step-log.js";

// Refusals come back as 400/403 with a fragment that explains them: show it instead of dropping it. A request over
// the site's limits is answered in JSON (t2j_site/errors.py): its message goes to the message area, as text.
// (409, a refused save, is save.js's.)
function showRefusals() {
  document.body.addEventListener("htmx:beforeSwap", (event) => {
    const xhr = event.detail.xhr;
    if (xhr.status !== 400 && xhr.status !== 403) return;
    event.detail.isError = false;
    if ((xhr.getResponseHeader("Content-Type") || "").startsWith("application/json")) {
      event.detail.shouldSwap = false;
      let answer = {};
      try {
        answer = JSON.parse(xhr.responseText);
      } catch (error) {
        // a refusal without a readable reason: the status says enough
      }
      const message = document.createElement("p");
      message.className = "error ws-message";
      message.setAttribute("role", "alert");
      message.textContent = [answer.message, answer.advice].filter(Boolean).join(" ") || `Refused (${xhr.status}).`;
      document.getElementById("workspace-messages").replaceChildren(message);
      return;
    }
    event.detail.shouldSwap = true;
  });
}

const root = document.getElementById("workspace");
if (root) {
  initEditor(); // first: it listens for the failing line that initRuns announces
  initSave(root);
  initStale(root); // after initSave: it reads the save state save.js has just updated for the same edit
  initProgress(root);
  initRuns();
  initStepLog();
  showRefusals();
  // Last, so every panel has bound its editor keys when the page says it is ready (the browser tests wait on it).
  whenEditorReady(() => {
    root.dataset.editorReady = "1";
  });
}
