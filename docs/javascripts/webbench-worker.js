// The timing loop of the "Run it on this device" page, in a module Web Worker so
// that the page stays responsive. It receives the model bytes (already checked
// against their sha256 by the page), creates two onnxruntime-web sessions
// (graph optimizations "all", onnxruntime's default, and "disabled"), then runs:
// first inference, warmup, a closed loop with the two sessions interleaved in
// blocks, and a periodic open loop (a camera at rate_hz) on the default session.
// Every sample is posted back; the page computes the statistics.
import * as ort from "../webbench/ort/ort.wasm.min.mjs";

const BLOCK = 10; // closed-loop iterations per arm before switching arms
let cancelled = false;

// Yield to the event loop (so "cancel" can arrive) without setTimeout's 4 ms clamp.
const channel = new MessageChannel();
const pending = [];
channel.port1.onmessage = () => pending.shift()();
const yieldNow = () => new Promise((resolve) => { pending.push(resolve); channel.port2.postMessage(0); });
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

class Cancelled extends Error {}

function check() {
  if (cancelled) throw new Cancelled("cancelled");
}

/** The page's input: a fixed pseudo-random tensor in [-1, 1), reproducible in numpy
 * as ((arange(n, dtype=uint64) * 2654435761) % 2**32) / 2**32 * 2 - 1. */
function makeInput(shape) {
  const size = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(size);
  for (let i = 0; i < size; i++) data[i] = ((i * 2654435761) % 4294967296) / 4294967296 * 2 - 1;
  return new ort.Tensor("float32", data, shape);
}

function resolution(ticks = 500) {
  const steps = [];
  const start = performance.now();
  let last = start;
  while (steps.length < ticks && last - start < 2000) {
    const t = performance.now();
    if (t > last) { steps.push(t - last); last = t; }
  }
  steps.sort((a, b) => a - b);
  return { medianMs: steps.length ? steps[Math.floor(steps.length * 0.5)] : null,
           minMs: steps.length ? steps[0] : null, steps: steps.length };
}

async function timed(session, feeds) {
  const t0 = performance.now();
  const out = await session.run(feeds);
  const t1 = performance.now();
  for (const v of Object.values(out)) if (v.dispose) v.dispose();
  return t1 - t0;
}

async function run(cfg) {
  const post = (msg) => self.postMessage(msg);
  ort.env.wasm.wasmPaths = new URL("../webbench/ort/", import.meta.url).href;
  ort.env.wasm.numThreads = cfg.threads;
  ort.env.wasm.proxy = false;
  ort.env.logLevel = "error";
  post({ type: "progress", phase: "timer", done: 0, total: 1 });
  const timer = resolution();
  post({ type: "progress", phase: "session", done: 0, total: 1 });
  const arms = ["all", "disabled"];
  const sessions = {};
  const sessionCreateMs = {};
  for (const arm of arms) {
    const t0 = performance.now();
    sessions[arm] = await ort.InferenceSession.create(new Uint8Array(cfg.modelBytes), {
      executionProviders: ["wasm"], graphOptimizationLevel: arm,
    });
    sessionCreateMs[arm] = performance.now() - t0;
    check();
  }
  const feeds = { [sessions.all.inputNames[0]]: makeInput(cfg.inputShape) };
  const firstMs = {};
  for (const arm of arms) firstMs[arm] = await timed(sessions[arm], feeds);
  const warmup = { all: [], disabled: [] };
  const closed = { all: [], disabled: [] };
  const total = arms.length * (cfg.warmupIters + cfg.iterations) + cfg.frames;
  let done = 0;
  const progress = (phase) => post({ type: "progress", phase, done, total });
  for (const arm of arms) {
    for (let i = 0; i < cfg.warmupIters; i++) { warmup[arm].push(await timed(sessions[arm], feeds)); done++; }
    progress("warmup");
    await yieldNow();
    check();
  }
  while (closed.all.length < cfg.iterations || closed.disabled.length < cfg.iterations) {
    for (const arm of arms) {
      const take = Math.min(BLOCK, cfg.iterations - closed[arm].length);
      for (let i = 0; i < take; i++) closed[arm].push(await timed(sessions[arm], feeds));
      done += take;
    }
    progress("closed loop");
    await yieldNow();
    check();
  }
  // Periodic open loop: frame k is due at start + k * period; latency counts from that
  // intended start (a late start is part of the latency: no coordinated omission).
  const periodMs = 1000 / cfg.rateHz;
  const intendedMs = [];
  const issueDelayMs = [];
  const responseMs = [];
  const start = performance.now() + periodMs;
  for (let k = 0; k < cfg.frames; k++) {
    const due = start + k * periodMs;
    let now = performance.now();
    if (due - now > 8) { await sleep(due - now - 6); check(); }
    while ((now = performance.now()) < due) { /* spin the last few ms: timers are late by milliseconds */ }
    const out = await sessions.all.run(feeds);
    const end = performance.now();
    for (const v of Object.values(out)) if (v.dispose) v.dispose();
    intendedMs.push(due - start);
    issueDelayMs.push(now - due);
    responseMs.push(end - due);
    done++;
    if (k % 10 === 9) { progress("periodic"); await yieldNow(); check(); }
  }
  for (const arm of arms) await sessions[arm].release();
  post({
    type: "done", timer, sessionCreateMs, firstMs, warmup, closed,
    periodic: { rateHz: cfg.rateHz, periodMs, intendedMs, issueDelayMs, responseMs },
    ortVersion: ort.env.versions ? ort.env.versions.web || ort.env.versions.common : "",
    threads: cfg.threads,
  });
}

function classify(err) {
  const text = `${err && err.name}: ${err && err.message ? err.message : err}`;
  if (/out of memory|OOM|Cannot enlarge memory|memory access out of bounds|Array buffer allocation|RangeError.*(memory|allocation)/i.test(text)) return "memory";
  return "runtime";
}

self.onmessage = async (event) => {
  const msg = event.data;
  if (msg.type === "cancel") { cancelled = true; return; }
  if (msg.type !== "run") return;
  try {
    await run(msg.config);
  } catch (err) {
    if (err instanceof Cancelled) self.postMessage({ type: "cancelled" });
    else self.postMessage({ type: "error", kind: classify(err), message: String(err && err.message ? err.message : err) });
  }
};
