// Score page: keys 0-4 score the highlighted aspect and move on to the next; Enter saves once every aspect
// has a score (the browser's own check names a missing one). Clicking an aspect highlights it.
(function () {
  "use strict";
  const form = document.getElementById("score-form");
  if (!form) return;
  const aspects = Array.from(form.querySelectorAll("fieldset[data-aspect]"));
  const scored = (fieldset) => fieldset.querySelector("input[type=radio]:checked") !== null;
  let current = Math.max(0, aspects.findIndex((fieldset) => !scored(fieldset)));

  function highlight(index) {
    current = index;
    aspects.forEach((fieldset, i) => fieldset.classList.toggle("current", i === index));
  }

  aspects.forEach((fieldset, i) => fieldset.addEventListener("click", () => highlight(i)));
  highlight(current);

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.target.closest?.(".monaco-editor") || event.target.tagName === "TEXTAREA") return;
    if (/^[0-4]$/.test(event.key)) {
      event.preventDefault();
      const radio = aspects[current].querySelector(`input[type=radio][value="${event.key}"]`);
      radio.checked = true;
      const next = aspects.findIndex((fieldset, i) => i > current && !scored(fieldset));
      highlight(next === -1 ? Math.min(current + 1, aspects.length - 1) : next);
    } else if (event.key === "Enter" && event.target.tagName !== "BUTTON" && event.target.tagName !== "A") {
      event.preventDefault();
      form.requestSubmit();
    }
  });
})();
