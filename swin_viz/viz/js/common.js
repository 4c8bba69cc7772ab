// Shared helpers of the swin_viz explorer components (ES module text; swin_viz.viz.components prepends
// `const PALETTE = {...}` from swin_viz.viz.palette and appends one component).
//
// A component is an anywidget-style module: `render({model, el})`, where `model` has get/set/on/save_changes.
// In Jupyter that model is the widget's (synced with Python); in the static book it is `staticModel(state)`.
// Each component also exposes its arithmetic (pure functions of the state) as `el.swinViz`, which the
// browser test calls over a grid of parameters and compares with swin_viz's tensors.

const SVG_NS = "http://www.w3.org/2000/svg";

function h(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "style") node.style.cssText = v;
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const c of [].concat(children)) node.append(c);
  return node;
}

function s(tag, attrs = {}, children = []) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const c of [].concat(children)) node.append(c);
  return node;
}

function clampInt(v, lo, hi) {
  v = Math.round(Number(v));
  if (!Number.isFinite(v)) v = lo;
  return Math.min(Math.max(v, lo), hi);
}

function windowColor(i) {
  return PALETTE.WINDOW_COLORS[((i % PALETTE.WINDOW_COLORS.length) + PALETTE.WINDOW_COLORS.length) % PALETTE.WINDOW_COLORS.length];
}

function textOn(color) {
  const r = parseInt(color.slice(1, 3), 16) / 255, g = parseInt(color.slice(3, 5), 16) / 255,
    b = parseInt(color.slice(5, 7), 16) / 255;
  return 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.45 ? PALETTE.FONT_COLOR : PALETTE.BACKGROUND;
}

// A model for the static book: the same interface as anywidget's, held in the page.
function staticModel(initial) {
  const values = { ...initial };
  const handlers = {};
  return {
    get: (key) => values[key],
    set: (key, value) => {
      values[key] = value;
      for (const f of handlers["change:" + key] || []) f();
    },
    on: (event, f) => (handlers[event] = handlers[event] || []).push(f),
    off: () => {},
    save_changes: () => {},
  };
}

// Controls: a wrapping row of labelled sliders / checkboxes / selects, each of a fixed width.
function controlRow(specs, state, onInput) {
  const row = h("div", { class: "swin-viz-controls" });
  const inputs = {};
  for (const spec of specs) {
    let input;
    const value = h("output", { class: "swin-viz-value" });
    if (spec.kind === "checkbox") {
      input = h("input", { type: "checkbox", "data-key": spec.key });
    } else if (spec.kind === "select") {
      input = h("select", { "data-key": spec.key }, spec.options.map(([v, label]) => h("option", { value: v, text: label })));
    } else {
      input = h("input", { type: "range", "data-key": spec.key, min: spec.min, max: spec.max, step: spec.step || 1 });
    }
    const label = h("label", { class: "swin-viz-control", title: spec.help || "" },
      [h("span", { class: "swin-viz-label", text: spec.label }), input, value]);
    // The control owns its keys: arrows move the slider, and the notebook around it (JupyterLab's command-mode
    // shortcuts, which skip targets under data-lm-suppress-shortcuts) does not see them.
    input.addEventListener("keydown", (event) => event.stopPropagation());
    input.addEventListener("input", () => onInput(spec.key, readInput(input, spec)));
    input.addEventListener("change", () => onInput(spec.key, readInput(input, spec)));
    inputs[spec.key] = { input, value, spec };
    row.append(label);
  }
  const sync = (st, ranges = {}) => {
    for (const [key, { input, value, spec }] of Object.entries(inputs)) {
      const r = ranges[key];
      if (r) {
        input.min = r[0];
        input.max = r[1];
        if (r.length > 2) input.step = r[2];
      }
      if (spec.kind === "checkbox") input.checked = !!st[key];
      else input.value = String(st[key]);
      value.textContent = spec.kind === "checkbox" ? "" : spec.kind === "select" ? "" : String(st[key]);
    }
  };
  sync(state);
  return { row, sync, inputs };
}

function readInput(input, spec) {
  if (spec.kind === "checkbox") return input.checked;
  if (spec.kind === "select") return spec.numeric ? Number(input.value) : input.value;
  return Number(input.value);
}

// A grid of coloured cells as an SVG that scales to its container (viewBox), with optional labels and outlines.
function cellGrid({ rows, cols, color, label, title, cell = 24, outlines = [], xLabel = "", yLabel = "", maxWidth = 420 }) {
  const pad = 28;
  const width = cols * cell + pad + 6, height = rows * cell + pad + 22;
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, class: "swin-viz-grid", role: "img", "aria-label": title || "" });
  svg.style.width = "100%";
  svg.style.maxWidth = Math.min(maxWidth, Math.max(160, width * 1.6)) + "px";
  if (title) svg.append(s("title", { text: title }));
  const g = s("g", { transform: `translate(${pad},${18})` });
  const fontSize = Math.max(6, Math.min(11, cell * 0.42));
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const fill = color(r, c);
      const rect = s("rect", { x: c * cell, y: r * cell, width: cell, height: cell, fill, stroke: "#ffffff", "stroke-width": 0.5 });
      g.append(rect);
      const text = label ? label(r, c) : null;
      if (text !== null && text !== undefined && text !== "") {
        g.append(s("text", { x: c * cell + cell / 2, y: r * cell + cell / 2, "font-size": fontSize, "text-anchor": "middle",
          "dominant-baseline": "central", fill: textOn(fill), text: String(text) }));
      }
    }
  }
  for (const o of outlines) {
    g.append(s("rect", { x: o.c0 * cell, y: o.r0 * cell, width: (o.c1 - o.c0) * cell, height: (o.r1 - o.r0) * cell,
      fill: o.fill || "none", stroke: o.color || PALETTE.OUTLINE, "stroke-width": o.width || 1.5,
      "stroke-dasharray": o.dash ? "4 3" : "none" }));
  }
  svg.append(g);
  if (xLabel) svg.append(s("text", { x: pad + (cols * cell) / 2, y: 12, "font-size": 10, "text-anchor": "middle", fill: PALETTE.FONT_COLOR, text: xLabel }));
  if (yLabel) svg.append(s("text", { x: 10, y: 18 + (rows * cell) / 2, "font-size": 10, "text-anchor": "middle", fill: PALETTE.FONT_COLOR,
    transform: `rotate(-90 10 ${18 + (rows * cell) / 2})`, text: yLabel }));
  return svg;
}

