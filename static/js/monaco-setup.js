// Mounts Monaco editors on elements marked with data-monaco / data-monaco-diff (see includes/monaco.html).
(function () {
  "use strict";
  const vsPath = document.currentScript.dataset.vsPath;
  window.require.config({ paths: { vs: vsPath } });
  // Same-origin worker script: without this Monaco wraps workers in blob: URLs, which our CSP refuses.
  window.MonacoEnvironment = {
    getWorkerUrl: () => new URL(vsPath + "/base/worker/workerMain.js", window.location.href).href,
  };

  const baseOptions = {
    automaticLayout: true,
    minimap: { enabled: false },
    scrollBeyondLastLine: false,
    fontSize: 13,
  };

  function textOf(element) {
    return element.tagName === "TEXTAREA" ? element.value : element.textContent;
  }

  function mountEditor(monaco, element) {
    const container = document.createElement("div");
    container.className = "monaco-host " + (element.dataset.monacoClass || "");
    const editable = element.tagName === "TEXTAREA" && !element.readOnly;
    element.insertAdjacentElement("afterend", container);
    element.hidden = true;
    const editor = monaco.editor.create(container, {
      ...baseOptions,
      value: textOf(element),
      language: element.dataset.monaco || "python",
      readOnly: !editable,
    });
    if (editable) {
      editor.onDidChangeModelContent(() => {
        element.value = editor.getValue();
        element.dispatchEvent(new Event("input", { bubbles: true }));
      });
    }
    element.t2jEditor = editor;
    element.dispatchEvent(new CustomEvent("t2j:editor-ready", { bubbles: true, detail: { editor } }));
  }

  function mountDiff(monaco, element) {
    const original = document.getElementById(element.dataset.original);
    const modified = document.getElementById(element.dataset.modified);
    const language = element.dataset.monacoDiff || "python";
    const editor = monaco.editor.createDiffEditor(element, { ...baseOptions, readOnly: true, renderSideBySide: true });
    editor.setModel({
      original: monaco.editor.createModel(textOf(original), language),
      modified: monaco.editor.createModel(textOf(modified), language),
    });
    element.t2jEditor = editor;
    element.dispatchEvent(new CustomEvent("t2j:editor-ready", { bubbles: true, detail: { editor } }));
  }

  function mountAll(monaco, root) {
    root.querySelectorAll("[data-monaco]:not([data-monaco-mounted])").forEach((element) => {
      element.dataset.monacoMounted = "1";
      mountEditor(monaco, element);
    });
    root.querySelectorAll("[data-monaco-diff]:not([data-monaco-mounted])").forEach((element) => {
      element.dataset.monacoMounted = "1";
      mountDiff(monaco, element);
    });
  }

  window.t2jMonaco = new Promise((resolve) => {
    window.require(["vs/editor/editor.main"], () => resolve(window.monaco));
  });
  window.t2jMonaco.then((monaco) => {
    mountAll(monaco, document);
    // Fragments swapped in by htmx get their editors too.
    document.body.addEventListener("htmx:afterSettle", (event) => mountAll(monaco, event.target));
  });
})();
