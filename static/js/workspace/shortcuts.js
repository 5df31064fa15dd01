// Keyboard shortcuts of the workspace. Each panel registers its own; every shortcut works anywhere on the page
// and inside the Monaco editor, which handles the keys bound to it before the page sees them.
import { whenEditorReady } from "./editor.js";

/**
 * Run `action` on a key: `matches(keydownEvent)` says whether a page key event is it, `monacoKeys(monaco)` gives
 * the same key as a Monaco keybinding (KeyMod | KeyCode).
 */
export function addShortcut(matches, monacoKeys, action) {
  document.addEventListener("keydown", (event) => {
    if (!matches(event)) return;
    event.preventDefault();
    action();
  });
  whenEditorReady((editor, monaco) => editor.addCommand(monacoKeys(monaco), action));
}

/** Click a toolbar button as the user would; nothing when it is missing (read-only) or disabled (in flight). */
export function clickButton(id) {
  const element = document.getElementById(id);
  if (element && !element.disabled) element.click();
}

export const ctrl = (event) => event.ctrlKey || event.metaKey;
