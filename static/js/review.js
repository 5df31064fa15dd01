// Blind review page: keys 1 / 2 / 0 / 9 vote A / B / tie / both bad; the reason is required.
// A key pressed before the reason is written selects that verdict and moves to the reason box; Enter there
// sends it. Keys typed inside the reason box are text, never votes.
(function () {
  "use strict";
  const form = document.getElementById("vote-form");
  if (!form) return;
  const reason = form.querySelector("#reason");
  const buttons = new Map(Array.from(form.querySelectorAll("button[data-key]")).map((b) => [b.dataset.key, b]));
  let pending = null;

  function choose(button) {
    pending = button;
    buttons.forEach((b) => b.setAttribute("aria-pressed", String(b === button)));
  }

  function send(button) {
    // requestSubmit runs the browser's validation, so an empty reason is refused with a message.
    form.requestSubmit(button);
  }

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const typing = event.target === reason || event.target.closest?.(".monaco-editor");
    if (event.target === reason) {
      if (event.key === "Escape") reason.blur();
      if (event.key === "Enter" && !event.shiftKey && pending && reason.value.trim()) {
        event.preventDefault();
        send(pending);
      }
      return;
    }
    if (typing) return;
    const button = buttons.get(event.key);
    if (!button) return;
    event.preventDefault();
    choose(button);
    if (reason.value.trim()) send(button);
    else reason.focus();
  });

  // Once Monaco's diff is up, the plain-text copies (shown without JavaScript) step aside.
  const diff = document.getElementById("review-diff");
  diff?.addEventListener("t2j:editor-ready", () => {
    // No +/- signs or revert arrows: neither side is the "old" or the "fixed" one.
    diff.t2jEditor?.updateOptions({ renderIndicators: false, renderMarginRevertIcon: false });
    diff.classList.add("mounted");
    document.getElementById("review-plain")?.classList.add("mounted");
    diff.t2jEditor?.layout();
  });

  // Monaco paints the left side's changes red and the right side's green, which reads as "A is wrong, B fixed
  // it". Blind review paints both sides' changes in the same neutral colour.
  const NEUTRAL_LINE = "#e8ecf3";
  const NEUTRAL_TEXT = "#c9d3e6";
  const NEUTRAL_MARK = "#8c9bb5";
  window.t2jMonaco?.then((monaco) => {
    monaco.editor.defineTheme("t2j-review-neutral", {
      base: "vs",
      inherit: true,
      rules: [],
      colors: {
        "diffEditor.insertedLineBackground": NEUTRAL_LINE,
        "diffEditor.removedLineBackground": NEUTRAL_LINE,
        "diffEditor.insertedTextBackground": NEUTRAL_TEXT,
        "diffEditor.removedTextBackground": NEUTRAL_TEXT,
        "diffEditorGutter.insertedLineBackground": NEUTRAL_LINE,
        "diffEditorGutter.removedLineBackground": NEUTRAL_LINE,
        "diffEditorOverview.insertedForeground": NEUTRAL_MARK,
        "diffEditorOverview.removedForeground": NEUTRAL_MARK,
      },
    });
    monaco.editor.setTheme("t2j-review-neutral");
  });
})();
