// What a selected node holds: the reply, the code and its output, a sub-call's answer, and the raw events.

function eventList(run, indices) {
  const box = section("Events (" + indices.length + ")", false);
  const shown = indices.slice(0, 100);
  for (const i of shown) {
    const e = run.events[i];
    box.append(section("#" + i + " · " + e.event + " · " + fmtSec(e.time), false, el("pre", { id: "ev-" + i, text: JSON.stringify(e, null, 2) })));
  }
  if (indices.length > shown.length) box.append(el("p", { class: "muted", text: (indices.length - shown.length) + " more events not listed" }));
  return box;
}

function turnDetail(run, u) {
  const card = el("div", { class: "card" }, el("h2", { text: "Turn " + u.iteration + " of RLM " + u.trajectory }));
  const r = u.response;
  if (r) {
    const usage = r.usage ? fmtInt(r.usage.input_tokens) + " in / " + fmtInt(r.usage.output_tokens) + " out" : "no usage";
    card.append(el("p", { class: "muted", text: (r.model || "") + " · " + fmtSec(r.seconds) + " · " + usage + (r.finish_reason ? " · finish: " + r.finish_reason : "") }));
    card.append(section("Model reply", true, foldedPre(r.text)));
  } else {
    card.append(el("p", { class: "muted", text: "The model has not replied yet." }));
  }
  if (u.compacted) card.append(el("p", { class: "muted", text: "Older turns were summarised before this one to stay inside the window." }));
  u.codes.forEach((c, i) => {
    const e = c.event;
    const title = "Code block " + (i + 1) + " · " + fmtSec(e.seconds) + (e.status ? " · " + e.status : "");
    const parts = [el("div", { class: "muted", text: "code" }), foldedPre(e.code, "code"), el("div", { class: "muted", text: "stdout" + (e.details && e.details.stdout_chars > (e.stdout || "").length ? " (" + fmtInt(e.details.stdout_chars) + " characters printed; the start is kept)" : "") }), foldedPre(e.stdout)];
    if (e.stderr) parts.push(el("div", { class: "muted", text: "stderr" }), foldedPre(e.stderr, "err"));
    if (e.error) parts.push(el("p", { class: "muted", text: e.error }));
    card.append(section(title, true, ...parts));
  });
  if (u.restarted) card.append(el("p", { class: "muted", text: "The interpreter died during this turn and was restarted." }));
  if (u.subcalls.length) card.append(el("p", { class: "muted", text: fmtInt(u.subcalls.length) + " sub-calls in this turn (open the turn in the tree)." }));
  card.append(eventList(run, u.events));
  return card;
}

function subcallDetail(run, s) {
  const card = el("div", { class: "card" }, el("h2", { text: "Sub-call #" + s.id + (s.child ? " · child RLM " + s.child : "") }));
  const usage = s.usage ? fmtInt(s.usage.input_tokens) + " in / " + fmtInt(s.usage.output_tokens) + " out"
    : s.savedUsage ? "from the sub-call cache" + (s.cacheSource ? " (" + s.cacheSource.replace("_", " ") + ")" : "") + ", saved " + fmtInt(s.savedUsage.input_tokens) + " in / " + fmtInt(s.savedUsage.output_tokens) + " out"
    : "no usage";
  card.append(el("p", { class: "muted", text: [s.kind, s.model, s.status, s.seconds != null ? fmtSec(s.seconds) : null, usage, s.promptChars != null ? fmtInt(s.promptChars) + " prompt chars" : null].filter(Boolean).join(" · ") }));
  if (s.prompt) card.append(section("Prompt (start)", true, foldedPre(s.prompt)));
  if (s.error) card.append(section("Error", true, foldedPre(s.error, "err")));
  if (s.text != null) card.append(section("Answer", true, foldedPre(s.text)));
  card.append(eventList(run, s.events));
  return card;
}

function trajectoryDetail(run, t) {
  const card = el("div", { class: "card" }, el("h2", { text: t.id === "0" ? "Root RLM" : "Child RLM " + t.id }));
  card.append(section("Question", true, el("div", { class: "question", text: t.query || "(not logged)" })));
  if (t.context && t.context.details) {
    const d = t.context.details;
    card.append(el("p", { class: "muted", text: "context: " + (d.type || "?") + ", " + fmtInt(d.chars) + " characters, loaded in " + fmtSec(t.context.seconds) + (d.depth ? " · depth " + d.depth : "") }));
  }
  card.append(el("p", null, badge(t.status), " ", fmtInt(t.turns.length) + " turns · " + fmtTokens(t.tokensIn) + " in / " + fmtTokens(t.tokensOut) + " out tokens"));
  if (t.answer != null) card.append(section("Answer" + (t.answerSource ? " (" + t.answerSource + ")" : ""), true, foldedPre(t.answer)));
  card.append(eventList(run, t.events));
  return card;
}

