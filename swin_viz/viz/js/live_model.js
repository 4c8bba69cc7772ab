// The live Swin: the shipped digits-small model runs in the page (onnxruntime-web, WebAssembly, one thread), on
// the ONNX graph swin_viz.export_onnx writes (logits, every block's attention probabilities, every stage's map).
// The reader draws a digit (or picks a validation digit); every stroke reruns the model and redraws the patch
// grid, the windows and shifted windows over the drawing, the attention of the picked token (each block, each
// head), the stage maps and the class probabilities.
//
// model keys: ort_url (the onnxruntime-web ES module), wasm_url and wasm_mjs_url (its WebAssembly and loader),
// model_url (the .onnx), all four gzipped, meta ({size, patch, window, depths, heads, classes, mean, std, outputs, digits}).
// In Jupyter the Python side passes blob-able bytes instead: ort_js, wasm, wasm_mjs, onnx (see components.py).
// el.swinViz exposes infer(pixels) and the timings for the browser test and bench/bench_pages.py.

function injectStyle() {
  if (!document.getElementById("swin-viz-style")) document.head.append(h("style", { id: "swin-viz-style", text: STYLE }));
}

const LIVE_SCALE = 8;   // screen pixels per image pixel on the drawing canvas

function liveBytes(v) {  // anywidget hands binary traits over as DataView
  return v instanceof DataView ? new Uint8Array(v.buffer, v.byteOffset, v.byteLength) : new Uint8Array(v);
}

function liveBlobUrl(bytes, type) {
  return URL.createObjectURL(new Blob([liveBytes(bytes)], { type }));
}

async function liveInflate(url) {  // fetch a .gz file and gunzip it in the page (the static server sends it as is)
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return new Uint8Array(await new Response(response.body.pipeThrough(new DecompressionStream("gzip"))).arrayBuffer());
}

async function liveLoad(model) {
  // The book: four gzipped files next to the page. Jupyter: the same files over the widget's comm.
  const files = model.get("ort_url")
    ? await Promise.all(["ort_url", "wasm_mjs_url", "wasm_url", "model_url"].map((k) => liveInflate(model.get(k))))
    : ["ort_js", "wasm_mjs", "wasm", "onnx"].map((k) => liveBytes(model.get(k)));
  const [ortUrl, mjsUrl, wasmUrl] = [[files[0], "text/javascript"], [files[1], "text/javascript"],
    [files[2], "application/wasm"]].map(([bytes, type]) => liveBlobUrl(bytes, type));
  const onnx = files[3];
  const ort = await import(ortUrl);
  ort.env.wasm.numThreads = 1;  // no cross-origin isolation needed
  ort.env.wasm.wasmPaths = { wasm: wasmUrl, mjs: mjsUrl };
  return ort.InferenceSession.create(onnx, { executionProviders: ["wasm"] }).then((s) => [ort, s]);
}

// Where token (r, c) of an H x W map sits in a block's attention batch: window w, slot n (swin_viz.SwinBlock:
// pad to the window, roll by -shift, window_partition), and the map position of every key of that window.
function liveWindowSlot(H, W, M, shift, r, c) {
  const mh = Math.min(H, M), mw = Math.min(W, M), sh = H <= M ? 0 : shift, sw = W <= M ? 0 : shift;
  const Hp = Math.ceil(H / mh) * mh, Wp = Math.ceil(W / mw) * mw;
  const pr = (r - sh + Hp) % Hp, pc = (c - sw + Wp) % Wp;
  const wr = Math.floor(pr / mh), wc = Math.floor(pc / mw);
  const keys = [];
  for (let k = 0; k < mh * mw; k++) {
    const kr = (wr * mh + Math.floor(k / mw) + sh) % Hp, kc = (wc * mw + (k % mw) + sw) % Wp;
    keys.push(kr < H && kc < W ? [kr, kc] : null);
  }
  return { w: wr * (Wp / mw) + wc, n: (pr % mh) * mw + (pc % mw), N: mh * mw, keys, mh, mw, sh, sw, Hp, Wp };
}

