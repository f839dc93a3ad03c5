// The "Run it on this device" page: checks what the browser can do, verifies the
// model's sha256, runs webbench-worker.js, and shows the result with the same
// statistics as the runners (edgetiming-stats.js), next to the runners' numbers.
// A run that was cancelled, failed or had its tab hidden shows no result.
// Nothing leaves the browser unless the reader downloads the case study.
import * as st from "./edgetiming-stats.js";

const root = document.getElementById("et-webbench");
const here = (path) => new URL(path, import.meta.url).href;
const $ = (sel) => root.querySelector(sel);
const state = { status: "idle", result: null, error: null, manifest: null, env: null };
window.edgetimingWebbench = state; // read by the browser test

function setStatus(status, text, kind = "") {
  state.status = status;
  root.dataset.state = status;
  const box = $(".et-wb-status");
  box.textContent = text;
  box.className = `et-wb-status ${kind ? "et-wb-" + kind : ""}`;
}

function fail(kind, message) {
  state.error = { kind, message };
  state.result = null;
  $(".et-wb-result").hidden = true;
  setStatus(kind === "invalid" ? "invalid" : "error", message, "bad");
  $(".et-wb-run").disabled = false;
  $(".et-wb-cancel").disabled = true;
}

const ms = (x) => (Number.isFinite(x) ? (Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 10 ? x.toFixed(1) : x.toFixed(3)) : "unbounded");
const el = (tag, attrs = {}, text = "") => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text) e.textContent = text;
  return e;
};

// A minimal WebAssembly module using a SIMD (v128) instruction: validates only where SIMD is supported.
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0,
  65, 0, 253, 15, 253, 98, 11]);

function environment() {
  const wasm = typeof WebAssembly === "object" && typeof WebAssembly.validate === "function";
  let simd = false;
  try { simd = wasm && WebAssembly.validate(SIMD_PROBE); } catch (e) { simd = false; }
  const sab = typeof SharedArrayBuffer === "function";
  const isolated = self.crossOriginIsolated === true;
  const cores = navigator.hardwareConcurrency || 1;
  return {
    userAgent: navigator.userAgent, platform: navigator.platform || "", hardwareConcurrency: cores,
    deviceMemoryGiB: navigator.deviceMemory || null, webassembly: wasm, simd, sharedArrayBuffer: sab,
    crossOriginIsolated: isolated, webgpu: "gpu" in navigator ? "API present" : "not available", secureContext: self.isSecureContext === true,
    threads: wasm && sab && isolated ? Math.max(1, Math.min(4, cores)) : 1,
  };
}

function showEnvironment(env) {
  const rows = [
    ["WebAssembly", env.webassembly ? "yes" : "no"],
    ["WebAssembly SIMD", env.simd ? "yes" : "no"],
    ["SharedArrayBuffer", env.sharedArrayBuffer ? "yes" : "no"],
    ["Cross-origin isolated", env.crossOriginIsolated ? "yes" : "no"],
    ["Threads used", `${env.threads} of ${env.hardwareConcurrency} logical cores`],
    ["WebGPU in this browser", `${env.webgpu} (not used: this page runs the WebAssembly backend)`],
    ["User agent", env.userAgent],
  ];
  const table = $(".et-wb-env");
  table.replaceChildren(...rows.map(([k, v]) => { const tr = el("tr"); tr.append(el("th", {}, k), el("td", {}, v)); return tr; }));
  const notes = [];
  if (!env.sharedArrayBuffer || !env.crossOriginIsolated) {
    notes.push("This page is not cross-origin isolated (the host does not send the Cross-Origin-Opener-Policy and " +
      "Cross-Origin-Embedder-Policy headers), so SharedArrayBuffer is unavailable: onnxruntime-web runs on one thread, " +
      "and performance.now() is coarsened more. Compare with the runners' 1-thread setting.");
  }
  $(".et-wb-env-notes").textContent = notes.join(" ");
}

