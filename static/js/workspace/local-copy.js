// Editor text the server has not confirmed yet, kept in this browser (localStorage) per fix session and per tab,
// with the version it was edited from. It survives a reload, a crash or a closed tab; save.js forgets it once the
// server holds that text, and offers what it finds on the next visit. One entry per tab: two tabs of one session
// never overwrite each other's text.

const PREFIX = "t2j-unsaved:";
const MAX_AGE_MS = 30 * 24 * 3600 * 1000; // entries older than this are dropped when a page looks

function tabId() {
  // sessionStorage lives as long as the tab (a reload keeps it); not crypto.randomUUID: http://host is no secure context.
  let id = sessionStorage.getItem("t2j-tab");
  if (!id) {
    id = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
    sessionStorage.setItem("t2j-tab", id);
  }
  return id;
}

function read(key) {
  try {
    const entry = JSON.parse(localStorage.getItem(key));
    return entry && typeof entry.code === "string" ? { key, ...entry } : null;
  } catch (error) {
    return null;
  }
}

/** The local copies of fix session `sessionId`: keep/forget this tab's, list and forget any tab's. */
export function localCopies(sessionId) {
  const sessionPrefix = `${PREFIX}${sessionId}:`;
  let ownKey = null;
  try {
    ownKey = sessionPrefix + tabId();
  } catch (error) {
    // Storage refused (private mode, disabled): keep() says so and the page warns.
  }

  return {
    /** Keep this tab's text, edited from `version`; false when the browser refused to store it. */
    keep(code, version) {
      if (!ownKey) return false;
      try {
        localStorage.setItem(ownKey, JSON.stringify({ code, version: Number(version), at: new Date().toISOString() }));
        return true;
      } catch (error) {
        return false; // quota or disabled storage
      }
    },
    forget(key = ownKey) {
      try {
        if (key) localStorage.removeItem(key);
      } catch (error) {
        // nothing kept, nothing to forget
      }
    },
    /** Every tab's kept text of this session, newest first (old ones are dropped on the way). */
    all() {
      const keys = [];
      try {
        for (let i = 0; i < localStorage.length; i += 1) {
          const key = localStorage.key(i);
          if (key && key.startsWith(sessionPrefix)) keys.push(key);
        }
      } catch (error) {
        return [];
      }
      const now = Date.now();
      const entries = [];
      for (const key of keys) {
        const entry = read(key);
        if (entry && now - Date.parse(entry.at) < MAX_AGE_MS) entries.push(entry);
        else this.forget(key); // unreadable or too old
      }
      return entries.sort((a, b) => Date.parse(b.at) - Date.parse(a.at));
    },
  };
}
