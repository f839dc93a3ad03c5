// Drives docs/javascripts/case-studies.js on a minimal stand-in DOM (no browser, no packages):
// sorting by a numeric column both ways, and filtering by hardware class, technique and text.
// Run: node tests/js/case_studies_table.js docs/javascripts/case-studies.js  (prints "ok")
"use strict";
const fs = require("fs");
const vm = require("vm");
const assert = require("assert");

class El {
  constructor(tag) { this.tagName = tag; this.children = []; this.listeners = {}; this.attrs = {};
    this.dataset = {}; this.hidden = false; this.value = ""; this._text = ""; this.parentNode = null; }
  appendChild(c) { if (c.parentNode) c.parentNode.children = c.parentNode.children.filter((x) => x !== c);
    c.parentNode = this; this.children.push(c); return c; }
  insertBefore(c, ref) { c.parentNode = this; this.children.splice(this.children.indexOf(ref), 0, c); return c; }
  setAttribute(k, v) { this.attrs[k] = String(v); }
  getAttribute(k) { return k in this.attrs ? this.attrs[k] : null; }
  addEventListener(type, fn) { (this.listeners[type] = this.listeners[type] || []).push(fn); }
  fire(type, extra) { (this.listeners[type] || []).forEach((fn) => fn(Object.assign({ preventDefault() {} }, extra))); }
  get textContent() { return this._text + this.children.map((c) => c.textContent).join(" "); }
  set textContent(t) { this._text = t; this.children = []; }
  get rows() { return this.children; }
  get cells() { return this.children; }
}

function cell(tag, text) { const c = new El(tag); c.textContent = text; return c; }
const table = new El("table");
const head = table.appendChild(new El("thead"));
const hr = head.appendChild(new El("tr"));
["Case study", "Hardware class", "Techniques", "Model", "P99 before (ms)", "P99 after (ms)",
  "P99 change [95% CI]", "Verified"].forEach((h) => hr.appendChild(cell("th", h)));
const body = table.appendChild(new El("tbody"));
const data = [
  ["a-case", "x86-server", "thread-tuning", "m1", "1,200", "900", "\u221225.0% [\u221230.0%, \u221220.0%]", "yes"],
  ["b-case", "arm-sbc", "int8-static-quantization, thread-tuning", "m2", "95.2", "60.1", "\u221236.9% (claimed)", "claimed"],
  ["c-case", "x86-server", "operator-fusion", "m3", "not given", "10.5", "not given", "claimed"],
  ["d-case", "arm-sbc", "operator-fusion", "m4", "305", "320", "+4.9% [\u22121.0%, +9.0%]", "yes"],
];
data.forEach((r) => { const tr = body.appendChild(new El("tr")); r.forEach((v) => tr.appendChild(cell("td", v))); });
table.tHead = head;
table.tBodies = [body];
const wrap = new El("div");
wrap.appendChild(table);

const document = {
  readyState: "complete",
  createElement: (tag) => new El(tag),
  querySelectorAll: (sel) => (sel === ".et-cs-index table" ? [table] : []),
  addEventListener() {},
};
vm.runInNewContext(fs.readFileSync(process.argv[2], "utf8"), { document, window: {} });

const order = () => body.rows.map((r) => r.cells[0].textContent.trim());
const visible = () => body.rows.filter((r) => !r.hidden).map((r) => r.cells[0].textContent.trim());
const [th] = [hr.children[4]];
th.fire("click");
assert.deepStrictEqual(order(), ["b-case", "d-case", "a-case", "c-case"], "P99 before ascending, missing last");
th.fire("click");
assert.deepStrictEqual(order(), ["a-case", "d-case", "b-case", "c-case"], "descending, missing still last");
assert.strictEqual(th.getAttribute("aria-sort"), "descending");
hr.children[6].fire("keydown", { key: "Enter" });
assert.deepStrictEqual(order(), ["b-case", "a-case", "d-case", "c-case"], "change: U+2212 read as minus");

const bar = wrap.children[0];
const [search, hwLabel, techLabel, count] = bar.children;
const hw = hwLabel.children[0];
const tech = techLabel.children[0];
assert.deepStrictEqual(hw.children.map((o) => o.value), ["", "arm-sbc", "x86-server"]);
hw.value = "arm-sbc"; hw.fire("change");
assert.deepStrictEqual(visible().sort(), ["b-case", "d-case"]);
tech.value = "thread-tuning"; tech.fire("change");
assert.deepStrictEqual(visible(), ["b-case"]);
assert.strictEqual(count.textContent, "1 of 4 shown");
hw.value = ""; tech.value = ""; search.value = "M3"; search.fire("input");
assert.deepStrictEqual(visible(), ["c-case"]);
console.log("ok");
