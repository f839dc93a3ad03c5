// The page's statistics (docs/javascripts/edgetiming-stats.js) against the Python
// implementation (src/edgetiming/stats/quantiles.py) on fixtures that Python wrote.
// Run by tests/unit/test_webbench_stats.py:
//   WEBBENCH_STATS_FIXTURES=fixtures.json node --test tests/js/webbench_stats.test.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as st from "../../docs/javascripts/edgetiming-stats.js";

const path = process.env.WEBBENCH_STATS_FIXTURES;
if (!path) throw new Error("set WEBBENCH_STATS_FIXTURES to the fixture file tests/unit/test_webbench_stats.py writes");
const fx = JSON.parse(readFileSync(path, "utf8"));
const endOrNull = (v) => (Number.isFinite(v) ? v : null);

test("ranks, interval ranks and minimum sample counts equal Python's", () => {
  assert.ok(fx.ranks.length > 1000, "too few rank cases to mean anything");
  const wrong = [];
  for (const c of fx.ranks) {
    const r = st.ciRanks(c.n, c.p, c.confidence);
    const got = {
      index: st.nearestRankIndex(c.n, c.p), lower: r.lower, upper: r.upper,
      upper_one_sided: r.upperOneSided, min_samples: st.minSamples(c.p, c.confidence), min_two_sided: c.p > 0 && c.p < 1 ? st.minSamplesTwoSided(c.p, c.confidence) : null,
    };
    for (const key of Object.keys(got)) {
      if (got[key] !== c[key]) wrong.push(`n=${c.n} p=${c.p} conf=${c.confidence}: ${key} JS ${got[key]} Python ${c[key]}`);
    }
    if (Math.abs(r.coverage - c.coverage) > 1e-9) wrong.push(`n=${c.n} p=${c.p}: coverage JS ${r.coverage} Python ${c.coverage}`);
  }
  assert.deepEqual(wrong.slice(0, 20), []);
});

test("quantiles, interval ends and verdicts on samples equal Python's", () => {
  assert.ok(fx.samples.length >= 10);
  for (const c of fx.samples) {
    const ms = c.latency_ns.map((ns) => ns / 1e6); // the division Python does (stats._NS_PER_MS)
    for (const e of c.estimates) {
      const q = st.quantileCi(ms, e.p, e.confidence);
      const where = `${c.name} p=${e.p} conf=${e.confidence}`;
      assert.equal(q.value, e.value, `${where}: value`);
      assert.equal(q.rank, e.rank, `${where}: rank`);
      assert.equal(q.lowerRank, e.lower_rank, `${where}: lower rank`);
      assert.equal(q.upperRank, e.upper_rank, `${where}: upper rank`);
      assert.equal(endOrNull(q.lower), e.lower, `${where}: lower end`);
      assert.equal(endOrNull(q.upper), e.upper, `${where}: upper end`);
      assert.equal(q.valid, e.valid, `${where}: valid`);
      assert.equal(endOrNull(st.upperBound(ms, e.p, e.confidence)), e.upper_bound, `${where}: one-sided bound`);
    }
    for (const v of c.verdicts) {
      const got = st.sloVerdict(ms, v.percentile, v.deadline_ms, v.confidence);
      assert.equal(got.verdict, v.verdict, `${c.name} P${v.percentile * 100} <= ${v.deadline_ms} ms: ${got.reason}`);
    }
  }
});

test("bad input is refused with a message", () => {
  assert.throws(() => st.quantileCi([], 0.5), /no samples/);
  assert.throws(() => st.quantileCi([1, NaN], 0.5), /NaN/);
  assert.throws(() => st.ciRanks(10, 1.0), /percentile p must be in \(0, 1\)/);
  assert.throws(() => st.ciRanks(10, 0.5, 1), /confidence/);
});

test("clock resolution is the median step of a coarse clock", () => {
  let t = 0;
  const coarse = () => { t += 0.01; return Math.floor(t / 0.1) * 0.1; }; // a 100 us clock read every 10 us
  const r = st.clockResolution(coarse, 50);
  assert.equal(r.steps, 50);
  assert.ok(Math.abs(r.medianMs - 0.1) < 1e-9, `median step ${r.medianMs}`);
});
