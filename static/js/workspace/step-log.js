// The step log panel: the record-step form (swapped into #step-form-slot) and the steps (swapped whole after a
// step is recorded or retracted). Ctrl+Shift+Enter asks for the form, which opens with its description focused.
// In the form, picking a run puts that run's error into the error field, and "no error: behaviour change"
// clears both; typing an error unticks "no error". The server checks the same rules, so the form also works
// without this script. Each of these announces t2j:step-input, on which the suggested category and the similar
// fixes are asked for again (_workspace_step_suggestion.html); the category follows the new suggestion until
// the person picks one.
import { addShortcut, clickButton, ctrl } from "./shortcuts.js";

function describeChoice(option) {
  const origin = document.getElementById("error-origin");
  if (!origin) return;
  origin.textContent = option.value
    ? `The error below is from the run you picked: ${option.textContent.trim()}`
    : "No run chosen: write the error below.";
}

function announceInput() {
  document.body.dispatchEvent(new CustomEvent("t2j:step-input"));
}

function previousOption(select) {
  const value = select.dataset.previous ?? [...select.options].find((option) => option.defaultSelected)?.value;
  return [...select.options].find((option) => option.value === value);
}

function pickRun(select) {
  const option = select.options[select.selectedIndex];
  const before = previousOption(select);
  select.dataset.previous = option.value;
  const error = document.getElementById("id_error");
  const noError = document.getElementById("id_no_error");
  if (error && option.value) error.value = option.dataset.error || "";
  // "No run: I write the error": the field empties only if it still holds the last run's text unedited.
  if (error && !option.value && before?.value && error.value === (before.dataset.error || "")) error.value = "";
  if (noError && option.value) noError.checked = false;
  describeChoice(option);
  announceInput();
}

function chooseNoError(checkbox) {
  if (!checkbox.checked) return;
  const error = document.getElementById("id_error");
  const select = document.getElementById("id_run");
  if (error) error.value = "";
  if (select) {
    select.value = "";
    select.dataset.previous = "";
    describeChoice(select.options[select.selectedIndex]);
  }
  announceInput();
}

function typeError(field) {
  const noError = document.getElementById("id_no_error");
  if (noError && field.value.trim()) noError.checked = false;
}

function followSuggestion() {
  const category = document.getElementById("id_category");
  const suggested = document.querySelector('#step-suggestion input[name="suggested"]');
  if (category && suggested && category.dataset.personChose !== "yes") category.value = suggested.value;
}

export function initStepLog() {
  document.body.addEventListener("htmx:afterSettle", (event) => {
    if (event.target.id === "step-suggestion-asker" || event.target.id === "step-suggestion") followSuggestion();
    if (event.target.id !== "step-form-slot") return;
    const refused = document.getElementById("step-form-error");
    if (refused) refused.scrollIntoView({ block: "center" });
    const description = document.getElementById("id_fix_info");
    if (description && !refused) description.focus();
  });
  document.body.addEventListener("input", (event) => {
    if (event.target.id === "id_error") typeError(event.target);
  });
  document.body.addEventListener("click", (event) => {
    if (event.target.closest("[data-close-step-form]")) {
      document.getElementById("step-form-slot").replaceChildren();
    }
  });
  document.body.addEventListener("change", (event) => {
    if (event.target.id === "id_run") pickRun(event.target);
    if (event.target.id === "id_no_error") chooseNoError(event.target);
    if (event.target.id === "id_category") event.target.dataset.personChose = "yes";
  });
  addShortcut(
    (event) => ctrl(event) && event.shiftKey && !event.altKey && event.key === "Enter",
    (monaco) => monaco.KeyMod.CtrlCmd | monaco.KeyMod.Shift | monaco.KeyCode.Enter,
    () => clickButton("record-step"),
  );
}
