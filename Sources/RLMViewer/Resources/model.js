"use strict";
// The run model: events of one trajectory log folded into RLMs (trajectories), turns and sub-calls.
// Events are added one at a time, so a live log grows the same model a finished log builds at once.

class RunModel {
  constructor(name) {
    this.name = name;
    this.header = null;
    this.events = [];
    this.trajectories = new Map();
    this.subcalls = new Map();
    this.finished = null;
    this.sandbox = null;
    this.windows = null;
    this.rootModel = null;
    this.lastTime = 0;
    this.notes = [];
    this.owner = [];          // event index -> key of the tree node it belongs to
    this.usage = new Map();   // model -> {calls, input, output}
    this.flightMarks = [];    // [time, +1 | -1] for sub-calls in flight
    this.version = 0;         // bumped on every change, for redrawing
  }

  trajectory(id) {
    let t = this.trajectories.get(id);
    if (!t) {
      t = { key: "t:" + id, id, parent: null, viaSubcall: null, depth: id.split(".").length, query: "",
            turns: [], byIteration: new Map(), loose: [], answer: null, answerSource: null,
            start: null, end: 0, status: "running", context: null, events: [], tokensIn: 0, tokensOut: 0 };
      this.trajectories.set(id, t);
    }
    return t;
  }

  turn(t, iteration, time) {
    let turn = t.byIteration.get(iteration);
    if (!turn) {
      turn = { key: "u:" + t.id + "#" + iteration, trajectory: t.id, iteration, start: time, end: time,
               response: null, codes: [], subcalls: [], events: [], compacted: false, restarted: false };
      t.byIteration.set(iteration, turn);
      t.turns.push(turn);
    }
    return turn;
  }

  subcall(id) {
    let s = this.subcalls.get(id);
    if (!s) {
      s = { key: "s:" + id, id, trajectory: null, turnKey: null, start: null, end: null, seconds: null,
            model: null, kind: "llm", child: null, prompt: "", promptChars: null, usage: null, text: null,
            error: null, status: "running", events: [] };
      this.subcalls.set(id, s);
    }
    return s;
  }

  addUsage(model, usage) {
    if (!model || !usage) return;
    const u = this.usage.get(model) || { calls: 0, input: 0, output: 0, read: 0, write: 0, write1h: 0 };
    u.calls += 1;
    u.input += usage.input_tokens || 0;
    u.output += usage.output_tokens || 0;
    u.read += usage.cache_read_tokens || 0;
    u.write += usage.cache_write_tokens || 0;
    u.write1h += usage.cache_write_1h_tokens || 0;
    this.usage.set(model, u);
  }

  add(e) {
    const index = this.events.length;
    this.events.push(e);
    this.version += 1;
    if (!e || typeof e !== "object") { this.owner.push(null); return; }
    if (e.event === "header") { this.header = e; this.owner.push("summary"); return; }
    if (typeof e.time === "number") this.lastTime = Math.max(this.lastTime, e.time);
    const t = this.trajectory(e.trajectory || "0");
    if (t.start === null) t.start = e.time || 0;
    t.end = Math.max(t.end, e.time || 0);
    let owner = t.key;
    const current = () => t.turns[t.turns.length - 1] || null;
    switch (e.event) {
      case "run_started": t.query = e.text || ""; this.rootModel = e.model || null; break;
      case "context_loaded": t.context = e; break;
      case "sandbox": this.sandbox = e; break;
      case "model_windows": this.windows = e; break;
      case "iteration_started":
      case "model_response":
      case "history_compacted":
      case "code_executed":
      case "interpreter_restarted": {
        const turn = e.iteration != null ? this.turn(t, e.iteration, e.time) : current();
        if (!turn) break;
        owner = turn.key;
        turn.events.push(index);
        turn.end = Math.max(turn.end, e.time || 0);
        if (e.event === "model_response") {
          turn.response = e;
          this.addUsage(e.model, e.usage);
          if (e.usage) { t.tokensIn += e.usage.input_tokens || 0; t.tokensOut += e.usage.output_tokens || 0; }
        } else if (e.event === "code_executed") {
          turn.codes.push({ event: e, index });
        } else if (e.event === "history_compacted") {
          turn.compacted = true;
        } else if (e.event === "interpreter_restarted") {
          turn.restarted = true;
        }
        break;
      }
      case "subcall_started":
      case "subcall_finished": {
        const s = this.subcall(e.subcall_id != null ? e.subcall_id : "?" + index);
        owner = s.key;
        s.events.push(index);
        if (e.model) s.model = e.model;
        if (s.trajectory === null) {
          // A refused sub-call has only its finished event.
          s.trajectory = t.id;
          s.start = e.time || 0;
          const turn = current();
          if (turn) { s.turnKey = turn.key; turn.subcalls.push(s); } else { t.loose.push(s); }
        }
        if (e.event === "subcall_started") {
          s.promptChars = e.prompt_chars != null ? e.prompt_chars : null;
          s.prompt = e.text || "";
          if (e.status === "rlm") s.kind = "rlm";
          if (e.child_trajectory) {
            s.child = e.child_trajectory;
            const child = this.trajectory(s.child);
            child.parent = t.id;
            child.viaSubcall = s.id;
            if (!child.query) child.query = e.text || "";
          }
          this.flightMarks.push([s.start, 1]);
          s.started = true;
        } else {
          s.end = e.time || 0;
          s.seconds = e.seconds != null ? e.seconds : null;
          s.usage = e.usage || null;
          s.text = e.text != null ? e.text : null;
          s.error = e.error || null;
          if (e.child_trajectory) s.child = e.child_trajectory;
          s.cache = (e.details && e.details.cache) || null;
          s.cacheSource = (e.details && e.details.cache_source) || null;
          s.savedUsage = (e.details && e.details.saved_usage) || null;
          s.status = e.error ? (s.started ? "failed" : "refused") : (e.status || (s.cache === "hit" ? "cached" : "ok"));
          if (s.usage) { this.addUsage(s.model, s.usage); t.tokensIn += s.usage.input_tokens || 0; t.tokensOut += s.usage.output_tokens || 0; }
          if (s.started) this.flightMarks.push([s.end, -1]);
          if (s.child) {
            const child = this.trajectory(s.child);
            if (child.status === "running") child.status = e.error ? "failed" : (e.status || "answered");
            if (child.answer === null && !e.error) child.answer = e.text;
          }
        }
        break;
      }
      case "final_answer":
        t.answer = e.text != null ? e.text : "";
        t.answerSource = e.source || null;
        t.status = "answered";
        { const turn = current(); if (turn) { owner = turn.key; turn.events.push(index); } }
        break;
      case "run_finished":
        this.finished = e;
        owner = "summary";
        t.status = e.status || "finished";
        if (e.text != null && (t.answer === null || e.status !== "answered")) t.answer = e.text;
        break;
      default: break;
    }
    if (owner === t.key) t.events.push(index);
    this.owner.push(owner);
  }