async function sha256Hex(buffer) {
  const digest = await crypto.subtle.digest("SHA-256", buffer);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

function params() {
  const q = new URLSearchParams(location.search);
  const num = (sel, key) => { const v = q.get(key); if (v !== null) $(sel).value = v; return Number($(sel).value); };
  return {
    modelKey: q.get("model") || $(".et-wb-model").value,
    deadlineMs: num(".et-wb-deadline", "deadline_ms"),
    percentile: num(".et-wb-percentile", "percentile"),
    iterations: num(".et-wb-iterations", "iterations"),
    warmupIters: num(".et-wb-warmup", "warmup_iters"),
    rateHz: num(".et-wb-rate", "rate_hz"),
    frames: num(".et-wb-frames", "frames"),
  };
}

async function start() {
  const env = state.env;
  const p = params();
  const model = state.manifest.models.find((m) => m.key === p.modelKey);
  if (!model) return fail("input", `unknown model ${p.modelKey}: choose one in the list`);
  for (const [name, v, min] of [["iterations", p.iterations, 1], ["warmup", p.warmupIters, 0], ["frames", p.frames, 1],
    ["deadline", p.deadlineMs, 1e-9], ["rate", p.rateHz, 1e-9]]) {
    if (!(Number.isFinite(v) && v >= min)) return fail("input", `${name} must be a number >= ${min}, got ${v}`);
  }
  if (!env.webassembly) return fail("wasm", "This browser has no WebAssembly: onnxruntime-web cannot run here. Enable WebAssembly or use a current browser.");
  if (!env.simd) return fail("wasm", "This browser's WebAssembly has no SIMD, which the onnxruntime-web build served here needs. Update the browser.");
  if (!crypto.subtle) return fail("hash", "crypto.subtle is unavailable (the page is not in a secure context: https or localhost), so the model's sha256 cannot be checked; open the page over https.");
  state.result = null;
  state.error = null;
  $(".et-wb-result").hidden = true;
  $(".et-wb-run").disabled = true;
  $(".et-wb-cancel").disabled = false;
  setStatus("running", `downloading ${model.file} (${(model.bytes / 1e6).toFixed(1)} MB)`);
  let bytes;
  try {
    const resp = await fetch(here(`../webbench/${model.file}`));
    if (!resp.ok) return fail("download", `${model.file}: HTTP ${resp.status}; the site build copies it into webbench/models/`);
    bytes = await resp.arrayBuffer();
  } catch (err) {
    return fail("download", `${model.file}: ${err.message}`);
  }
  const got = await sha256Hex(bytes);
  if (got !== model.sha256) {
    return fail("hash", `${model.file}: sha256 ${got} does not match the manifest's ${model.sha256}; the file was altered or truncated in transit. Nothing was run. Reload the page; if it persists, the site build is broken.`);
  }
  const worker = new Worker(here("webbench-worker.js"), { type: "module" });
  state.worker = worker;
  const hiddenAtStart = document.hidden;
  const onHidden = () => {
    if (document.hidden && state.status === "running") {
      worker.terminate();
      fail("invalid", "The tab was hidden during the run. Browsers throttle timers and work in background tabs, so the samples no longer measure the device: this run is invalid and not shown. Keep the tab visible and run again.");
    }
  };
  document.addEventListener("visibilitychange", onHidden);
  const finish = () => { document.removeEventListener("visibilitychange", onHidden); $(".et-wb-cancel").disabled = true; state.worker = null; };
  if (hiddenAtStart) { finish(); worker.terminate(); return fail("invalid", "The tab is hidden: run with the tab visible."); }
  worker.onerror = (e) => { finish(); worker.terminate(); fail("runtime", `the worker failed to start: ${e.message || "see the browser console"}`); };
  worker.onmessage = (event) => {
    const msg = event.data;
    if (state.status !== "running") return;
    if (msg.type === "progress") {
      const bar = $(".et-wb-progress");
      bar.max = msg.total; bar.value = msg.done;
      setStatus("running", `${msg.phase}: ${msg.done} of ${msg.total}`);
    } else if (msg.type === "cancelled") {
      finish(); worker.terminate(); fail("cancelled", "Cancelled: no result is shown for a partial run.");
    } else if (msg.type === "error") {
      finish(); worker.terminate();
      if (msg.kind === "memory") fail("memory", `The browser ran out of memory for this model (${msg.message}). Close other tabs or choose the smaller model.`);
      else fail("runtime", `onnxruntime-web failed: ${msg.message}`);
    } else if (msg.type === "done") {
      finish(); worker.terminate();
      if (document.hidden) return fail("invalid", "The tab was hidden during the run: this run is invalid.");
      try { show(model, p, env, msg); } catch (err) { fail("runtime", `could not summarize the run: ${err.message}`); }
    }
  };
  worker.postMessage({ type: "run", config: { modelBytes: bytes, inputShape: model.input_shape, warmupIters: p.warmupIters,
    iterations: p.iterations, rateHz: p.rateHz, frames: p.frames, threads: env.threads } }, [bytes]);
}

function cancel() {
  if (state.worker) state.worker.postMessage({ type: "cancel" });
}

/** Percentile estimates of one sample set, marked where the interval is narrower than the clock. */
function estimates(samples, resolutionMs, percentiles = [0.5, 0.9, 0.99]) {
  const xs = Float64Array.from(samples).sort();
  return percentiles.map((pp) => {
    const q = st.quantileCi(xs, pp, 0.95, { sorted: true });
    q.belowResolution = Number.isFinite(q.upper - q.lower) && q.upper - q.lower < resolutionMs;
    return q;
  });
}

function estimateTable(title, ests) {
  const table = el("table", { class: "et-wb-table" });
  const head = el("tr");
  ["", "value (ms)", "95% CI (ms)", "ranks", "n", "note"].forEach((h) => head.append(el("th", {}, h)));
  table.append(el("caption", {}, title), head);
  for (const q of ests) {
    const tr = el("tr", { "data-p": String(q.p) });
    const notes = [];
    if (!q.valid) notes.push(`n below ${st.minSamplesTwoSided(q.p)}: not bounded on both sides`);
    if (q.belowResolution) notes.push("interval narrower than the timer resolution");
    tr.append(el("th", {}, st.percentileLabel(q.p).toUpperCase()), el("td", {}, ms(q.value)),
      el("td", {}, `[${ms(q.lower)}, ${ms(q.upper)}]`), el("td", {}, `${q.lowerRank ?? "-"}..${q.upperRank ?? "-"}`),
      el("td", {}, String(q.n)), el("td", { class: q.belowResolution ? "et-wb-clock" : "" }, notes.join("; ")));
    table.append(tr);
  }
  return table;
}

function show(model, p, env, run) {
  const res = run.timer.medianMs;
  const closed = run.closed.all;
  const ests = estimates(closed, res);
  const verdict = st.sloVerdict(closed, p.percentile, p.deadlineMs);
  const periodic = estimates(run.periodic.responseMs, res);
  const periodicVerdict = st.sloVerdict(run.periodic.responseMs, p.percentile, p.deadlineMs);
  const miss = st.missRate(run.periodic.responseMs, p.deadlineMs);
  const disabled = estimates(run.closed.disabled, res);
  state.result = { model: model.key, params: p, env, run, verdict, periodicVerdict, miss,
    closed: ests, periodic: periodic, disabled };
  const out = $(".et-wb-result");
  out.replaceChildren();
  const v = el("p", { class: "et-wb-verdict" });
  v.append(el("span", { class: `et-verdict et-${verdict.verdict.toLowerCase()}` }, verdict.verdict), ` closed loop: ${verdict.reason}`);
  const pv = el("p", { class: "et-wb-verdict-periodic" });
  pv.append(el("span", { class: `et-verdict et-${periodicVerdict.verdict.toLowerCase()}` }, periodicVerdict.verdict),
    ` periodic ${p.rateHz} Hz: ${periodicVerdict.reason}; ${miss.misses} of ${miss.n} frames missed the deadline (longest run ${miss.longestRun}).`);
  const clock = el("p", { class: "et-wb-timer" },
    `Timer resolution of performance.now() in the worker: ${(res * 1000).toFixed(1)} µs (median step over ${run.timer.steps} ticks; smallest ${(run.timer.minMs * 1000).toFixed(1)} µs). ` +
    "Percentiles whose interval is narrower than this are marked: there the clock, not the device, limits the interval.");
  const backend = el("p", { class: "et-wb-backend" },
    `Backend: onnxruntime-web ${state.manifest.onnxruntime_web}, WebAssembly (SIMD ${env.simd ? "yes" : "no"}), ` +
    `${run.threads} thread${run.threads > 1 ? "s" : ""}, cross-origin isolated: ${env.crossOriginIsolated ? "yes" : "no"}. ` +
    `Session creation ${ms(run.sessionCreateMs.all)} ms, first inference ${ms(run.firstMs.all)} ms.`);
  const warm = el("p", { class: "et-wb-warmup" },
    `Warmup (${run.warmup.all.length} iterations, excluded): ${run.warmup.all.map(ms).join(", ")} ms.`);
  out.append(v, pv, backend, clock, estimateTable(`Closed loop, ${closed.length} iterations (graph optimizations "all", the default)`, ests),
    estimateTable(`Periodic ${p.rateHz} Hz, ${run.periodic.responseMs.length} frames: response time from the intended start`, periodic),
    estimateTable(`Closed loop, graph optimizations "disabled" (interleaved with the above)`, disabled), warm);
  out.append(comparison(model, ests, closed));
  const dl = el("button", { class: "md-button et-wb-download", type: "button" }, "Download as case study");
  dl.addEventListener("click", () => downloadCaseStudy().catch((err) => fail("runtime", `case study: ${err.message}`)));
  out.append(dl);
  out.hidden = false;
  $(".et-wb-progress").value = $(".et-wb-progress").max;
  setStatus("done", `done: ${closed.length} closed-loop iterations per arm, ${run.periodic.responseMs.length} periodic frames`, "ok");
  $(".et-wb-run").disabled = false;
}

/** The browser's P50/P99 drawn on the same log axis as the runners', with the P50 ratio and its interval. */
function comparison(model, ests, closed) {
  const box = el("div", { class: "et-wb-compare" });
  const rows = [{ label: `this device (browser, ${state.result.run.threads} thread${state.result.run.threads > 1 ? "s" : ""})`, p50: ests[0], p99: ests[2], self: true }];
  const b975 = st.quantileCi(closed, 0.5, 0.975);
  const ratioRows = [];
  for (const r of model.runners) {
    const q = (key) => ({ value: r[`${key}_ms`], lower: r[`${key}_ci_ms`][0] ?? -Infinity, upper: r[`${key}_ci_ms`][1] ?? Infinity });
    rows.push({ label: `${r.runner}, ${r.setting} (${r.recipe}, ${r.mode})`, p50: q("p50"), p99: q("p99") });
    const [rlo, rhi] = r.p50_ci975_ms;
    ratioRows.push([r, b975.value / r.p50_ms, b975.lower / rhi, b975.upper / rlo]);
  }
  if (model.runners.length === 0) {
    box.append(el("p", {}, "No published runner measured this model at this input shape in this build of the site."));
    return box;
  }
  const finite = rows.flatMap((r) => [r.p50.lower, r.p50.value, r.p99.value, r.p99.upper]).filter((x) => Number.isFinite(x) && x > 0);
  const lo = Math.log10(Math.min(...finite)) - 0.1;
  const hi = Math.log10(Math.max(...finite)) + 0.1;
  const W = 720, L = 300, R = 20, rowH = 26, top = 10, H = top + rows.length * rowH + 34;
  const x = (v) => L + (Math.log10(Math.min(Math.max(v, 10 ** lo), 10 ** hi)) - lo) / (hi - lo) * (W - L - R);
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("class", "et-wb-chart");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "P50 and P99 latency with 95% intervals: this browser and the published runners, log scale");
  const add = (tag, attrs, text) => { const e = document.createElementNS(ns, tag); for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v); if (text) e.textContent = text; svg.append(e); return e; };
  rows.forEach((r, i) => {
    const y = top + i * rowH + rowH / 2;
    add("text", { x: L - 8, y: y + 4, "text-anchor": "end", class: r.self ? "et-wb-self" : "" }, r.label);
    for (const [q, cls] of [[r.p50, "et-wb-p50"], [r.p99, "et-wb-p99"]]) {
      add("line", { x1: x(q.lower), x2: x(q.upper), y1: y, y2: y, class: cls });
      add("circle", { cx: x(q.value), cy: y, r: 4, class: cls });
    }
  });
  const axisY = top + rows.length * rowH + 6;
  add("line", { x1: L, x2: W - R, y1: axisY, y2: axisY, class: "et-wb-axis" });
  for (let e = Math.floor(lo); e <= Math.ceil(hi); e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (Math.log10(v) < lo || Math.log10(v) > hi) continue;
      add("line", { x1: x(v), x2: x(v), y1: axisY, y2: axisY + 4, class: "et-wb-axis" });
      add("text", { x: x(v), y: axisY + 16, "text-anchor": "middle" }, `${v}`);
    }
  }
  add("text", { x: (L + W - R) / 2, y: H - 2, "text-anchor": "middle" }, "latency (ms, log scale): P50 (circle, blue) and P99 (orange) with 95% intervals");
  box.append(svg);
  const table = el("table", { class: "et-wb-table et-wb-ratios" });
  const head = el("tr");
  ["runner (setting)", "runner P50 (ms)", "browser P50 / runner P50", "95% interval"].forEach((h) => head.append(el("th", {}, h)));
  table.append(el("caption", {}, "Ratio of medians; each median's interval at 97.5%, so the ratio's covers at least 95% (within-run intervals only: a re-run on either side moves more)"), head);
  for (const [r, ratio, rl, rh] of ratioRows) {
    const tr = el("tr");
    tr.append(el("td", {}, `${r.runner} (${r.setting}, ${r.cpu}, ${r.logical_cores} cores, onnxruntime ${r.onnxruntime})`),
      el("td", {}, ms(r.p50_ms)), el("td", {}, ratio.toFixed(2)),
      el("td", {}, `[${Number.isFinite(rl) ? rl.toFixed(2) : "0"}, ${Number.isFinite(rh) ? rh.toFixed(2) : "unbounded"}]`));
    table.append(tr);
  }
  box.append(table);
  return box;
}

