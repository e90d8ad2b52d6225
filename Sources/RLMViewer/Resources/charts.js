// The timeline: every sub-call as a bar (a Gantt view, packed into lanes), and the number in flight over time,
// so a wide fan-out and a serial one look different at a glance. Drawn on canvas: 10,000 bars are one pass.

const COLORS = { llm: "#2f6fde", rlm: "#7b4bd1", failed: "#c93a3a", refused: "#9aa1ad", running: "#e0a43a" };

function makeCanvas(width, height) {
  const ratio = window.devicePixelRatio || 1;
  const canvas = el("canvas", { width: Math.round(width * ratio), height: Math.round(height * ratio) });
  canvas.style.height = height + "px";
  const ctx = canvas.getContext("2d");
  ctx.scale(ratio, ratio);
  return { canvas, ctx };
}

function timeAxis(ctx, x0, width, y, span) {
  ctx.fillStyle = "#687083";
  ctx.font = "11px system-ui, sans-serif";
  const steps = Math.max(2, Math.min(8, Math.floor(width / 110)));
  for (let i = 0; i <= steps; i++) {
    const x = x0 + (width * i) / steps;
    ctx.fillRect(x, y, 1, 4);
    ctx.textAlign = i === 0 ? "left" : i === steps ? "right" : "center";
    ctx.fillText(fmtSec((span * i) / steps), x, y + 15);
  }
  ctx.textAlign = "left";
}

/// Packs sub-calls into lanes: each goes into the first lane free at its start.
function packLanes(subcalls, now) {
  const sorted = subcalls.slice().sort((a, b) => a.start - b.start);
  const laneEnds = [];
  const placed = [];
  for (const s of sorted) {
    const end = s.end != null ? s.end : now;
    let lane = laneEnds.findIndex(e => e <= s.start);
    if (lane < 0) { lane = laneEnds.length; laneEnds.push(end); } else laneEnds[lane] = end;
    placed.push({ s, lane, end });
  }
  return { placed, lanes: laneEnds.length };
}

function ganttCard(run, onPick) {
  const card = el("div", { class: "card" }, el("h2", { text: "Sub-calls over time (Gantt)" }));
  const now = Math.max(run.wallSeconds, 0.001);
  const subcalls = [...run.subcalls.values()].filter(s => s.start != null);
  const { placed, lanes } = packLanes(subcalls, now);
  const width = Math.max(600, (document.getElementById("app").clientWidth || 1100) - 64);
  const left = 8, plotWidth = width - 16;
  // At most 420 px of lanes: past 30 lanes a bar gets thinner, past 420 several lanes share a pixel row.
  const plotHeight = Math.min(420, Math.max(14, lanes * 14));
  const bar = plotHeight / Math.max(1, lanes);
  const height = 26 + plotHeight + 22;
  const { canvas, ctx } = makeCanvas(width, height);
  const xOf = t => left + (plotWidth * t) / now;
  // Root turns as bands behind the bars.
  run.root.turns.forEach((u, i) => {
    const end = i + 1 < run.root.turns.length ? run.root.turns[i + 1].start : now;
    ctx.fillStyle = i % 2 ? "#f3f5f9" : "#fafbfc";
    ctx.fillRect(xOf(u.start), 0, Math.max(1, xOf(end) - xOf(u.start)), height - 22);
    ctx.fillStyle = "#687083";
    ctx.font = "11px system-ui, sans-serif";
    if (xOf(end) - xOf(u.start) > 24) ctx.fillText("turn " + u.iteration, xOf(u.start) + 3, 12);
  });
  for (const p of placed) {
    const s = p.s;
    ctx.fillStyle = s.status === "failed" ? COLORS.failed : s.status === "refused" ? COLORS.refused : s.end == null ? COLORS.running : COLORS[s.kind];
    ctx.fillRect(xOf(s.start), 20 + p.lane * bar, Math.max(1, xOf(p.end) - xOf(s.start)), Math.max(0.5, bar - (bar > 3 ? 1 : 0)));
  }
  timeAxis(ctx, left, plotWidth, height - 22, now);
  const hover = el("div", { id: "hover", text: lanes ? "Hover a bar for its sub-call; click to open it in the tree." : "No sub-calls in this run." });
  const find = ev => {
    const rect = canvas.getBoundingClientRect();
    const x = ev.clientX - rect.left, y = ev.clientY - rect.top;
    const lane = Math.floor((y - 20) / bar);
    const t = ((x - left) / plotWidth) * now;
    const slack = (4 / plotWidth) * now;
    return placed.find(p => p.lane === lane && p.s.start - slack <= t && p.end + slack >= t) || null;
  };
  canvas.addEventListener("mousemove", ev => {
    const p = find(ev);
    hover.textContent = p ? "#" + p.s.id + " " + (p.s.child ? "child RLM " + p.s.child : p.s.model || "") + " · " + fmtSec(p.s.start) + " → " + fmtSec(p.end) + " · " + p.s.status : " ";
  });
  canvas.addEventListener("click", ev => { const p = find(ev); if (p) onPick(p.s.key); });
  card.append(canvas, hover, el("div", { class: "legend" },
    ...[["llm sub-call", COLORS.llm], ["child RLM", COLORS.rlm], ["failed", COLORS.failed], ["refused", COLORS.refused], ["in flight", COLORS.running]]
      .map(([label, color]) => { const i = el("i"); i.style.background = color; return el("span", null, i, label); })));
  card.append(el("p", { class: "muted", text: fmtInt(subcalls.length) + " sub-calls in " + fmtInt(lanes) + " lanes over " + fmtSec(now) + "." }));
  return card;
}