function panel(title, body, caption) {
  return h("figure", { class: "swin-viz-panel" }, [h("figcaption", { text: title }), body].concat(caption ? [h("p", { class: "swin-viz-note", text: caption })] : []));
}

const STYLE = `
.swin-viz{font-family:system-ui,sans-serif;font-size:13px;color:${PALETTE.FONT_COLOR};background:${PALETTE.BACKGROUND};
  border:1px solid #ddd;border-radius:6px;padding:8px;max-width:100%;box-sizing:border-box;overflow:hidden}
.swin-viz h4{margin:0 0 6px;font-size:15px}
.swin-viz-controls{display:flex;flex-wrap:wrap;gap:4px 16px;margin-bottom:6px}
.swin-viz-control{display:flex;align-items:center;gap:6px;flex:0 0 auto;width:300px;max-width:100%}
.swin-viz-label{flex:0 0 110px}
.swin-viz-control input[type=range]{flex:1 1 auto;min-width:0}
.swin-viz-value{flex:0 0 2.5em;text-align:right;font-variant-numeric:tabular-nums}
.swin-viz-panels{display:flex;flex-wrap:wrap;gap:8px 16px;align-items:flex-start}
.swin-viz-panel{margin:0;flex:1 1 300px;min-width:0;max-width:100%}
.swin-viz-panel figcaption{font-weight:600;margin-bottom:2px}
.swin-viz-note{margin:4px 0;color:#555}
.swin-viz-message{color:#555;min-height:1.2em;margin:2px 0 6px}
.swin-viz table{border-collapse:collapse;font-variant-numeric:tabular-nums;max-width:100%}
.swin-viz td,.swin-viz th{border-bottom:1px solid #eee;padding:2px 8px;text-align:right}
.swin-viz td:first-child,.swin-viz th:first-child{text-align:left}
`;

// The frame every component shares: title, controls, a message line, the panels; redraw on every change.
// `component` = {title, defaults, controls(state) -> specs, clamp(state) -> [state, message], ranges(state), compute(state),
// draw(result, state) -> [panel, ...]}.
function mount(component, model, el) {
  if (!document.getElementById("swin-viz-style")) {
    document.head.append(h("style", { id: "swin-viz-style", text: STYLE }));
  }
  const root = h("div", { class: "swin-viz", "data-lm-suppress-shortcuts": "true" });
  const message = h("div", { class: "swin-viz-message" });
  const panels = h("div", { class: "swin-viz-panels" });
  let [state, note] = component.clamp({ ...component.defaults, ...(model.get("state") || {}) });
  const controls = controlRow(component.controls, state, (key, value) => {
    const t0 = performance.now();
    const [next, why] = component.clamp({ ...state, [key]: value });
    state = next;
    draw(why);
    api.lastMs = performance.now() - t0;
    model.set("state", { ...state });
    model.save_changes();
  });
  const api = { compute: component.compute, clamp: component.clamp, state: () => ({ ...state }), result: null, lastMs: 0,
    set: (values) => {  // drive the component as a reader would, control by control (tests, benchmarks)
      const t0 = performance.now();
      for (const [key, value] of Object.entries(values)) {
        const entry = controls.inputs[key];
        if (!entry) throw new Error(`unknown control ${key}`);
        if (entry.spec.kind === "checkbox") entry.input.checked = !!value;
        else entry.input.value = String(value);
        entry.input.dispatchEvent(new Event("input"));
      }
      return performance.now() - t0;
    } };
  function draw(why) {
    controls.sync(state, component.ranges ? component.ranges(state) : {});
    const result = component.compute(state);
    api.result = result;
    message.textContent = why || "";
    panels.replaceChildren(...component.draw(result, state));
  }
  root.append(h("h4", { text: component.title }), controls.row, message, panels);
  el.replaceChildren(root);
  el.swinViz = api;
  draw(note);
  const opening = model.get("state") || {};
  if (Object.keys(state).some((k) => opening[k] !== state[k])) {  // Python learns the state the reader sees
    model.set("state", { ...state });
    model.save_changes();
  }
  model.on("change:state", () => {
    const incoming = model.get("state") || {};
    const same = Object.keys(incoming).every((k) => incoming[k] === state[k]);
    if (same) return;
    const [next, why] = component.clamp({ ...state, ...incoming });
    state = next;
    draw(why);
  });
  return () => {};
}
