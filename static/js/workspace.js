// The fix workspace: autosave with a version number, keyboard shortcuts, the failing-line marker, diff views,
// and conflict handling. Plain script (CSP script-src 'self'); the editors come from monaco-setup.js.
(function () {
  "use strict";
  const root = document.getElementById("workspace");
  if (!root) return;
  const canEdit = root.dataset.canEdit === "1";
  const saveUrl = root.dataset.saveUrl;
  const codeArea = document.getElementById("code");
  const versionInput = document.getElementById("version");
  const saveStatus = document.getElementById("save-status");
  const AUTOSAVE_MS = 1200;

  let editor = null;
  let savedCode = codeArea.value; // what the server holds as of versionInput.value
  let timer = null;
  let saving = null; // the promise of the save in flight
  let decorations = [];
  let diffEditor = null;

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers"))["x-csrftoken"];
    } catch (error) {
      const input = document.querySelector("input[name=csrfmiddlewaretoken]");
      return input ? input.value : "";
    }
  }

  function currentCode() {
    return editor ? editor.getValue() : codeArea.value;
  }

  function setStatus(text, isError) {
    saveStatus.replaceChildren();
    const span = document.createElement("span");
    span.className = isError ? "error" : "saved";
    span.textContent = text;
    saveStatus.append(span);
  }

  // --- autosave --------------------------------------------------------------------------------------------

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
      if (editor) editor.setValue(code);
      else codeArea.value = code;
      setStatus(`Loaded the saved version ${box.dataset.version}.`, false);
    } else {
      savedCode = null; // force the save
      save();
    }
  });

  // --- htmx requests that carry the code (run, record step) save it themselves ------------------------------

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
  // Refusals come back as 400/403/409 with a fragment that explains them: show it instead of dropping it.
  document.body.addEventListener("htmx:beforeSwap", (event) => {
    const status = event.detail.xhr.status;
    if (status === 400 || status === 403 || status === 409) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
      if (status === 409) root.dataset.conflict = "1";
    }
  });

  // --- failing line ----------------------------------------------------------------------------------------

  function markFailingLine() {
    if (!editor || !window.monaco) return;
    const run = document.querySelector("#jax-output [data-run-kind]");
    const line = run && run.dataset.failingLine ? Number(run.dataset.failingLine) : null;
    const marks = [];
    if (line) {
      marks.push({
        range: new window.monaco.Range(line, 1, line, 1),
        options: { isWholeLine: true, className: "failing-line", glyphMarginClassName: "failing-glyph",
                   hoverMessage: { value: "The run failed here" } },
      });
      editor.revealLineInCenter(line);
    }
    decorations = editor.deltaDecorations(decorations, marks);
    codeArea.dataset.failingLine = line || "";
  }

  document.body.addEventListener("htmx:afterSettle", (event) => {
    if (event.target.id === "jax-output") markFailingLine();
    if (event.target.id === "step-form-slot") {
      const description = document.getElementById("id_fix_info");
      if (description) description.focus();
    }
  });

  // --- diff views ------------------------------------------------------------------------------------------

  function showView(view) {
    const pane = document.getElementById("editor-pane");
    const diffHost = document.getElementById("diff-view");
    document.querySelectorAll(".view-toggle").forEach((button) => {
      const active = button.dataset.view === view;
      button.classList.toggle("active", active);
      button.setAttribute("aria-pressed", active ? "true" : "false");
    });
    if (view === "edit" || !editor) {
      diffHost.hidden = true;
      pane.hidden = false;
      return;
    }
    const source = document.getElementById(view === "draft" ? "draft-code" : "snapshot-code");
    const monaco = window.monaco;
    if (!diffEditor) {
      diffEditor = monaco.editor.createDiffEditor(diffHost, {
        automaticLayout: true, readOnly: true, renderSideBySide: true, minimap: { enabled: false }, fontSize: 13,
      });
    }
    const previous = diffEditor.getModel();
    // The modified side is the live editor model: the diff follows typing; only our original model is disposed.
    diffEditor.setModel({ original: monaco.editor.createModel(source.value, "python"), modified: editor.getModel() });
    if (previous && previous.original) previous.original.dispose();
    pane.hidden = true;
    diffHost.hidden = false;
    diffHost.dataset.against = view;
  }

  document.querySelectorAll(".view-toggle").forEach((button) => {
    button.addEventListener("click", () => showView(button.dataset.view));
  });

  // --- keyboard --------------------------------------------------------------------------------------------

  function click(id) {
    const element = document.getElementById(id);
    if (element && !element.disabled) element.click();
  }

  const shortcuts = [
    { test: (e) => (e.ctrlKey || e.metaKey) && e.shiftKey && e.key === "Enter", run: () => click("record-step") },
    { test: (e) => (e.ctrlKey || e.metaKey) && !e.shiftKey && e.key === "Enter", run: () => click("run-jax") },
    { test: (e) => (e.ctrlKey || e.metaKey) && (e.key === "s" || e.key === "S"), run: () => save() },
  ];

  document.addEventListener("keydown", (event) => {
    const shortcut = shortcuts.find((s) => s.test(event));
    if (!shortcut) return;
    event.preventDefault();
    shortcut.run();
  });

  function bindEditorKeys(monaco) {
    const { KeyMod, KeyCode } = monaco;
    editor.addCommand(KeyMod.CtrlCmd | KeyMod.Shift | KeyCode.Enter, () => click("record-step"));
    editor.addCommand(KeyMod.CtrlCmd | KeyCode.Enter, () => click("run-jax"));
    editor.addCommand(KeyMod.CtrlCmd | KeyCode.KeyS, () => save());
  }

  // --- wiring ----------------------------------------------------------------------------------------------

  document.getElementById("code-form").addEventListener("submit", (event) => {
    // Only the plain Save submit is ours; the other buttons carry hx-post (htmx handles them).
    if (event.submitter && event.submitter.id !== "save-button") return;
    event.preventDefault();
    save();
  });

  document.body.addEventListener("click", (event) => {
    if (event.target.closest("[data-close-step-form]")) {
      document.getElementById("step-form-slot").replaceChildren();
    }
  });

  window.addEventListener("beforeunload", () => {
    if (canEdit && currentCode() !== savedCode) save();
  });

  function onEditorReady(instance) {
    editor = instance;
    root.dataset.editorReady = "1";
    window.t2jMonaco.then((monaco) => {
      bindEditorKeys(monaco);
      markFailingLine();
    });
  }

  codeArea.addEventListener("input", scheduleSave);
  if (codeArea.t2jEditor) onEditorReady(codeArea.t2jEditor);
  else codeArea.addEventListener("t2j:editor-ready", (event) => onEditorReady(event.detail.editor), { once: true });
})();