function inFlightCanvas(run, width, height) {
  const { points, peak } = run.inFlight();
  const now = Math.max(run.wallSeconds, 0.001);
  const { canvas, ctx } = makeCanvas(width, height);
  const left = 34, plotWidth = width - left - 8, plotHeight = height - 26;
  const yOf = n => 6 + plotHeight - (plotHeight * n) / Math.max(1, peak);
  const xOf = t => left + (plotWidth * t) / now;
  ctx.strokeStyle = "#e3e6ec";
  ctx.beginPath(); ctx.moveTo(left, yOf(peak)); ctx.lineTo(left + plotWidth, yOf(peak)); ctx.stroke();
  ctx.fillStyle = "#687083";
  ctx.font = "11px system-ui, sans-serif";
  ctx.fillText(String(peak), 4, yOf(peak) + 4);
  ctx.fillText("0", 4, yOf(0) + 4);
  ctx.fillStyle = "rgba(47,111,222,0.18)";
  ctx.strokeStyle = COLORS.llm;
  ctx.beginPath();
  ctx.moveTo(xOf(0), yOf(0));
  let last = 0;
  for (const [t, n] of points) { ctx.lineTo(xOf(t), yOf(last)); ctx.lineTo(xOf(t), yOf(n)); last = n; }
  ctx.lineTo(xOf(now), yOf(last));
  ctx.lineTo(xOf(now), yOf(0));
  ctx.closePath();
  ctx.fill();
  ctx.stroke();
  timeAxis(ctx, left, plotWidth, height - 20, now);
  return { canvas, peak };
}

function inFlightCard(run) {
  const width = Math.max(600, (document.getElementById("app").clientWidth || 1100) - 64);
  const { canvas, peak } = inFlightCanvas(run, width, 160);
  const limit = run.header && run.header.max_concurrency;
  return el("div", { class: "card" }, el("h2", { text: "Sub-calls in flight" }), canvas,
    el("p", { class: "muted", text: "Peak " + fmtInt(peak) + (limit ? " of a limit of " + limit : "") + " in flight at once; " + fmtInt(run.subcallCount) + " sub-calls in all." }));
}
