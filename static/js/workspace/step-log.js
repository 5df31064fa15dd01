// The step log panel: the record-step form (swapped into #step-form-slot) and the steps (swapped whole after a
// step is recorded or retracted). Ctrl+Shift+Enter asks for the form, which opens with its description focused.
import { addShortcut, clickButton, ctrl } from "./shortcuts.js";

export function initStepLog() {
  document.body.addEventListener("htmx:afterSettle", (event) => {
    if (event.target.id !== "step-form-slot") return;
    const description = document.getElementById("id_fix_info");
    if (description) description.focus();
  });
  document.body.addEventListener("click", (event) => {
    if (event.target.closest("[data-close-step-form]")) {
      document.getElementById("step-form-slot").replaceChildren();
    }
  });
  addShortcut(
    (event) => ctrl(event) && event.shiftKey && event.key === "Enter",
    (monaco) => monaco.KeyMod.CtrlCmd | monaco.KeyMod.Shift | monaco.KeyCode.Enter,
    () => clickButton("record-step"),
  );
}