function liveHeat(v) {  // 0..1 -> a light-to-dark blue
  const t = Math.max(0, Math.min(1, v));
  return `rgb(${Math.round(247 - 219 * t)},${Math.round(251 - 143 * t)},${Math.round(255 - 75 * t)})`;
}

function liveCanvas(px, title) {
  const c = h("canvas", { width: px, height: px, title, style: `width:${px}px;height:${px}px;border:1px solid #ccc` });
  return c;
}

const liveModelComponent = {
  title: "Swin, live: draw a digit",
  async mount(model, el) {
    const meta = model.get("meta");
    const S = meta.size, P = meta.patch, M = meta.window;
    const state = { pixels: new Float32Array(S * S), token: [Math.floor(S / P / 2), Math.floor(S / P / 2)],
      overlay: "windows", block: 0, timings: [], busy: false, pending: false, strokeAt: 0 };
    const status = h("div", { class: "swin-viz-note", text: "Loading the model (onnxruntime-web)..." });
    const draw = liveCanvas(S * LIVE_SCALE, "draw here; shift-click (or 'pick a token') chooses the token");
    const mode = h("select", {}, [h("option", { value: "draw", text: "pointer: draw" }),
      h("option", { value: "erase", text: "pointer: erase" }), h("option", { value: "pick", text: "pointer: pick a token" })]);
    const overlay = h("select", {}, [["patches", "patch grid"], ["windows", "windows (W-MSA)"],
      ["shifted", "shifted windows (SW-MSA)"], ["none", "no grid"]].map(([v, t]) => h("option", { value: v, text: t })));
    overlay.value = state.overlay;
    const digit = h("select", {}, [h("option", { value: "", text: "validation digit..." }),
      ...meta.digits.map((d, i) => h("option", { value: i, text: `#${d.index}: a ${d.label}` }))]);
    const clear = h("button", { text: "clear" });
    const controls = h("div", { class: "swin-viz-controls" }, [mode, overlay, digit, clear]);
    const probs = h("div", { class: "swin-viz-live-probs" });
    const stages = h("div", { style: "display:flex;gap:8px;flex-wrap:wrap" });
    const attn = h("div", { style: "display:flex;flex-direction:column;gap:6px" });
    el.append(h("div", { class: "swin-viz-live" }, [status, controls,
      h("div", { style: "display:flex;gap:16px;flex-wrap:wrap;align-items:flex-start" }, [
        panel("Your drawing, with the token grid", draw, "the red cell is the picked token"),
        panel("Class probabilities", probs, "softmax of the logits")]),
      panel("Attention of the picked token: one row per block, one column per head", attn,
        "each map is the token's stage map; darker = more attention; only its window's keys can be non-zero"),
      panel("Stage maps (L2 norm of each token's features)", stages, "stage1.hook_out, stage2.hook_out, ...")]));

    let ort, session;
    try { [ort, session] = await liveLoad(model); } catch (err) {
      status.textContent = `The live model could not load: ${err}`;
      return;
    }
    status.textContent = "Draw a digit (or pick a validation digit). Every stroke reruns the model in your browser.";

    const infer = async (pixels) => {
      const x = new Float32Array(3 * S * S);
      for (let ch = 0; ch < 3; ch++)
        for (let i = 0; i < S * S; i++) x[ch * S * S + i] = (pixels[i] - meta.mean[ch]) / meta.std[ch];
      const out = await session.run({ image: new ort.Tensor("float32", x, [1, 3, S, S]) });
      const res = {};
      for (const name of meta.outputs) res[name] = { dims: out[name].dims, data: out[name].data };
      return res;
    };

    const paintDrawing = (res) => {
      const ctx = draw.getContext("2d"), k = LIVE_SCALE;
      for (let r = 0; r < S; r++) for (let c = 0; c < S; c++) {
        const v = Math.round(255 * (1 - state.pixels[r * S + c]));
        ctx.fillStyle = `rgb(${v},${v},${v})`;
        ctx.fillRect(c * k, r * k, k, k);
      }
      const T = S / P, cell = P * k;
      ctx.lineWidth = 1;
      ctx.strokeStyle = "rgba(120,120,120,0.35)";
      for (let i = 0; i <= T; i++) {
        ctx.beginPath(); ctx.moveTo(i * cell, 0); ctx.lineTo(i * cell, S * k); ctx.stroke();
        ctx.beginPath(); ctx.moveTo(0, i * cell); ctx.lineTo(S * k, i * cell); ctx.stroke();
      }
      if (state.overlay === "windows" || state.overlay === "shifted") {
        const s = state.overlay === "shifted" && T > M ? Math.floor(M / 2) : 0;
        ctx.lineWidth = 3;
        for (let i = 0; i * M - s <= T; i++) {
          const y = (i * M - s) * cell;  // window borders of the stage-1 map, shifted windows start s tokens up/left
          ctx.strokeStyle = s ? PALETTE.HIGHLIGHT : PALETTE.OUTLINE;
          if (y >= 0) { ctx.beginPath(); ctx.moveTo(0, y); ctx.lineTo(S * k, y); ctx.stroke();
            ctx.beginPath(); ctx.moveTo(y, 0); ctx.lineTo(y, S * k); ctx.stroke(); }
        }
      }
      ctx.strokeStyle = PALETTE.HIGHLIGHT; ctx.lineWidth = 3;
      ctx.strokeRect(state.token[1] * cell, state.token[0] * cell, cell, cell);
    };

    const paintProbs = (logits) => {
      const m = Math.max(...logits), e = logits.map((v) => Math.exp(v - m)), z = e.reduce((a, b) => a + b, 0);
      probs.replaceChildren(...meta.classes.map((name, i) => {
        const p = e[i] / z;
        return h("div", { style: "display:flex;align-items:center;gap:4px;font:12px sans-serif" }, [
          h("span", { text: name, style: "width:1.2em;text-align:right" }),
          h("div", { style: `width:${Math.round(160 * p)}px;height:12px;background:${PALETTE.WINDOW_COLORS[0]}` }),
          h("span", { text: (100 * p).toFixed(1) + "%" })]);
      }));
    };

    const mapCanvas = (H, W, value, px, mark) => {
      const c = liveCanvas(px, ""), ctx = c.getContext("2d"), k = px / Math.max(H, W);
      for (let r = 0; r < H; r++) for (let q = 0; q < W; q++) { ctx.fillStyle = liveHeat(value(r, q)); ctx.fillRect(q * k, r * k, k, k); }
      if (mark) { ctx.strokeStyle = PALETTE.HIGHLIGHT; ctx.lineWidth = 2; ctx.strokeRect(mark[1] * k, mark[0] * k, k, k); }
      return c;
    };

    const paintAttention = (res) => {
      const rows = [];
      let b = 0;
      meta.depths.forEach((depth, si) => {
        const H = S / P / 2 ** si, W = H, heads = meta.heads[si];
        const r = Math.min(H - 1, Math.floor(state.token[0] / 2 ** si)), c = Math.min(W - 1, Math.floor(state.token[1] / 2 ** si));
        for (let j = 0; j < depth; j++, b++) {
          const name = `stage${si + 1}.block${j}.attn.hook_probs`, out = res[name];
          const shift = j % 2 ? Math.floor(M / 2) : 0, slot = liveWindowSlot(H, W, M, shift, r, c);
          const [, , Nq, Nk] = out.dims;
          const cells = [h("span", { text: `stage ${si + 1} block ${j} (${slot.sh || slot.sw ? "SW" : "W"}-MSA)`,
            style: "font:12px sans-serif;width:11em" })];
          for (let hd = 0; hd < heads; hd++) {
            const row = (slot.w * heads + hd) * Nq * Nk + slot.n * Nk, at = new Map();
            let top = 0;
            slot.keys.forEach((key, k) => { if (key) { const p = out.data[row + k]; at.set(key[0] * W + key[1], p); top = Math.max(top, p); } });
            cells.push(mapCanvas(H, W, (y, x) => (at.get(y * W + x) || 0) / (top || 1), 64, [r, c]));
          }
          rows.push(h("div", { style: "display:flex;gap:4px;align-items:center;flex-wrap:wrap" }, cells));
        }
      });
      attn.replaceChildren(...rows);
    };

    const paintStages = (res) => {
      stages.replaceChildren(...meta.depths.map((_, si) => {
        const out = res[`stage${si + 1}.hook_out`], [, H, W, C] = out.dims, norm = new Float32Array(H * W);
        for (let i = 0; i < H * W; i++) { let s2 = 0; for (let q = 0; q < C; q++) s2 += out.data[i * C + q] ** 2; norm[i] = Math.sqrt(s2); }
        const lo = Math.min(...norm), hi = Math.max(...norm);
        return panel(`stage ${si + 1}: ${H} x ${W} x ${C}`, mapCanvas(H, W, (y, x) => (norm[y * W + x] - lo) / (hi - lo || 1), 96), "");
      }));
    };

    const update = async () => {
      if (state.busy) { state.pending = true; return; }
      state.busy = true;
      const started = state.strokeAt || performance.now();
      const res = await infer(state.pixels);
      paintDrawing(res); paintProbs(Array.from(res.logits.data)); paintAttention(res); paintStages(res);
      state.timings.push(performance.now() - started);
      state.strokeAt = 0;
      state.busy = false;
      if (state.pending) { state.pending = false; update(); }
    };

    const brush = (x, y, erase) => {
      for (let r = Math.floor(y - 2); r <= y + 2; r++) for (let c = Math.floor(x - 2); c <= x + 2; c++) {
        if (r < 0 || c < 0 || r >= S || c >= S) continue;
        const d = Math.hypot(r + 0.5 - y, c + 0.5 - x), v = Math.max(0, Math.min(1, 2.2 - d));
        const i = r * S + c;
        state.pixels[i] = erase ? Math.min(state.pixels[i], 1 - v) : Math.max(state.pixels[i], v);
      }
    };
    let down = false;
    const at = (ev) => { const b = draw.getBoundingClientRect(); return [(ev.clientX - b.left) / b.width * S, (ev.clientY - b.top) / b.height * S]; };
    draw.addEventListener("pointerdown", (ev) => {
      const [x, y] = at(ev);
      if (mode.value === "pick" || ev.shiftKey) {
        state.token = [Math.min(S / P - 1, Math.floor(y / P)), Math.min(S / P - 1, Math.floor(x / P))];
        state.strokeAt = performance.now(); update(); return;
      }
      down = true; draw.setPointerCapture(ev.pointerId); brush(x, y, mode.value === "erase");
      state.strokeAt = performance.now(); update();
    });
    draw.addEventListener("pointermove", (ev) => {
      if (!down) return;
      const [x, y] = at(ev);
      brush(x, y, mode.value === "erase");
      if (!state.strokeAt) state.strokeAt = performance.now();
      update();
    });
    draw.addEventListener("pointerup", () => (down = false));
    overlay.addEventListener("change", () => { state.overlay = overlay.value; update(); });
    clear.addEventListener("click", () => { state.pixels.fill(0); update(); });
    digit.addEventListener("change", () => {
      if (digit.value === "") return;
      const d = meta.digits[Number(digit.value)];
      for (let i = 0; i < S * S; i++) state.pixels[i] = d.pixels[i] / 255;
      state.strokeAt = performance.now(); update();
    });
    if (meta.digits.length) { const d = meta.digits[0]; for (let i = 0; i < S * S; i++) state.pixels[i] = d.pixels[i] / 255; }
    el.swinViz = { infer, state, pixels: () => Array.from(state.pixels), timings: state.timings,
      idle: () => !state.busy && !state.pending, windowSlot: liveWindowSlot };
    el.dataset.ready = "1";
    await update();
  },
};
