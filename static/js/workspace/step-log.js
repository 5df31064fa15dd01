// The step log panel: the record-step form (swapped into #step-form-slot) and the steps (swapped whole after a
// step is recorded or retracted). Ctrl+Shift+Enter asks for the form, which opens with its description focused.
// In the form, picking a run puts that run's error into the error field, and "no error: behaviour change"
// clears both; the server checks the same rules, so the form also works without this script.
import { addShortcut, clickButton, ctrl } from "./shortcuts.js";

function describeChoice(option) {
  const origin = document.getElementById("error-origin");
  if (!origin) return;
  origin.textContent = option.value
    ? `The error below is from the run you picked: ${option.textContent.trim()}`
    : "No run chosen: write the error below.";
}

function pickRun(select) {
  const option = select.options[select.selectedIndex];
  const error = document.getElementById("id_error");
  const noError = document.getElementById("id_no_error");
  if (error && option.value) error.value = option.dataset.error || "";
  if (noError && option.value) noError.checked = false;
  describeChoice(option);
}

function chooseNoError(checkbox) {
  if (!checkbox.checked) return;
  const error = document.getElementById("id_error");
  const select = document.getElementById("id_run");
  if (error) error.value = "";
  if (select) {
    select.value = "";
    describeChoice(select.options[select.selectedIndex]);
  }
}

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
  document.body.addEventListener("change", (event) => {
    if (event.target.id === "id_run") pickRun(event.target);
    if (event.target.id === "id_no_error") chooseNoError(event.target);
  });
  addShortcut(
    (event) => ctrl(event) && event.shiftKey && !event.altKey && event.key === "Enter",
    (monaco) => monaco.KeyMod.CtrlCmd | monaco.KeyMod.Shift | monaco.KeyCode.Enter,
    () => clickButton("record-step"),
  );
}
