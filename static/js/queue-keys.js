// Review and score queues: P goes to the previous item (to change a vote or score), N to the next one when
// going back, S skips the item shown. Keys typed into text boxes or the editor are text, never commands.
(function () {
  "use strict";
  const ACTIONS = {
    p: () => document.getElementById("previous"),
    n: () => document.getElementById("next"),
    s: () => document.querySelector("#skip-form button"),
  };

  function typing(target) {
    if (target.closest?.(".monaco-editor")) return true;
    if (target.tagName === "TEXTAREA" || target.tagName === "SELECT") return true;
    return target.tagName === "INPUT" && !["radio", "checkbox", "button", "submit"].includes(target.type);
  }

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    const control = ACTIONS[event.key.toLowerCase()]?.();
    if (!control) return;
    event.preventDefault();
    control.click();
  });
})();
