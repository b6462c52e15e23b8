// dom.js — the one element helper the page scripts share (app.js,
// check.js, markdown.js).  It builds nodes with createElement and
// textContent-like appends only, never innerHTML, so text passed in stays
// text.
//
//   el("p", "status")                        <p class="status">
//   el("span", "who", "You")                 … with a text child
//   el("a", { class: "x", href: u }, kid)    attributes, then children
//
// props: a string is the class name; an object sets attributes ("class"
// sets className); null/undefined sets nothing.  kids: nodes or strings
// (strings become text nodes); null and undefined are skipped.

export const SVG_NS = "http://www.w3.org/2000/svg";

function fill(e, props, kids) {
  if (typeof props === "string") e.className = props;
  else if (props)
    for (const [k, v] of Object.entries(props)) {
      if (k === "class" && e.namespaceURI !== SVG_NS) e.className = v;
      else e.setAttribute(k, String(v));
    }
  for (const k of kids) if (k !== undefined && k !== null) e.append(k);
  return e;
}

export function el(tag, props, ...kids) {
  return fill(document.createElement(tag), props, kids);
}

// The same for SVG elements (attributes only: an SVG className is not a
// string).
export function svgEl(tag, props, ...kids) {
  return fill(document.createElementNS(SVG_NS, tag), props, kids);
}