  get root() { return this.trajectory("0"); }
  get wallSeconds() { return this.finished && this.finished.seconds != null ? this.finished.seconds : this.lastTime; }
  get status() { return this.finished ? (this.finished.status || "finished") : "running"; }
  get subcallCount() { return this.subcalls.size; }

  /// Turns of the whole tree (every RLM's), as the number a user compares.
  get turnCount() { let n = 0; for (const t of this.trajectories.values()) n += t.turns.length; return n; }

  price(model) {
    const prices = this.header && this.header.prices;
    return prices && model ? prices[model] || null : null;
  }

  /// Calls, tokens and cost per model: the final figures when the run finished, else summed from the events.
  modelRows() {
    const final = this.finished && this.finished.details && this.finished.details.usage_by_model;
    const rows = [];
    if (final) {
      for (const [model, u] of Object.entries(final)) {
        const row = { model, calls: u.calls || 0, input: u.input_tokens || 0, output: u.output_tokens || 0,
                      read: u.cache_read_tokens || 0, write: u.cache_write_tokens || 0, write1h: u.cache_write_1h_tokens || 0 };
        row.cost = u.cost_usd != null ? u.cost_usd : this.costOf(model, row);
        rows.push(row);
      }
    } else {
      for (const [model, u] of this.usage) rows.push({ model, calls: u.calls, input: u.input, output: u.output, read: u.read,
                                                       write: u.write, write1h: u.write1h, cost: this.costOf(model, u) });
    }
    rows.sort((a, b) => (b.input + b.output) - (a.input + a.output));
    return rows;
  }

  /// USD for tokens { input, output, read, write, write1h } at the model's price in the header: cached input
  /// (read from or written to the provider's prompt cache) at its own price, else at the input price.
  costOf(model, t) {
    const p = this.price(model);
    if (!p) return null;
    const inputPrice = p.input_per_million || 0;
    const read = t.read || 0, write = t.write || 0, write1h = Math.min(t.write1h || 0, write);
    const plain = Math.max(0, (t.input || 0) - read - write);
    const input = plain * inputPrice + read * (p.cached_input_per_million ?? inputPrice)
      + (write - write1h) * (p.cache_write_per_million ?? inputPrice) + write1h * (p.cache_write_1h_per_million ?? 2 * inputPrice);
    return (input + (t.output || 0) * (p.output_per_million || 0)) / 1e6;
  }

  totals() {
    const rows = this.modelRows();
    let input = 0, output = 0, cached = 0, cost = 0, priced = rows.length > 0;
    for (const r of rows) { input += r.input; output += r.output; cached += r.read || 0; if (r.cost == null) priced = false; else cost += r.cost; }
    const finalCost = this.finished && this.finished.details && this.finished.details.cost_usd;
    return { input, output, cached, cost: finalCost != null ? finalCost : (priced ? cost : null) };
  }

  /// What the sub-call cache did: the run's own tally once it finished, else counted from the sub-calls so far;
  /// null when no sub-call went through the cache.
  subcallCache() {
    const final = this.finished && this.finished.details && this.finished.details.subcall_cache;
    if (final) return { hits: final.hits || 0, misses: final.misses || 0, saved: final.tokens_saved || 0 };
    let hits = 0, misses = 0, saved = 0;
    for (const s of this.subcalls.values()) {
      if (s.cache === "hit") { hits += 1; if (s.savedUsage) saved += (s.savedUsage.input_tokens || 0) + (s.savedUsage.output_tokens || 0); }
      else if (s.cache === "miss") misses += 1;
    }
    return hits + misses > 0 ? { hits, misses, saved } : null;
  }

  /// Sub-calls in flight over time: [[time, count], …] at every change, and the peak.
  inFlight() {
    const marks = this.flightMarks.slice().sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    const points = [[0, 0]];
    let n = 0, peak = 0;
    for (const [time, delta] of marks) { n += delta; peak = Math.max(peak, n); points.push([time, n]); }
    return { points, peak };
  }

  /// The tree node an event belongs to.
  ownerOf(index) { return this.owner[index]; }
}
