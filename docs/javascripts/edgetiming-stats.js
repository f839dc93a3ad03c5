// Percentiles, exact order-statistic intervals and SLO verdicts: the rules of
// src/edgetiming/stats/quantiles.py, in JavaScript, for the "Run it on this device" page.
//
// The same samples give the same ranks and interval ends as the Python
// implementation: tests/unit/test_webbench_stats.py writes fixtures with Python and
// runs tests/js/webbench_stats.test.mjs (node:test) against this module.
//
// Estimator: nearest rank, the sorted sample at 0-based index floor(n * p)
// (the convention of MLPerf LoadGen and onnxruntime perf_test). Interval: with
// B ~ Binomial(n, p), [X(l), X(u)] (1-based ranks), l = F_B^-1(alpha/2),
// u = F_B^-1(1 - alpha/2) + 1, covering the p-quantile with probability
// F_B(u-1) - F_B(l-1). A side needing a rank outside 1..n is unbounded.
// Values are in whatever unit they are given (the page uses milliseconds).

export const DEFAULT_PERCENTILES = [0.5, 0.9, 0.99];

function checkP(p) {
  if (!(p > 0 && p < 1)) throw new RangeError(`percentile p must be in (0, 1), got ${p} (0.99 means P99)`);
  return p;
}

function checkConfidence(c) {
  if (!(c > 0 && c < 1)) throw new RangeError(`confidence must be in (0, 1), got ${c}`);
  return c;
}

/** "p50", "p99.9": the label stats.percentile_label gives. */
export function percentileLabel(p) {
  return "p" + String(Number((p * 100).toPrecision(10)));
}

/** 0-based index floor(n * p) clipped to n - 1; the 1e-12 tolerance is Python's. */
export function nearestRankIndex(n, p) {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`n must be an integer >= 1, got ${n}`);
  if (!(p >= 0 && p <= 1)) throw new RangeError(`p must be in [0, 1], got ${p}`);
  const k = Math.floor(n * p * (1 + 1e-12));
  return Math.min(Math.max(k, 0), n - 1);
}

/** Smallest n >= ln(1 - confidence) / ln(p): below it the sample maximum does not bound the p-quantile. */
export function minSamples(p, confidence = 0.95) {
  checkP(p);
  checkConfidence(confidence);
  const bound = Math.log(1.0 - confidence) / Math.log(p);
  let n = Math.ceil(bound);
  if (n - 1 >= bound * (1 - 1e-12)) n -= 1;
  return Math.max(n, 1);
}

/**
 * Smallest n whose two-sided interval bounds the p-quantile on both sides:
 * ceil(ln(alpha/2) / ln(max(p, 1-p))), the rule of edgetiming.stats.validity.min_samples_two_sided
 * (P99: 368 at 95%). A percentile from fewer samples is invalid.
 */
export function minSamplesTwoSided(p, confidence = 0.95) {
  if (!(p > 0 && p < 1)) throw new RangeError(`p must be in (0, 1), got ${p}`);
  checkConfidence(confidence);
  const alpha = 1.0 - confidence;
  const q = Math.max(p, 1.0 - p);
  return Math.ceil(Math.log(alpha / 2.0) / Math.log(q) - 1e-9);
}

/**
 * The binomial CDF F(k) for k = 0..n as a lookup, computed without lgamma:
 * the pmf is built outward from the mode by the exact ratio recurrence
 * pmf(i+1)/pmf(i) = (n-i)/(i+1) * p/(1-p), stopped where a term falls below
 * 1e-300 of the mode, and normalised by the sum of all terms. Terms are
 * summed from the smallest upward. F(0) = (1-p)^n and F(n) = 1 are taken
 * directly, as scipy's bdtr does. Fine for n up to a few million.
 */