function nodeDetail(run, tree, key) {
  const n = tree.node(key);
  if (!n) return el("div", { class: "card muted", text: "Select a node of the tree." });
  if (n.kind === "turn") return turnDetail(run, n.obj);
  if (n.kind === "subcall") return subcallDetail(run, n.obj);
  return trajectoryDetail(run, n.obj);
}

/// The run at a glance: question, answer or what stopped it, models, sandbox, wall time, tokens and cost per model.
function summaryCard(run) {
  const h = run.header || {};
  const f = run.finished;
  const totals = run.totals();
  const card = el("div", { class: "card summary" });
  card.append(el("h2", { text: run.name }));
  card.append(el("div", { class: "question", text: h.query || run.root.query || "" }));
  const status = run.status;
  let answerText = run.root.answer;
  let cls = "answer";
  if (!f) { cls += " partial"; answerText = answerText != null ? answerText : "The run is still going (or was stopped before it logged its end)."; }
  else if (status !== "answered") {
    cls += status === "failed" ? " failed" : " partial";
    const reason = f.error ? "Stopped by " + f.error : "Stopped";
    const failure = f.details && f.details.failure ? " (" + f.details.failure + ")" : "";
    answerText = reason + failure + ". Best partial answer:\n" + (f.text || "(none)");
  }
  card.append(el("p", null, badge(status), " ", el("span", { class: "muted", text: "answer" + (run.root.answerSource ? " from " + run.root.answerSource : "") })));
  card.append(el("div", { class: cls, "data-role": "answer", text: answerText == null ? "" : answerText }));
  const sandbox = run.sandbox ? run.sandbox.status + (run.sandbox.text ? " (" + run.sandbox.text + ")" : "") : "–";
  const models = h.root_model ? (h.sub_model && h.sub_model !== h.root_model ? h.root_model + " / " + h.sub_model : h.root_model) : "–";
  const stats = [
    ["models (root / sub)", models], ["sandbox", run.sandbox ? run.sandbox.status : "–"],
    ["wall time", fmtSec(run.wallSeconds)], ["turns (whole tree)", fmtInt(run.turnCount)], ["sub-calls", fmtInt(run.subcallCount)],
    ["peak in flight", fmtInt(run.inFlight().peak)], ["RLMs", fmtInt(run.trajectories.size)],
    ["tokens in / out", fmtTokens(totals.input) + " / " + fmtTokens(totals.output)], ["input read from cache", fmtTokens(totals.cached)],
    ["cost", fmtCost(totals.cost)],
  ];
  const cache = run.subcallCache();
  if (cache) stats.push(["sub-call cache hits / misses", fmtInt(cache.hits) + " / " + fmtInt(cache.misses)], ["tokens saved by the cache", fmtTokens(cache.saved)]);
  card.append(el("div", { class: "grid" }, ...stats.map(([k, v]) => el("div", { class: "stat" }, el("b", { text: v }), el("span", { text: k })))));
  const usageTable = el("table", null, el("tr", null, el("th", { text: "model" }), el("th", { class: "num", text: "calls" }), el("th", { class: "num", text: "input tokens" }), el("th", { class: "num", text: "cache reads" }), el("th", { class: "num", text: "cache writes" }), el("th", { class: "num", text: "output tokens" }), el("th", { class: "num", text: "cost" })));
  for (const r of run.modelRows()) usageTable.append(el("tr", null, el("td", { text: r.model }), el("td", { class: "num", text: fmtInt(r.calls) }), el("td", { class: "num", text: fmtInt(r.input) }), el("td", { class: "num", text: fmtInt(r.read || 0) }), el("td", { class: "num", text: fmtInt(r.write || 0) }), el("td", { class: "num", text: fmtInt(r.output) }), el("td", { class: "num", text: fmtCost(r.cost) })));
  card.append(section("Tokens and cost per model", true, usageTable));
  const named = (model, endpoint) => (model || "–") + (endpoint ? " @ " + endpoint : "");
  const setup = [["root model", named(h.root_model, h.root_endpoint)], ["sub model", named(h.sub_model, h.sub_endpoint)],
    ["sandbox", sandbox], ["limits", ["max_iterations", "max_depth", "max_concurrency", "max_subcalls", "max_tokens", "max_cost_usd", "timeout_seconds"].filter(k => h[k] != null).map(k => k + "=" + h[k]).join(", ")],
    ["started", h.started_at || "–"], ["rlm", (h.rlmkit_version || "?") + " · log schema " + (h.schema_version != null ? h.schema_version : "0 (unversioned)")]];
  const table = el("table");
  for (const [k, v] of setup) table.append(el("tr", null, el("th", { text: k }), el("td", { text: v })));
  card.append(section("Models, sandbox and limits", false, table));
  for (const note of run.notes) card.append(el("p", { class: "muted", text: "Note: " + note }));
  return card;
}
