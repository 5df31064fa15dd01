// The contract tab: the result of the last contract run, the interface the contract expects, its tolerances and
// its source, as four tabs. The server renders them one after another with the tab strip hidden (readable without
// script); here the strip is shown and one part at a time. htmx replaces the whole tab after a contract run or a
// refused verification, so it is set up again on every swap, opening the part the server names (the result, once
// there is one).
function setUp(root) {
  if (!root || root.dataset.tabsReady) return;
  root.dataset.tabsReady = "1";
  const strip = root.querySelector("[role='tablist']");
  const tabs = Array.from(strip.querySelectorAll("[role='tab']"));
  const show = (tab) => {
    for (const other of tabs) {
      const selected = other === tab;
      other.setAttribute("aria-selected", String(selected));
      other.tabIndex = selected ? 0 : -1;
      document.getElementById(other.getAttribute("aria-controls")).hidden = !selected;
    }
  };
  strip.addEventListener("click", (event) => {
    const tab = event.target.closest("[role='tab']");
    if (tab) show(tab);
  });
  strip.addEventListener("keydown", (event) => {
    const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
    if (!step) return;
    const next = tabs[(tabs.indexOf(document.activeElement) + step + tabs.length) % tabs.length];
    show(next);
    next.focus();
  });
  strip.hidden = false;
  show(document.getElementById(`contract-tab-${root.dataset.defaultTab}`) || tabs[0]);
}

// A module runs once, after the page is parsed (module scripts are deferred): main.js only imports this one.
setUp(document.getElementById("contract-panel"));
for (const name of ["htmx:afterSettle", "htmx:oobAfterSwap"]) {
  document.body.addEventListener(name, () => setUp(document.getElementById("contract-panel")));
}
