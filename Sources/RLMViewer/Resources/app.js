// The page: tabs, the run view (summary, tree, details), the timeline, comparison, search and the live follower.

const App = { runs: [], views: [], tab: null, lastTab: null, live: null, errors: 0, renderPending: false };

function noteError(message) {
  App.errors += 1;
  document.body.dataset.errors = String(App.errors);
  const box = document.getElementById("errors");
  box.hidden = false;
  box.textContent = "The viewer hit an error: " + message;
}
window.addEventListener("error", ev => noteError(ev.message || String(ev.error)));
window.addEventListener("unhandledrejection", ev => noteError(String(ev.reason)));

function addView(run) {
  const index = App.views.length;
  const view = { run, tree: null, detail: el("div", { class: "detail-pane" }) };
  view.tree = new TreeView(run, key => showDetail(view, key));
  App.runs.push(run);
  App.views.push(view);
  return index;
}

function showDetail(view, key) {
  view.tree.selected = key;
  view.detail.replaceChildren(nodeDetail(view.run, view.tree, key));
}

function tabs() {
  const list = [];
  const two = App.views.length > 1;
  if (two) list.push(["compare", "Compare"]);
  App.views.forEach((v, i) => {
    const prefix = two ? String.fromCharCode(65 + i) + ": " : "";
    list.push(["run" + i, prefix + "Run"], ["time" + i, prefix + "Timeline"]);
  });
  return list;
}

function drawTabs() {
  const nav = document.getElementById("tabs");
  nav.replaceChildren(...tabs().map(([id, label]) =>
    el("button", { class: App.tab === id ? "active" : "", text: label, onclick: () => { App.tab = id; render(); } })));
  if (App.live) nav.append(el("span", { class: "live", id: "live-status", text: App.live.status }));
}

function render() {
  App.renderPending = false;
  const main = document.getElementById("app");
  if (!App.tab) {
    // A link may name the tab (page.html#time0 opens the first run's timeline), a search (#search=text) or an
    // event (#event=N, see boot).
    const wanted = location.hash.slice(1);
    if (wanted.startsWith("search=")) {
      document.getElementById("search").value = decodeURIComponent(wanted.slice(7));
      App.lastTab = App.views.length > 1 ? "compare" : "run0";
      App.tab = "search";
    }
    if (!App.tab) App.tab = tabs().some(([id]) => id === wanted) ? wanted : App.views.length > 1 ? "compare" : "run0";
  }
  drawTabs();
  const content = [];
  if (App.tab === "search") {
    content.push(searchResults(document.getElementById("search").value));
  } else if (App.tab === "compare") {
    content.push(compareView(App.runs));
  } else {
    const index = Number(App.tab.replace(/^\D+/, ""));
    const view = App.views[index];
    if (App.tab.startsWith("run")) {
      content.push(summaryCard(view.run));
      const treePane = el("div", { class: "card tree-pane" }, el("h2", { text: "Recursion tree" }));
      main.replaceChildren(...content);
      treePane.append(view.tree.render());
      if (!view.tree.selected) view.tree.selected = "t:0";
      showDetail(view, view.tree.selected);
      main.append(el("div", { class: "split" }, treePane, view.detail));
      finishRender();
      return;
    }
    content.push(ganttCard(view.run, key => { App.tab = "run" + index; render(); view.tree.reveal(key); }), inFlightCard(view.run));
  }
  main.replaceChildren(...content);
  finishRender();
}

function finishRender() {
  // How long the first render took from the start of navigation, for benchmarks (not a test's assertion).
  if (!document.body.dataset.renderMs) document.body.dataset.renderMs = String(Math.round(performance.now()));
  document.body.dataset.rendered = "yes";
  document.body.dataset.events = String(App.runs.reduce((n, r) => n + r.events.length, 0));
}

function scheduleRender() {
  if (App.renderPending) return;
  App.renderPending = true;
  setTimeout(render, 400);
}

// MARK: search

const SEARCH_FIELDS = ["text", "code", "stdout", "stderr", "error", "model", "query", "source"];

