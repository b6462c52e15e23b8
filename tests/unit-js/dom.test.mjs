// Unit tests for www/js/dom.js (el, svgEl) against a minimal fake
// document that records what the helper did.  Run: node --test tests/unit-js/

import { test } from "node:test";
import assert from "node:assert/strict";

import { el, svgEl, SVG_NS } from "../../www/js/dom.js";

class FakeNode {
  constructor(tag, ns = null) {
    this.tag = tag; this.namespaceURI = ns; this.attrs = {}; this.kids = [];
    this.className = "";
  }
  setAttribute(k, v) { this.attrs[k] = v; }
  append(...k) {
    for (const x of k) this.kids.push(typeof x === "object" ? x : { text: String(x) });
  }
}

globalThis.document = {
  createElement: (tag) => new FakeNode(tag, "http://www.w3.org/1999/xhtml"),
  createElementNS: (ns, tag) => new FakeNode(tag, ns),
};

test("a string is the class name and text becomes a text child", () => {
  const e = el("span", "who visually-hidden", "You");
  assert.equal(e.tag, "span");
  assert.equal(e.className, "who visually-hidden");
  assert.deepEqual(e.kids, [{ text: "You" }]);
});

test("null props and absent kids set nothing", () => {
  const e = el("summary", null);
  assert.equal(e.className, "");
  assert.deepEqual(e.attrs, {});
  assert.deepEqual(e.kids, []);
  assert.deepEqual(el("p", "x", undefined, null).kids, []);
});

test("an object sets attributes, class as className, kids in order", () => {
  const kid = el("b", "k");
  const e = el("a", { class: "link", href: "https://x.test/", rel: "noopener" }, "go ", kid, 0);
  assert.equal(e.className, "link");
  assert.deepEqual(e.attrs, { href: "https://x.test/", rel: "noopener" });
  assert.deepEqual(e.kids, [{ text: "go " }, kid, { text: "0" }]);
});

test("model text stays text: markup in a string is not parsed", () => {
  const e = el("div", "bubble", "<img src=x onerror=alert(1)>");
  assert.deepEqual(e.kids, [{ text: "<img src=x onerror=alert(1)>" }]);
});

test("svgEl makes SVG elements and sets class as an attribute", () => {
  const e = svgEl("rect", { x: 3, class: "tl-row" });
  assert.equal(e.namespaceURI, SVG_NS);
  assert.deepEqual(e.attrs, { x: "3", class: "tl-row" });
  assert.equal(e.className, "");
});