// ---- the case study: index.md, before.csv, after.csv in a zip (stored, no compression) ----

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) { let c = n; for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1; t[n] = c >>> 0; }
  return t;
})();
function crc32(bytes) {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function zip(files) {
  const enc = new TextEncoder();
  const parts = [];
  const central = [];
  let offset = 0;
  for (const [name, data] of files) {
    const nameBytes = enc.encode(name);
    const crc = crc32(data);
    const local = new DataView(new ArrayBuffer(30));
    local.setUint32(0, 0x04034b50, true); local.setUint16(4, 20, true); local.setUint16(6, 0x0800, true);
    local.setUint16(8, 0, true); local.setUint16(10, 0, true); local.setUint16(12, 0x21, true);
    local.setUint32(14, crc, true); local.setUint32(18, data.length, true); local.setUint32(22, data.length, true);
    local.setUint16(26, nameBytes.length, true); local.setUint16(28, 0, true);
    parts.push(new Uint8Array(local.buffer), nameBytes, data);
    const cen = new DataView(new ArrayBuffer(46));
    cen.setUint32(0, 0x02014b50, true); cen.setUint16(4, 20, true); cen.setUint16(6, 20, true); cen.setUint16(8, 0x0800, true);
    cen.setUint16(10, 0, true); cen.setUint16(12, 0, true); cen.setUint16(14, 0x21, true);
    cen.setUint32(16, crc, true); cen.setUint32(20, data.length, true); cen.setUint32(24, data.length, true);
    cen.setUint16(28, nameBytes.length, true); cen.setUint32(42, offset, true);
    central.push(new Uint8Array(cen.buffer), nameBytes);
    offset += 30 + nameBytes.length + data.length;
  }
  const cenSize = central.reduce((a, b) => a + b.length, 0);
  const end = new DataView(new ArrayBuffer(22));
  end.setUint32(0, 0x06054b50, true); end.setUint16(8, files.length, true); end.setUint16(10, files.length, true);
  end.setUint32(12, cenSize, true); end.setUint32(16, offset, true);
  return new Blob([...parts, ...central, new Uint8Array(end.buffer)], { type: "application/zip" });
}

const yamlText = (s) => JSON.stringify(String(s)); // a JSON string is a valid YAML double-quoted scalar

function side(label, level, samplesMs, csvName, sha) {
  const xs = Float64Array.from(samplesMs).sort();
  const q = (pp) => xs[st.nearestRankIndex(xs.length, pp)];
  const r = (v) => Number(v.toFixed(4));
  return [
    `${label}:`,
    `  label: ${yamlText(`graph optimizations ${level}`)}`,
    "  precision: fp32",
    `  settings: {graphOptimizationLevel: ${level}}`,
    `  p50_ms: ${r(q(0.5))}`, `  p90_ms: ${r(q(0.9))}`, `  p95_ms: ${r(q(0.95))}`, `  p99_ms: ${r(q(0.99))}`,
    `  jitter_ms: ${r(q(0.99) - q(0.5))}`, "  jitter_definition: p99-p50",
    `  samples: {file: ${csvName}, sha256: ${sha}}`,
  ].join("\n");
}

async function downloadCaseStudy() {
  const res = state.result;
  if (!res) throw new Error("no complete run to download");
  const model = state.manifest.models.find((m) => m.key === res.model);
  const env = res.env;
  const deviceName = $(".et-wb-device").value.trim();
  const hwClass = $(".et-wb-hwclass").value;
  const author = $(".et-wb-author").value.trim();
  if (!deviceName || !hwClass || !author) {
    throw new Error("fill in the device name, its hardware class and your name above the Run button first");
  }
  const enc = new TextEncoder();
  // rounded to 0.1 us; the claimed percentiles are computed from the rounded values, as the validator does
  const csv = (xs) => enc.encode("latency_ms\n" + xs.map((v) => v.toFixed(4)).join("\n") + "\n");
  const round = (xs) => xs.map((v) => Number(v.toFixed(4)));
  const before = round(res.run.closed.disabled);
  const after = round(res.run.closed.all);
  const beforeCsv = csv(before);
  const afterCsv = csv(after);
  const date = new Date().toISOString().slice(0, 10);
  const slug = `browser-${model.key}-${date}`;
  const ort = state.manifest.onnxruntime_web;
  const threads = res.run.threads;
  const n = after.length;
  const front = [
    "---",
    "schema_version: 1",
    `title: ${yamlText(`Graph optimizations in onnxruntime-web on ${deviceName}`.slice(0, 120))}`,
    `date: ${date}`,
    `authors: [${yamlText(author)}]`,
    `summary: ${yamlText(`${model.title} in a browser (onnxruntime-web ${ort}, WebAssembly, ${threads} thread${threads > 1 ? "s" : ""}) on ${deviceName}: graph optimizations disabled vs all, closed loop, measured by the site's Run it on this device page.`.slice(0, 600))}`,
    "device:",
    `  name: ${yamlText(deviceName)}`,
    `  hardware_class: ${hwClass}`,
    `  cores: ${env.hardwareConcurrency}`,
    ...(env.deviceMemoryGiB ? [`  memory_gib: ${env.deviceMemoryGiB}`] : []),
    `os: ${yamlText(`${env.platform || "unknown platform"}; browser: ${env.userAgent}`.slice(0, 200))}`,
    "runtime:",
    "  name: onnxruntime",
    `  version: ${yamlText(`${ort} (onnxruntime-web, wasm)`)}`,
    "  execution_provider: CPUExecutionProvider",
    "model:",
    `  name: ${yamlText(`${model.title} (${model.file.split("/").pop()})`)}`,
    `  sha256: ${model.sha256}`,
    `  public_id: ${yamlText(model.public_id)}`,
    "  format: onnx",
    `batch_size: ${model.input_shape[0]}`,
    "workload:",
    "  arrival: closed-loop",
    `  input_shape: [${model.input_shape.join(", ")}]`,
    `  description: ${yamlText("a fixed pseudo-random float32 tensor in [-1, 1), the same for every iteration")}`,
    "slo:",
    `  deadline_ms: ${res.params.deadlineMs}`,
    `  percentile: ${res.params.percentile}`,
    "measurement:",
    `  method: ${yamlText(`performance.now() around InferenceSession.run in a Web Worker; closed loop, the two sessions interleaved in blocks of 10; one browser tab`)}`,
    `  tool: ${yamlText(`edgetiming Run it on this device page, onnxruntime-web ${ort}`)}`,
    `  warmup_iters: ${res.run.warmup.all.length}`,
    `  iterations: ${n}`,
    `  notes: ${yamlText(`timer resolution ${(res.run.timer.medianMs * 1000).toFixed(1)} us; cross-origin isolated: ${env.crossOriginIsolated}; SharedArrayBuffer: ${env.sharedArrayBuffer}; WebAssembly SIMD: ${env.simd}; threads ${threads}; hardwareConcurrency ${env.hardwareConcurrency}; WebGPU: ${env.webgpu} (not used)`)}`,
    side("before", "disabled", before, "before.csv", await sha256Hex(beforeCsv)),
    side("after", "all", after, "after.csv", await sha256Hex(afterCsv)),
    "techniques: [graph-optimization-level]",
    "related_recipes: [characterize-latency]",
    "---",
  ].join("\n");
  const body = `

## Context

Measured in a web browser with the site's *Run it on this device* page: ${model.title}, input
${model.input_shape.join("x")}, onnxruntime-web ${ort} on its WebAssembly backend with ${threads}
thread${threads > 1 ? "s" : ""}. The page was ${env.crossOriginIsolated ? "" : "not "}cross-origin isolated. Browser:
${env.userAgent}. Replace this paragraph with what else the device was doing.

## What was changed

Two sessions of the same model, created with \`graphOptimizationLevel: "disabled"\` (before) and
\`"all"\` (after, onnxruntime's default), timed in one closed loop in blocks of 10 iterations each.

## Results

The ${res.params.percentile * 100}th percentile against the ${res.params.deadlineMs} ms deadline with the
graph optimized: ${res.verdict.verdict} (${res.verdict.reason}).

## Trade-offs

Graph optimizations cost session-creation time: ${ms(res.run.sessionCreateMs.all)} ms with "all" against
${ms(res.run.sessionCreateMs.disabled)} ms with "disabled" in this run.

## Lessons

Write what you would tell someone measuring the same model in a browser.
`;
  const blob = zip([[`${slug}/index.md`, enc.encode(front + body)], [`${slug}/before.csv`, beforeCsv], [`${slug}/after.csv`, afterCsv]]);
  const a = el("a", { href: URL.createObjectURL(blob), download: `${slug}.zip` });
  document.body.append(a);
  a.click();
  a.remove();
}

/** Whether WebGPU has an adapter: the API can exist without a usable GPU (headless, blocklisted drivers). */
async function webgpuAdapter() {
  if (!("gpu" in navigator)) return "not available";
  try {
    const adapter = await Promise.race([navigator.gpu.requestAdapter(), new Promise((r) => setTimeout(() => r("timeout"), 2000))]);
    return adapter === "timeout" ? "API present, no adapter within 2 s" : adapter ? "adapter available" : "API present, no adapter";
  } catch (err) {
    return `API present, requestAdapter failed (${err.message})`;
  }
}

async function init() {
  if (!root) return;
  state.env = environment();
  state.env.webgpu = await webgpuAdapter();
  showEnvironment(state.env);
  try {
    const resp = await fetch(here("../webbench/manifest.json"));
    if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
    state.manifest = await resp.json();
  } catch (err) {
    return fail("manifest", `webbench/manifest.json could not be read (${err.message}); the site build writes it (edgetiming site).`);
  }
  const select = $(".et-wb-model");
  select.replaceChildren(...state.manifest.models.map((m) => {
    const o = el("option", { value: m.key }, `${m.title}, ${m.input_shape.join("x")} (${(m.bytes / 1e6).toFixed(1)} MB)`);
    if (m.default) o.selected = true;
    return o;
  }));
  const syncDeadline = () => { const m = state.manifest.models.find((x) => x.key === select.value); $(".et-wb-deadline").value = m.deadline_ms; };
  select.addEventListener("change", syncDeadline);
  syncDeadline();
  const q = new URLSearchParams(location.search);
  if (q.get("model")) { select.value = q.get("model"); syncDeadline(); }
  $(".et-wb-run").addEventListener("click", () => start().catch((err) => fail("runtime", err.message)));
  $(".et-wb-cancel").addEventListener("click", cancel);
  if (!state.env.webassembly || !state.env.simd) {
    $(".et-wb-run").disabled = true;
    return fail("wasm", state.env.webassembly ? "This browser's WebAssembly has no SIMD, which the onnxruntime-web build served here needs. Update the browser."
      : "This browser has no WebAssembly: onnxruntime-web cannot run here.");
  }
  setStatus("ready", "ready: choose a model and press Run");
}

init();