function searchResults(query) {
  const card = el("div", { class: "card" }, el("h2", { text: "Search: " + query }));
  const needle = query.toLowerCase();
  let hits = 0;
  const limit = 300;
  App.runs.forEach((run, ri) => {
    for (let i = 0; i < run.events.length && hits < limit; i++) {
      const e = run.events[i];
      for (const field of SEARCH_FIELDS) {
        const value = e[field];
        if (typeof value !== "string") continue;
        const at = value.toLowerCase().indexOf(needle);
        if (at < 0) continue;
        hits += 1;
        const from = Math.max(0, at - 60);
        const snippet = el("span", null, (from > 0 ? "…" : "") + value.slice(from, at), el("mark", { text: value.slice(at, at + query.length) }), value.slice(at + query.length, at + query.length + 100));
        const where = (App.runs.length > 1 ? String.fromCharCode(65 + ri) + " · " : "") + "#" + i + " " + e.event + " · RLM " + (e.trajectory || "0") + (e.iteration != null ? " · turn " + e.iteration : "") + " · " + field;
        card.append(el("div", { class: "hit", onclick: () => openEvent(ri, i) }, el("div", { class: "muted", text: where }), snippet));
        break;
      }
    }
  });
  if (hits === 0) card.append(el("p", { class: "muted", text: "Nothing matches." }));
  if (hits >= limit) card.append(el("p", { class: "muted", text: "The first " + limit + " matches are shown; narrow the search for more." }));
  return card;
}

function openEvent(runIndex, eventIndex) {
  const view = App.views[runIndex];
  const owner = view.run.ownerOf(eventIndex);
  App.tab = "run" + runIndex;
  render();
  if (owner && owner !== "summary") view.tree.reveal(owner);
  const target = document.getElementById("ev-" + eventIndex);
  if (target) {
    target.parentElement.open = true;
    target.parentElement.parentElement.open = true;
    if (target.scrollIntoView) target.scrollIntoView({ block: "nearest" });
  }
}

function wireSearch() {
  const input = document.getElementById("search");
  let timer = null;
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      if (input.value.trim().length >= 2) {
        if (App.tab !== "search") App.lastTab = App.tab;
        App.tab = "search";
      } else if (App.tab === "search") {
        App.tab = App.lastTab;
      }
      render();
    }, 200);
  });
}

// MARK: live

function setLiveStatus(text) {
  App.live.status = text;
  const node = document.getElementById("live-status");
  if (node) node.textContent = text;
}

/// Follows a log that is still being written: each request waits on the server until new lines are there.
async function follow(live, run) {
  let offset = 0, updates = 0, failures = 0;
  while (!run.finished) {
    let response;
    try {
      response = await fetch(live.log + "?offset=" + offset, { cache: "no-store" });
      if (!response.ok) throw new Error("HTTP " + response.status);
    } catch (err) {
      failures += 1;
      setLiveStatus("live: the server does not answer (" + err.message + "); retrying");
      await new Promise(resolve => setTimeout(resolve, Math.min(5000, 500 * failures)));
      continue;
    }
    failures = 0;
    const text = await response.text();
    const next = Number(response.headers.get("x-next-offset"));
    if (Number.isFinite(next)) offset = next;
    if (response.headers.get("x-log-exists") === "0") { setLiveStatus("live: waiting for the log to be created"); continue; }
    let added = 0;
    for (const line of text.split("\n")) {
      if (!line.trim()) continue;
      try { run.add(JSON.parse(line)); added += 1; } catch (err) { run.notes.push("a line that is not JSON was left out"); }
    }
    if (added) {
      updates += 1;
      document.body.dataset.updates = String(updates);
      setLiveStatus("live: " + fmtInt(run.events.length) + " events, " + fmtSec(run.wallSeconds));
      scheduleRender();
    }
  }
  setLiveStatus("live: the run finished");
  document.body.dataset.live = "finished";
  render();
}

function boot() {
  wireSearch();
  const data = JSON.parse(document.getElementById("rlm-data").textContent);
  if (data.live) {
    App.live = { status: "live: connecting" };
    const run = new RunModel(data.live.name);
    addView(run);
    document.body.dataset.live = "following";
    render();
    follow(data.live, run).catch(err => noteError(String(err)));
    return;
  }
  for (const r of data.runs) {
    const run = new RunModel(r.name);
    run.notes = r.notes || [];
    for (const e of r.events) run.add(e);
    addView(run);
  }
  render();
  // #event=N opens the node that holds event N of the first run, with that event unfolded.
  const linked = /^#event=(\d+)$/.exec(location.hash);
  if (linked) openEvent(0, Number(linked[1]));
}

boot();
