// Nothing stale looks current: once the code in the editor is not the version the last JAX run (or contract run)
// ran, that output is greyed and says which version it is from, and the failing-line marker goes until the next run.
// The server renders the same marks for a page opened after the code changed; here they follow the typing.
// A panel knows the version it ran (data-version); save.js keeps #workspace[data-save-state] and #version current.
const PANELS = ["#jax-output .run[data-run-kind='jax']", "#contract-panel[data-has-run]"];

export function initStale(root) {
  const versionInput = document.getElementById("version");
  const codeArea = document.getElementById("code");

  function codeDiffersFrom(panel) {
    return panel.dataset.version !== versionInput.value || root.dataset.saveState !== "saved";
  }

  function markStale() {
    for (const selector of PANELS) {
      const panel = document.querySelector(selector);
      if (!panel || panel.classList.contains("stale-output") || !codeDiffersFrom(panel)) continue;
      panel.classList.add("stale-output");
      const note = panel.querySelector(".stale-note");
      if (note) note.hidden = false;
      if (panel.dataset.runKind === "jax") {
        document.body.dispatchEvent(new CustomEvent("t2j:failing-line", { detail: { line: null } }));
      }
    }
  }

  // Only on a change, not on load: the server already said whether what it rendered is current.
  codeArea.addEventListener("input", markStale);
  document.body.addEventListener("t2j:version", () => setTimeout(markStale));
}