function binomialCdf(n, p) {
  const mode = Math.min(n, Math.floor((n + 1) * p));
  const ratioUp = p / (1 - p);
  const tiny = 1e-300;
  const up = [1]; // pmf(mode), pmf(mode+1), ... relative to pmf(mode)
  for (let i = mode; i < n; i++) {
    const next = up[up.length - 1] * ((n - i) / (i + 1)) * ratioUp;
    if (next < tiny) break;
    up.push(next);
  }
  const down = []; // pmf(mode-1), pmf(mode-2), ...
  let term = 1;
  for (let i = mode; i > 0; i--) {
    term = term * (i / (n - i + 1)) / ratioUp;
    if (term < tiny) break;
    down.push(term);
  }
  const first = mode - down.length; // k below `first` has F(k) = 0 to double precision
  const terms = down.reverse().concat(up);
  const prefix = new Float64Array(terms.length);
  let acc = 0;
  for (let i = 0; i < terms.length; i++) {
    acc += terms[i];
    prefix[i] = acc;
  }
  const total = acc;
  const atZero = Math.pow(1 - p, n); // F(0) as cephes bdtr (scipy) computes it, so ties resolve alike
  return (k) => {
    if (k >= n) return 1;
    if (k === 0) return atZero;
    if (k < first) return 0;
    if (k - first >= terms.length) return 1;
    return prefix[k - first] / total;
  };
}

