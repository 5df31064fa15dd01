// Saving the editor content (the editor panel's toolbar): autosave with a version number, Save and Ctrl+S, the
// refused save (409) with its diff and an explicit choice, and the code that htmx requests (run, record step,
// contract, verify) carry and the server saves for us.
import { addShortcut, ctrl } from "./shortcuts.js";

const AUTOSAVE_MS = 1200;

function csrfToken() {
  try {
    return JSON.parse(document.body.getAttribute("hx-headers"))["x-csrftoken"];
  } catch (error) {
    const input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }
}

export function initSave(root) {
  const canEdit = root.dataset.canEdit === "1";
  const saveUrl = root.dataset.saveUrl;
  const codeArea = document.getElementById("code");
  const versionInput = document.getElementById("version");
  const saveStatus = document.getElementById("save-status");

  let savedCode = codeArea.value; // what the server holds as of versionInput.value
  let timer = null;
  let saving = null; // the promise of the save in flight

  function currentCode() {
    return codeArea.t2jEditor ? codeArea.t2jEditor.getValue() : codeArea.value;
  }

  function setStatus(text, isError) {
    saveStatus.replaceChildren();
    const span = document.createElement("span");
    span.className = isError ? "error" : "saved";
    span.textContent = text;
    saveStatus.append(span);
  }

  function scheduleSave() {
    if (!canEdit) return;
    clearTimeout(timer);
    setStatus("Unsaved changes…", false);
    timer = setTimeout(save, AUTOSAVE_MS);
  }

  async function save() {
    clearTimeout(timer);
    if (!canEdit) return;
    if (saving) await saving; // one save at a time: each one carries the version the previous returned
    const code = currentCode();
    if (code === savedCode || root.dataset.conflict === "1") return;
    // URL-encoded by hand: multipart FormData would turn every "\n" into "\r\n" on the wire.
    const body = new URLSearchParams({ code, version: versionInput.value });
    saving = fetch(saveUrl, {
      method: "POST",
      body,
      headers: { Accept: "application/json", "X-CSRFToken": csrfToken() },
      credentials: "same-origin",
      keepalive: true, // a save started as the page closes still reaches the server
    })
      .then(async (response) => {
        const data = await response.json().catch(() => ({ message: `Save failed (${response.status})` }));
        if (response.ok) {
          versionInput.value = data.version;
          savedCode = code;
          setStatus(data.message, false);
        } else if (response.status === 409) {
          showConflict(data);
        } else {
          setStatus(data.message || `Save failed (${response.status})`, true);
        }
      })
      .catch(() => setStatus("Save failed: the server did not answer. Your code is still in the editor.", true))
      .finally(() => {
        saving = null;
      });
    return saving;
  }

  // The JSON answer of a refused autosave, drawn like the server's conflict fragment (text only, never HTML).
  function showConflict(data) {
    root.dataset.conflict = "1";
    setStatus(data.message, true);
    const box = document.createElement("div");
    box.className = "conflict";
    box.dataset.version = data.version;
    const pre = document.createElement("pre");
    pre.className = "diff";
    for (const [op, text] of data.diff || []) {
      const span = document.createElement("span");
      span.className = op === -1 ? "diff-del" : op === 1 ? "diff-add" : "diff-same";
      span.textContent = text;
      pre.append(span);
    }
    const current = document.createElement("textarea");
    current.className = "conflict-current";
    current.hidden = true;
    current.value = data.current_code || "";
    const load = document.createElement("button");
    load.type = "button";
    load.dataset.conflictAction = "load";
    load.textContent = "Load the saved version";
    const overwrite = document.createElement("button");
    overwrite.type = "button";
    overwrite.className = "secondary";
    overwrite.dataset.conflictAction = "overwrite";
    overwrite.textContent = "Keep mine (save over it)";
    box.append(pre, current, load, overwrite);
    saveStatus.append(box);
  }

  // Either choice is explicit: load theirs (yours is replaced), or save yours over theirs on purpose.
  saveStatus.addEventListener("click", (event) => {
    const button = event.target.closest("[data-conflict-action]");
    if (!button) return;
    const box = button.closest(".conflict");
    root.dataset.conflict = "0";
    versionInput.value = box.dataset.version;
    if (button.dataset.conflictAction === "load") {
      const code = box.querySelector(".conflict-current").value;
      savedCode = code;
      if (codeArea.t2jEditor) codeArea.t2jEditor.setValue(code);
      else codeArea.value = code;
      setStatus(`Loaded the saved version ${box.dataset.version}.`, false);
    } else {
      savedCode = null; // force the save
      save();
    }
  });

  // htmx requests that carry the code (run, record step, contract, verify) save it themselves: no autosave for
  // it, and the version they answer with (t2j:version) is the one this code was saved as.
  document.body.addEventListener("htmx:configRequest", (event) => {
    const data = event.detail.formData || event.detail.parameters; // htmx 2: a FormData (or its proxy)
    if (data && typeof data.has === "function" && data.has("code")) {
      clearTimeout(timer);
      root.dataset.pendingCode = currentCode();
    }
  });
  document.body.addEventListener("t2j:version", (event) => {
    versionInput.value = event.detail.version;
    if (root.dataset.pendingCode !== undefined) {
      savedCode = root.dataset.pendingCode;
      delete root.dataset.pendingCode;
    }
  });
  // A save refused by any htmx request (its conflict fragment is shown by main.js) stops autosave too.
  document.body.addEventListener("htmx:beforeSwap", (event) => {
    if (event.detail.xhr.status === 409) root.dataset.conflict = "1";
  });

  document.getElementById("code-form").addEventListener("submit", (event) => {
    // Only the plain Save submit is ours; the other buttons carry hx-post (htmx handles them).
    if (event.submitter && event.submitter.id !== "save-button") return;
    event.preventDefault();
    save();
  });
  addShortcut(
    (event) => ctrl(event) && (event.key === "s" || event.key === "S"),
    (monaco) => monaco.KeyMod.CtrlCmd | monaco.KeyCode.KeyS,
    () => save(),
  );
  window.addEventListener("beforeunload", () => {
    if (canEdit && currentCode() !== savedCode) save();
  });
  codeArea.addEventListener("input", scheduleSave);
}
