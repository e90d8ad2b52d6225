// Two runs side by side: answers, turns, sub-calls, tokens, cost and wall time (base against RLM, two models…).

function compareView(runs) {
  const [a, b] = runs;
  const root = el("div", { class: "compare-view" });
  const figures = run => {
    const totals = run.totals();
    return {
      status: run.status, wall: run.wallSeconds, turns: run.turnCount, subcalls: run.subcallCount,
      peak: run.inFlight().peak, input: totals.input, output: totals.output, tokens: totals.input + totals.output, cost: totals.cost,
      models: [run.header && run.header.root_model, run.header && run.header.sub_model].filter(Boolean).join(" / "),
    };
  };
  const fa = figures(a), fb = figures(b);
  const table = el("table", { class: "compare-table" },
    el("tr", null, el("th", { text: "" }), el("th", { text: "A · " + a.name }), el("th", { text: "B · " + b.name }), el("th", { class: "num", text: "B / A" })));
  const rows = [
    ["status", "status", v => v, false], ["models (root / sub)", "models", v => v, false],
    ["wall time", "wall", fmtSec, true], ["turns", "turns", fmtInt, true], ["sub-calls", "subcalls", fmtInt, true],
    ["peak in flight", "peak", fmtInt, false], ["input tokens", "input", fmtInt, true], ["output tokens", "output", fmtInt, true],
    ["tokens", "tokens", fmtInt, true], ["cost", "cost", fmtCost, true],
  ];
  for (const [label, key, fmt, lowerIsBetter] of rows) {
    const va = fa[key], vb = fb[key];
    const numeric = typeof va === "number" && typeof vb === "number";
    const cell = (v, other) => el("td", { class: (numeric ? "num" : "") + (numeric && lowerIsBetter && v < other ? " better" : ""), text: fmt(v) });
    const ratio = numeric && va > 0 ? (vb / va).toFixed(2) + "×" : "";
    table.append(el("tr", null, el("th", { text: label }), cell(va, vb), cell(vb, va), el("td", { class: "num", text: ratio })));
  }
  root.append(el("div", { class: "card" }, el("h2", { text: "Comparison" }), table));
  const side = run => {
    const width = Math.max(300, Math.floor(((document.getElementById("app").clientWidth || 1100) - 80) / 2));
    return el("div", { class: "card" }, el("h2", { text: run.name }),
      el("div", { class: "question", text: (run.header && run.header.query) || run.root.query || "" }),
      el("p", null, badge(run.status)),
      el("div", { class: "answer" + (run.status === "answered" ? "" : " partial"), "data-role": "answer", text: run.root.answer != null ? run.root.answer : (run.finished && run.finished.text) || "" }),
      el("p", { class: "muted", text: "sub-calls in flight over time" }), inFlightCanvas(run, width, 120).canvas);
  };
  root.append(el("div", { class: "compare" }, side(a), side(b)));
  return root;
}