/** Smallest k in [0, n] with F_B(k) >= q for B ~ Binomial(n, p). */
function binomInv(cdf, q, n) {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    if (cdf(mid) >= q) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

const rankCache = new Map();

/**
 * 1-based ranks of the two-sided interval and its exact coverage, as
 * stats._ci_ranks: {lower, upper, coverage, upperOneSided}; lower == 0 means no
 * finite lower bound, upper == n + 1 no finite upper bound. upperOneSided is the
 * smallest k with F_B(k-1) >= confidence (stats._upper_rank).
 */
export function ciRanks(n, p, confidence = 0.95) {
  checkP(p);
  checkConfidence(confidence);
  const key = `${n}|${p}|${confidence}`;
  const hit = rankCache.get(key);
  if (hit) return hit;
  const cdf = binomialCdf(n, p);
  const alpha = 1.0 - confidence;
  const lower = binomInv(cdf, alpha / 2, n);
  const upper = binomInv(cdf, 1 - alpha / 2, n) + 1;
  const coverage = cdf(upper - 1) - (lower >= 1 ? cdf(lower - 1) : 0.0);
  const upperOneSided = binomInv(cdf, confidence, n) + 1;
  const out = { lower, upper, coverage, upperOneSided };
  if (rankCache.size > 512) rankCache.clear();
  rankCache.set(key, out);
  return out;
}

function sortedCopy(values) {
  if (!values || values.length === 0) throw new RangeError("no samples: at least one is needed");
  const xs = Float64Array.from(values);
  for (const v of xs) {
    if (Number.isNaN(v) || v === -Infinity) throw new RangeError("samples contain NaN or -Infinity");
  }
  return xs.sort();
}

/** Nearest-rank p-quantile of the samples (no interpolation). */
export function quantile(values, p) {
  const xs = sortedCopy(values);
  return xs[nearestRankIndex(xs.length, p)];
}

/**
 * Nearest-rank p-quantile with its exact two-sided interval, as stats.quantile_ci.
 * Returns {p, value, lower, upper, n, confidence, lowerRank, upperRank, valid,
 * coverage, rank}; an unbounded side is -Infinity/Infinity with rank null.
 * `sorted` may be passed when the samples are already sorted ascending.
 */
export function quantileCi(values, p, confidence = 0.95, { sorted = false } = {}) {
  checkP(p);
  checkConfidence(confidence);
  const xs = sorted ? values : sortedCopy(values);
  const n = xs.length;
  const k = nearestRankIndex(n, p);
  const r = ciRanks(n, p, confidence);
  const lowerRank = r.lower >= 1 ? r.lower : null;
  const upperRank = r.upper <= n ? r.upper : null;
  return {
    p,
    value: xs[k],
    lower: lowerRank === null ? -Infinity : xs[lowerRank - 1],
    upper: upperRank === null ? Infinity : xs[upperRank - 1],
    n,
    confidence,
    lowerRank,
    upperRank,
    valid: n >= minSamplesTwoSided(p, confidence),
    coverage: r.coverage,
    rank: k + 1,
  };
}

/** One-sided upper confidence bound X(k) of the p-quantile; Infinity when n is too small. */
export function upperBound(values, p, confidence = 0.95) {
  const xs = sortedCopy(values);
  const k = ciRanks(xs.length, p, confidence).upperOneSided;
  return k > xs.length ? Infinity : xs[k - 1];
}

function fmt(x) {
  if (!Number.isFinite(x)) return "unbounded";
  const ax = Math.abs(x);
  if (ax >= 100) return Math.round(x).toLocaleString("en-US");
  if (ax >= 10) return x.toFixed(1);
  if (ax >= 1) return x.toFixed(2);
  return x.toPrecision(3);
}

/**
 * PASS / FAIL / INCONCLUSIVE for "the `percentile` latency <= deadlineMs", as
 * stats.slo_verdict: PASS iff the interval's upper end <= deadline, FAIL iff its
 * lower end > deadline. Samples in milliseconds. (The Python version also
 * estimates how many more samples would decide an inconclusive verdict; this
 * one says only that the interval contains the deadline.)
 */
export function sloVerdict(samplesMs, percentile, deadlineMs, confidence = 0.95) {
  const est = quantileCi(samplesMs, percentile, confidence);
  const name = percentileLabel(percentile).toUpperCase();
  const conf = `${Math.round(confidence * 100)}%`;
  let verdict;
  let reason;
  if (est.upper <= deadlineMs) {
    verdict = "PASS";
    reason = `${name} upper ${conf} bound ${fmt(est.upper)} ms (rank ${est.upperRank} of ${est.n}) <= deadline ${deadlineMs} ms`;
  } else if (est.lower > deadlineMs) {
    verdict = "FAIL";
    reason = `${name} lower ${conf} bound ${fmt(est.lower)} ms (rank ${est.lowerRank} of ${est.n}) > deadline ${deadlineMs} ms`;
  } else {
    verdict = "INCONCLUSIVE";
    reason = `${name} ${conf} CI [${fmt(est.lower)}, ${fmt(est.upper)}] ms contains the deadline ${deadlineMs} ms`;
    const need = minSamplesTwoSided(percentile, confidence);
    if (est.upperRank === null && est.n < need) reason += `; n=${est.n} is below the ${need} samples ${name} needs`;
    else if (est.value === deadlineMs) reason += `; ${name} equals the deadline, so no number of samples decides it`;
    else reason += `; more samples may decide it (${name} now ${fmt(est.value)} ms)`;
  }
  return { verdict, percentile, deadlineMs, confidence, estimate: est, reason };
}

/** Share of samples strictly over the deadline and the longest run of consecutive misses. */
export function missRate(samplesMs, deadlineMs) {
  let misses = 0;
  let run = 0;
  let longest = 0;
  for (const v of samplesMs) {
    if (v > deadlineMs) {
      misses += 1;
      run += 1;
      longest = Math.max(longest, run);
    } else run = 0;
  }
  return { n: samplesMs.length, misses, rate: misses / samplesMs.length, longestRun: longest, deadlineMs };
}

/**
 * Effective resolution of a clock: the median of the positive steps between
 * consecutive distinct readings, over `ticks` steps (browsers coarsen
 * performance.now() and add jitter, so the median is used, not the minimum).
 */
export function clockResolution(now, ticks = 200, maxMs = 1000) {
  const steps = [];
  const start = now();
  let last = start;
  while (steps.length < ticks && last - start < maxMs) {
    const t = now();
    if (t > last) {
      steps.push(t - last);
      last = t;
    }
  }
  if (steps.length === 0) return { medianMs: Infinity, minMs: Infinity, steps: 0 };
  steps.sort((a, b) => a - b);
  return { medianMs: steps[nearestRankIndex(steps.length, 0.5)], minMs: steps[0], steps: steps.length };
}
