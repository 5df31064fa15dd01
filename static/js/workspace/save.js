// Saving the editor content: the status in the editor's toolbar and the choices under it (#save-choices).
//
// The editor never drops text silently:
// - every change is kept in this browser (local-copy.js) until the server confirms it holds that text;
// - autosave after a pause, Save and Ctrl+S; every htmx request that changes the session (Run, Record step, Run the
//   contract, Verify) waits for the text to be saved first and is not sent when that fails;
// - a save refused because another tab or person saved first (409) keeps its choice on screen until the user
//   makes it: keep mine (save over the new version, after seeing the diff), take theirs, or copy mine;
// - text kept from an earlier visit that the server does not hold is offered back on load, with its diff;
// - leaving with unsaved text asks first; Abandon asks first and saves the text before it goes.
// The status tells the true state; root.dataset.saveState is one of saved, dirty, saving, conflict, failed, offer.
import { whenEditorReady } from "./editor.js";
import { diffElement, lineDiff } from "./linediff.js";
import { localCopies } from "./local-copy.js";
import { addShortcut, ctrl } from "./shortcuts.js";

const AUTOSAVE_MS = 1200;
const KEEP_MS = 250; // local copies are written this long after the last change (and at once when leaving)
const RETRY_MS = [2000, 5000, 15000, 30000, 60000];

export function csrfToken() {
  try {
    return JSON.parse(document.body.getAttribute("hx-headers"))["x-csrftoken"];
  } catch (error) {
    const input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }
}

function button(text, data, secondary) {
  const element = document.createElement("button");
  element.type = "button";
  Object.assign(element.dataset, data);
  if (secondary) element.className = "secondary";
  element.textContent = text;
  return element;
}

function paragraph(text, className) {
  const p = document.createElement("p");
  if (className) p.className = className;
  p.textContent = text;
  return p;
}

/** Put `text` on the clipboard; where the browser refuses (no secure context), show it selected to copy by hand. */
async function copyText(text, box) {
  try {
    await navigator.clipboard.writeText(text);
    return "Copied to the clipboard.";
  } catch (error) {
    let area = box.querySelector("textarea.copy-by-hand");
    if (!area) {
      area = document.createElement("textarea");
      area.className = "copy-by-hand";
      area.readOnly = true;
      area.rows = 8;
      box.append(area);
    }
    area.value = text;
    area.select();
    return "Select all in the box below and copy it (the browser refused the clipboard).";
  }
}

/** The conflict in a server-rendered fragment (a 409 answer to htmx, or the page without scripts), if any. */
function conflictIn(container) {
  const box = container.querySelector(".conflict[data-version]");
  const theirs = box && box.querySelector(".conflict-current");
  return theirs ? { version: Number(box.dataset.version), theirs: theirs.value } : null;
}

