// Long requests show that they are working: while a run, the contract or Verify is in flight (an element with
// data-long-run sent it), the time it has taken shows beside its button, with a Stop button. Stop asks the server to
// stop what this user has running in the session (#workspace[data-stop-url]); the request that started the run then
// answers with the stopped run (status killed). A stop that arrives before the program has reached its sandbox finds
// nothing yet: it is asked again until the request ends.
import { csrfToken } from "./save.js";

const TICK_MS = 250;
const RETRY_MS = 500;

function seconds(ms) {
  const s = Math.floor(ms / 1000);
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
}

export function initProgress(root) {
  const inFlight = new Map(); // the element that sent a request → its progress

  function start(elt) {
    const label = elt.dataset.longRun;
    const box = document.createElement("span");
    box.className = "run-progress";
    box.setAttribute("role", "status");
    const text = document.createElement("span");
    text.className = "elapsed";
    const stop = document.createElement("button");
    stop.type = "button";
    stop.className = "secondary stop-button";
    stop.textContent = "Stop";
    box.append(text, " ", stop);
    // Beside the button that started it (a form: beside its submit button).
    const anchor = elt.tagName === "FORM" ? elt.querySelector("button[type=submit]") || elt : elt;
    anchor.after(box);
    const started = performance.now();
    const progress = { box, text, stopping: false, timers: [] };
    const tick = () => {
      text.textContent = `${progress.stopping ? "Stopping" : label}… ${seconds(performance.now() - started)}`;
    };
    tick();
    progress.timers.push(setInterval(tick, TICK_MS));
    stop.addEventListener("click", () => {
      progress.stopping = true;
      stop.disabled = true;
      tick();
      askToStop(elt);
    });
    inFlight.set(elt, progress);
  }

  async function askToStop(elt) {
    while (inFlight.has(elt)) {
      try {
        const response = await fetch(root.dataset.stopUrl, {
          method: "POST",
          headers: { Accept: "application/json", "X-CSRFToken": csrfToken() },
          credentials: "same-origin",
        });
        const answer = await response.json();
        if (!response.ok) {
          showRefusal(elt, answer.message || `Not stopped (${response.status}).`);
          return;
        }
        if (answer.stopped > 0) return;
      } catch (error) {
        // no answer: asked again below while the request is still running
      }
      await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
    }
  }

  function showRefusal(elt, message) {
    const progress = inFlight.get(elt);
    if (!progress) return;
    progress.stopping = false;
    progress.box.querySelector(".stop-button").remove();
    const refusal = document.createElement("span");
    refusal.className = "error";
    refusal.textContent = ` ${message}`;
    progress.box.append(refusal);
  }

  function end(elt) {
    const progress = inFlight.get(elt);
    if (!progress) return;
    inFlight.delete(elt);
    progress.timers.forEach(clearInterval);
    progress.box.remove();
  }

  document.body.addEventListener("htmx:beforeRequest", (event) => {
    const elt = event.detail.elt;
    if (elt.dataset && elt.dataset.longRun !== undefined && root.contains(elt)) start(elt);
  });
  document.body.addEventListener("htmx:afterRequest", (event) => end(event.detail.elt));
}
