// The recursion tree: the root RLM, its turns and sub-calls, child RLMs with their own turns. Children are built
// only when a node is opened, and a turn's sub-calls come a page at a time, so 10,000 sub-calls cost nothing
// until looked at.

const PAGE = 200;

class TreeView {
  constructor(run, onSelect) {
    this.run = run;
    this.onSelect = onSelect;
    this.open = new Map();   // key -> true/false, set by the user
    this.pages = new Map();  // turn key -> pages of sub-calls shown
    this.selected = null;
    this.container = el("div", { class: "tree-root" });
  }

  isOpen(key) {
    if (this.open.has(key)) return this.open.get(key);
    const n = this.node(key);
    if (!n) return false;
    if (n.kind === "trajectory") return n.obj.depth <= 3;
    if (n.kind === "turn") return n.obj.subcalls.length <= 12;
    if (n.kind === "subcall") return !!n.obj.child;
    return false;
  }

  node(key) {
    const run = this.run;
    const kind = key[0];
    if (kind === "t") { const t = run.trajectories.get(key.slice(2)); return t && { kind: "trajectory", obj: t }; }
    if (kind === "s") { const s = run.subcalls.get(Number(key.slice(2))) || run.subcalls.get(key.slice(2)); return s && { kind: "subcall", obj: s }; }
    if (kind === "u") {
      const [id, it] = key.slice(2).split("#");
      const t = run.trajectories.get(id);
      const turn = t && t.byIteration.get(Number(it));
      return turn && { kind: "turn", obj: turn };
    }
    return null;
  }

  /// The keys from the root down to `key`'s parent.
  ancestors(key) {
    const chain = [];
    let n = this.node(key);
    while (n) {
      let parent = null;
      if (n.kind === "turn") parent = "t:" + n.obj.trajectory;
      else if (n.kind === "subcall") parent = n.obj.turnKey || ("t:" + n.obj.trajectory);
      else if (n.kind === "trajectory" && n.obj.viaSubcall != null) parent = "s:" + n.obj.viaSubcall;
      if (!parent) break;
      chain.unshift(parent);
      n = this.node(parent);
    }
    return chain;
  }

  children(key) {
    const n = this.node(key);
    if (!n) return [];
    if (n.kind === "trajectory") return n.obj.turns.map(u => u.key).concat(n.obj.loose.map(s => s.key));
    if (n.kind === "turn") return n.obj.subcalls.map(s => s.key);
    if (n.kind === "subcall" && n.obj.child) return ["t:" + n.obj.child];
    return [];
  }

  row(key) {
    const n = this.node(key);
    const run = this.run;
    if (n.kind === "trajectory") {
      const t = n.obj;
      const label = t.id === "0" ? "RLM 0 · root · " + oneLine(t.query, 80) : "child RLM " + t.id + " · " + oneLine(t.query, 80);
      const meta = t.turns.length + " turn" + (t.turns.length === 1 ? "" : "s") + " · " + fmtTokens(t.tokensIn + t.tokensOut) + " tok · " + fmtSec(Math.max(0, t.end - (t.start || 0)));
      return { label, meta, status: t.status };
    }
    if (n.kind === "turn") {
      const u = n.obj;
      const tokens = u.response && u.response.usage ? (u.response.usage.input_tokens || 0) + (u.response.usage.output_tokens || 0) : 0;
      const failed = u.codes.some(c => c.event.status);
      const parts = [fmtSec(Math.max(0, u.end - u.start)), fmtTokens(tokens) + " tok"];
      if (u.codes.length) parts.push(u.codes.length + " code");
      if (u.subcalls.length) parts.push(fmtInt(u.subcalls.length) + " sub-calls");
      const prose = u.response ? replyGist(u.response.text) : "(waiting for the model)";
      return { label: "Turn " + u.iteration + " · " + prose, meta: parts.join(" · "), status: failed ? "error" : (u.response ? "ok" : "running") };
    }
    const s = n.obj;
    const tokens = s.usage ? (s.usage.input_tokens || 0) + (s.usage.output_tokens || 0) : null;
    const what = s.child ? "rlm → " + s.child : "llm " + (s.model || "");
    const label = "#" + s.id + " " + what + (s.prompt ? " · " + oneLine(s.prompt, 50) : "");
    const meta = [s.seconds != null ? fmtSec(s.seconds) : (s.end == null ? "running" : "–"), tokens != null ? fmtTokens(tokens) + " tok" : null].filter(Boolean).join(" · ");
    return { label, meta, status: s.status, kind: s.kind };
  }