export function initSave(root) {
  const canEdit = root.dataset.canEdit === "1";
  const codeArea = document.getElementById("code");
  const versionInput = document.getElementById("version");
  const statusLine = document.getElementById("save-status");
  const choices = document.getElementById("save-choices");
  const copies = localCopies(root.dataset.sessionId);

  let savedCode = codeArea.value; // what the server holds as of versionInput.value
  let conflict = null; // {version, theirs}: a refused save, until the user chooses
  let offer = null; // a text kept by an earlier visit, offered back until the user chooses
  let failure = null; // {message, retry}: why the last save did not go through
  let saving = null; // the save in flight (a promise of true/false)
  let storageRefused = false;
  let carried = null; // the code an htmx request in flight carries (the server saves it with the request)
  let autosaveTimer = null;
  let keepTimer = null;
  let retryTimer = null;
  let retries = 0;

  const currentCode = () => (codeArea.t2jEditor ? codeArea.t2jEditor.getValue() : codeArea.value);
  const dirty = () => currentCode() !== savedCode;

  function setEditor(code) {
    if (codeArea.t2jEditor) codeArea.t2jEditor.setValue(code);
    else codeArea.value = code;
  }

  // Not the textarea's readOnly: Monaco, mounting later, would take it for a read-only page and never report edits.
  let locked = false;
  codeArea.addEventListener("beforeinput", (event) => {
    if (locked) event.preventDefault();
  });
  function setWritable(writable) {
    locked = !writable;
    whenEditorReady((editor) => editor.updateOptions({ readOnly: !writable }));
  }

  // --- the status ------------------------------------------------------------------------------------------

  function state() {
    if (offer) return "offer";
    if (conflict) return "conflict";
    if (saving) return "saving";
    if (failure && dirty()) return "failed";
    return dirty() ? "dirty" : "saved";
  }

  function showState(note) {
    const now = state();
    const kept = storageRefused ? " This browser could not keep a copy: do not close the page." : " Kept in this browser.";
    const texts = {
      saved: `Saved (version ${versionInput.value}).`,
      dirty: "Unsaved changes…",
      saving: "Saving…",
      conflict: `Not saved: version ${conflict && conflict.version} was saved first, in another tab or by someone else.${kept} Choose below.`,
      failed: `Not saved: ${failure && failure.message}${kept}${failure && failure.retry ? " Trying again shortly." : ""}`,
      offer: "Text you had not saved was found in this browser: choose below what to do with it.",
    };
    root.dataset.saveState = now;
    statusLine.replaceChildren();
    const span = document.createElement("span");
    span.className = now === "saved" || now === "dirty" || now === "saving" ? "saved" : "error";
    span.textContent = note ? `${texts[now]} ${note}` : texts[now];
    statusLine.append(span);
  }

  // --- the local copy --------------------------------------------------------------------------------------

  function keepNow() {
    clearTimeout(keepTimer);
    if (!canEdit || offer) return;
    if (dirty() || conflict) storageRefused = !copies.keep(currentCode(), versionInput.value);
    else copies.forget();
  }

  function changed() {
    if (!canEdit || offer) return;
    clearTimeout(keepTimer);
    keepTimer = setTimeout(() => {
      keepNow();
      const diff = conflict && choices.querySelector("#save-conflict pre.diff");
      if (diff) diff.replaceWith(diffElement(lineDiff(conflict.theirs, currentCode()))); // it follows the typing
    }, KEEP_MS);
    clearTimeout(autosaveTimer);
    if (!conflict && dirty()) autosaveTimer = setTimeout(save, AUTOSAVE_MS);
    showState();
  }

  // --- saving ----------------------------------------------------------------------------------------------

  /** Save the editor content; true once the server holds it (or already did), false otherwise (the status says why). */
  async function save() {
    clearTimeout(autosaveTimer);
    clearTimeout(retryTimer);
    if (!canEdit) return false;
    while (saving) await saving; // one at a time: each carries the version the previous one returned
    if (offer || conflict) {
      showState("Nothing is saved until you choose.");
      choices.scrollIntoView({ block: "nearest" });
      return false;
    }
    if (!dirty()) {
      failure = null;
      keepNow();
      showState();
      return true;
    }
    saving = post(currentCode(), versionInput.value);
    showState();
    const saved = await saving;
    saving = null;
    keepNow();
    showState();
    if (saved && dirty()) autosaveTimer = setTimeout(save, AUTOSAVE_MS); // typed while it was saving
    return saved;
  }

  async function post(code, version) {
    let response;
    let data = null;
    try {
      // URL-encoded by hand: multipart FormData would turn every "\n" into "\r\n" on the wire.
      const body = new URLSearchParams({ code, version }).toString();
      response = await fetch(root.dataset.saveUrl, {
        method: "POST",
        body,
        headers: {
          Accept: "application/json",
          "Content-Type": "application/x-www-form-urlencoded;charset=UTF-8",
          "X-CSRFToken": csrfToken(),
        },
        credentials: "same-origin",
        // A save started as the page closes still arrives; browsers refuse keepalive bodies over 64 KB.
        keepalive: body.length < 60000,
      });
      data = await response.json().catch(() => null);
    } catch (error) {
      return failed("the server did not answer.", true);
    }
    if (!data) {
      // A login page (the session cookie expired) or a proxy's error page, not our answer.
      return failed(`the server answered ${response.status} without saving (are you still logged in?).`, true);
    }
    if (response.ok && data.ok) {
      versionInput.value = data.version;
      savedCode = code;
      failure = null;
      retries = 0;
      return true;
    }
    if (response.status === 409) {
      conflict = { version: data.version, theirs: data.current_code || "" };
      drawConflict();
      return false;
    }
    const message = [data.message, data.advice].filter(Boolean).join(" ") || `save refused (${response.status}).`;
    return failed(message, response.status >= 500);
  }

  function failed(message, retry) {
    failure = { message, retry };
    if (retry) {
      retryTimer = setTimeout(save, RETRY_MS[Math.min(retries, RETRY_MS.length - 1)]);
      retries += 1;
    }
    return false;
  }

  // --- a refused save: the choice stays until it is made ---------------------------------------------------

  function drawConflict() {
    const box = document.createElement("div");
    box.className = "conflict";
    box.id = "save-conflict";
    box.dataset.version = conflict.version;
    box.append(
      paragraph(
        `Not saved: version ${conflict.version} was saved first (in another tab, or by someone else). Lines marked − are ` +
          "only in that version, + only in yours. Your text stays in the editor and in this browser until you choose.",
        "error",
      ),
      diffElement(lineDiff(conflict.theirs, currentCode())),
      button(`Keep mine (save it over version ${conflict.version})`, { conflictAction: "keep-mine" }),
      button("Take theirs (replace my text)", { conflictAction: "take-theirs" }, true),
      button("Copy mine", { conflictAction: "copy-mine" }, true),
    );
    choices.replaceChildren(box);
    showState();
  }

  async function resolveConflict(action, box) {
    if (action === "copy-mine") {
      showState(await copyText(currentCode(), box));
      return;
    }
    // Either way the editor now builds on the version that was saved first.
    versionInput.value = conflict.version;
    savedCode = conflict.theirs;
    const theirs = conflict.theirs;
    conflict = null;
    choices.replaceChildren();
    if (action === "take-theirs") setEditor(theirs);
    keepNow();
    if (action === "keep-mine") await save();
    else showState();
  }

  // --- text kept by an earlier visit -----------------------------------------------------------------------

  function offerKept() {
    const serverCode = codeArea.value;
    const kept = copies.all().filter((entry) => {
      if (entry.code !== serverCode) return true;
      copies.forget(entry.key); // the server holds it: nothing to offer
      return false;
    });
    offer = kept[0] || null;
    if (!offer) {
      choices.querySelector("#save-restore")?.remove();
      if (canEdit) setWritable(true);
      return;
    }
    setWritable(false); // a decision first: typing now would mix two texts
    const box = document.createElement("div");
    box.className = "conflict restore";
    box.id = "save-restore";
    const when = new Date(offer.at).toLocaleString();
    box.append(
      paragraph(
        `This browser kept text of this session that the server does not hold: edited from version ${offer.version}, ` +
          `last changed ${when}. The server has version ${versionInput.value}. Lines marked − are only in the saved ` +
          "code, + only in the kept text.",
      ),
      diffElement(lineDiff(serverCode, offer.code)),
    );
    if (canEdit) box.append(button("Restore it", { restoreAction: "restore" }));
    box.append(
      button("Copy it", { restoreAction: "copy" }, true),
      button("Discard it", { restoreAction: "discard" }, true),
    );
    choices.replaceChildren(box);
    showState();
  }

  async function resolveOffer(action, box) {
    const kept = offer;
    if (action === "copy") {
      showState(await copyText(kept.code, box));
      return;
    }
    copies.forget(kept.key);
    offer = null;
    if (action === "discard") {
      offerKept(); // the next one, if another tab left one
      showState();
      return;
    }
    choices.replaceChildren();
    setWritable(true);
    // Saved against the version it was edited from: if the server moved on since, that is a conflict to resolve.
    versionInput.value = kept.version;
    setEditor(kept.code);
    await save();
  }

  // --- wiring ----------------------------------------------------------------------------------------------

  choices.addEventListener("click", (event) => {
    const target = event.target.closest("[data-conflict-action], [data-restore-action]");
    if (!target) return;
    const box = target.closest(".conflict");
    if (target.dataset.conflictAction && conflict) resolveConflict(target.dataset.conflictAction, box);
    if (target.dataset.restoreAction && offer) resolveOffer(target.dataset.restoreAction, box);
  });

  // A request that changes the session (Run, Record step and the step itself, Run the contract, Verify) waits for
  // the editor content to be saved, and is not sent when it is not (the status says why): it works on that code.
  document.body.addEventListener("htmx:confirm", (event) => {
    if (!canEdit || event.detail.verb === "get" || !root.contains(event.detail.elt)) return;
    if (!saving && !conflict && !dirty()) return;
    event.preventDefault();
    save().then((saved) => {
      if (saved) event.detail.issueRequest(true);
    });
  });
  document.body.addEventListener("htmx:configRequest", (event) => {
    const data = event.detail.formData || event.detail.parameters; // htmx 2: a FormData (or its proxy)
    if (data && typeof data.has === "function" && data.has("code")) {
      clearTimeout(autosaveTimer);
      carried = data.get("code");
    }
  });
  // The version the server saved a carried code as (HX-Trigger). Only then: a version alone (a refusal without
  // a save) must not move the editor onto a version whose code it has not seen.
  document.body.addEventListener("t2j:version", (event) => {
    if (carried === null) return;
    versionInput.value = event.detail.version;
    savedCode = carried;
    carried = null;
    failure = null;
    keepNow();
    showState();
  });
  document.body.addEventListener("htmx:afterRequest", () => {
    carried = null;
  });
  // Someone saved between our save and the request: the server refused the request with its conflict fragment.
  document.body.addEventListener("htmx:beforeSwap", (event) => {
    if (event.detail.xhr.status !== 409) return;
    event.detail.shouldSwap = false;
    const found = conflictIn(new DOMParser().parseFromString(event.detail.xhr.responseText, "text/html"));
    if (found) {
      conflict = found;
      keepNow();
      drawConflict();
    }
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

  // Abandon (its form asks for the confirmation) takes the text along: saved first, or not abandoned.
  const abandonForm = document.getElementById("abandon-form");
  if (abandonForm) {
    abandonForm.addEventListener("submit", async (event) => {
      if (!canEdit || (!saving && !conflict && !dirty())) return;
      event.preventDefault();
      if (await save()) abandonForm.requestSubmit(event.submitter);
      else showState("Not abandoned: your text is not saved yet.");
    });
  }

  window.addEventListener("beforeunload", (event) => {
    keepNow();
    if (!canEdit || offer || (!conflict && !dirty())) return;
    if (!conflict && !saving) save(); // may still arrive (keepalive); the browser copy stays either way
    event.preventDefault();
    event.returnValue = ""; // the browser asks "Leave site?"
  });
  window.addEventListener("pagehide", keepNow);
  codeArea.addEventListener("input", changed);

  const rendered = conflictIn(choices); // the page itself answered a refused save (without scripts)
  if (rendered && canEdit) {
    conflict = rendered;
    drawConflict();
  } else {
    offerKept();
  }
  if (canEdit && !offer && !conflict) showState();
}
