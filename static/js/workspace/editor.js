// The editor panel: the JAX code in Monaco (mounted on #code by monaco-setup.js), the failing-line marker, the
// Code / Diff vs draft / Diff vs last step views, and the traceback links (a.frame-link[data-line]) that move the
// editor to their line. Saving is save.js; keyboard shortcuts are shortcuts.js.

/** Call back(editor, monaco) once the Monaco editor of #code exists: at once if it already does. */
export function whenEditorReady(callback) {
  const codeArea = document.getElementById("code");
  const ready = (editor) => window.t2jMonaco.then((monaco) => callback(editor, monaco));
  if (codeArea.t2jEditor) ready(codeArea.t2jEditor);
  else codeArea.addEventListener("t2j:editor-ready", (event) => ready(event.detail.editor), { once: true });
}

export function initEditor() {
  const codeArea = document.getElementById("code");
  let editor = null;
  let monaco = null;
  let failingLine = null; // from runs.js (t2j:failing-line); marked once the editor exists
  let decorations = [];
  let diffEditor = null;

  function markFailingLine() {
    if (!editor) return;
    const marks = [];
    if (failingLine) {
      marks.push({
        range: new monaco.Range(failingLine, 1, failingLine, 1),
        options: { isWholeLine: true, className: "failing-line", glyphMarginClassName: "failing-glyph",
                   hoverMessage: { value: "The run failed here" } },
      });
      editor.revealLineInCenter(failingLine);
    }
    decorations = editor.deltaDecorations(decorations, marks);
    codeArea.dataset.failingLine = failingLine || "";
  }

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
    // The draft never changes; the last step's code (#snapshot-code) is refreshed by each step-log answer.
    const source = document.getElementById(view === "draft" ? "draft-code" : "snapshot-code");
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

  function goToLine(line) {
    if (!editor) return;
    showView("edit");
    editor.revealLineInCenter(line);
    editor.setPosition({ lineNumber: line, column: 1 });
    editor.focus();
  }

  document.body.addEventListener("click", (event) => {
    const link = event.target.closest("a.frame-link[data-line]");
    if (!link || !editor) return; // without the editor the link goes to the textarea (#code)
    event.preventDefault();
    goToLine(Number(link.dataset.line));
  });
  document.body.addEventListener("t2j:failing-line", (event) => {
    failingLine = event.detail.line;
    markFailingLine();
  });
  document.querySelectorAll(".view-toggle").forEach((button) => {
    button.addEventListener("click", () => showView(button.dataset.view));
  });
  whenEditorReady((instance, namespace) => {
    editor = instance;
    monaco = namespace;
    markFailingLine();
  });
}