  render() {
    const top = el("ul", { class: "tree top" });
    top.append(this.item("t:0"));
    this.container.replaceChildren(top);
    return this.container;
  }

  item(key) {
    const info = this.row(key);
    const kids = this.children(key);
    const open = kids.length > 0 && this.isOpen(key);
    const li = el("li", { "data-key": key });
    const toggle = el("button", { class: "tog", text: kids.length ? (open ? "▾" : "▸") : "·", "aria-label": "expand" });
    const row = el("div", { class: "row" + (this.selected === key ? " selected" : ""), id: rowId(key) },
      toggle, info.kind === "rlm" ? badge("rlm") : null, el("span", { class: "label", text: info.label, title: info.label }),
      el("span", { class: "meta", text: info.meta }), badge(info.status));
    toggle.addEventListener("click", ev => { ev.stopPropagation(); this.toggle(key, li); });
    row.addEventListener("click", () => this.select(key));
    li.append(row);
    if (open) li.append(this.childList(key, kids));
    return li;
  }

  childList(key, kids) {
    const ul = el("ul", { class: "tree" });
    const shown = (this.pages.get(key) || 1) * PAGE;
    for (const k of kids.slice(0, shown)) ul.append(this.item(k));
    if (kids.length > shown) {
      const rest = kids.length - shown;
      ul.append(el("li", null, el("button", { class: "more", text: "show " + Math.min(PAGE, rest) + " more of " + fmtInt(rest) + " remaining sub-calls",
        onclick: () => { this.pages.set(key, (this.pages.get(key) || 1) + 1); this.refresh(); } })));
    }
    return ul;
  }

  toggle(key, li) {
    const open = !this.isOpen(key);
    this.open.set(key, open);
    const fresh = this.item(key);
    li.replaceWith(fresh);
  }

  select(key) {
    this.selected = key;
    for (const r of this.container.querySelectorAll(".row.selected")) r.classList.remove("selected");
    const row = this.rowOf(key);
    if (row) row.classList.add("selected");
    this.onSelect(key);
  }

  /// Opens every node above `key` (and the page its row is on), selects it and scrolls to it.
  reveal(key) {
    const chain = this.ancestors(key).concat([key]);
    for (let i = 0; i + 1 < chain.length; i++) {
      this.open.set(chain[i], true);
      const index = this.children(chain[i]).indexOf(chain[i + 1]);
      if (index >= PAGE) this.pages.set(chain[i], Math.max(this.pages.get(chain[i]) || 1, Math.floor(index / PAGE) + 1));
    }
    this.refresh();
    this.select(key);
    const row = this.rowOf(key);
    if (row && row.scrollIntoView) row.scrollIntoView({ block: "center" });
  }

  rowOf(key) { return this.container.querySelector('[id="' + rowId(key) + '"]'); }

  /// Draws the tree again from the model (a live run grew), keeping what is open and selected.
  refresh() {
    const pane = this.container.parentElement;
    const scroll = pane ? pane.scrollTop : 0;
    this.render();
    if (pane) pane.scrollTop = scroll;
  }
}

/// A turn's label: the reply's prose before its first code block, or a word about the code.
function replyGist(text) {
  const prose = String(text || "").replace(/<think>[\s\S]*?<\/think>/g, "").split("```")[0];
  const gist = oneLine(prose, 60);
  return gist || (String(text || "").includes("```") ? "(code)" : "(empty reply)");
}

/// A row's element id: the node's key with every character outside [A-Za-z0-9] spelled as its code.
function rowId(key) { return "node-" + key.replace(/[^A-Za-z0-9]/g, c => "_" + c.charCodeAt(0)); }
