// The attention mask of the shifted windows, with the "no mask" leak. Arithmetic of swin_viz.region_labels and
// swin_viz.shifted_window_mask: mask[w, i, j] = 0 when tokens i and j of window w share a region, else -100.
// (Needs the shift component's shiftState / shiftCompute, concatenated before this file.)

const MASK_VALUE = -100;

function maskCompute(st) {
  const base = shiftCompute(st);
  const { Mh, Mw, regions } = base;
  const gridCols = st.W / Mw, nW = (st.H / Mh) * gridCols, N = Mh * Mw;
  const w = Math.min(st.window, nW - 1), q = Math.min(st.query, N - 1);
  const labels = [];  // region of each token of window w, row-major
  const r0 = Math.floor(w / gridCols) * Mh, c0 = (w % gridCols) * Mw;
  for (let n = 0; n < N; n++) labels.push(regions[r0 + Math.floor(n / Mw)][c0 + (n % Mw)]);
  const mask = labels.map((a) => labels.map((b) => (a === b ? 0 : MASK_VALUE)));
  const attend = mask[q].map((v) => (st.masked ? v === 0 : true));
  const leak = mask[q].map((v) => v !== 0);  // keys only a block without the mask attends to
  return { ...base, nW, N, window: w, query: q, origin: [r0, c0], labels, mask, attend, leak,
    leaked: st.masked ? 0 : leak.filter(Boolean).length };
}

const maskComponent = {
  title: "The attention mask",
  defaults: { H: 14, W: 14, M: 7, s: 3, window: 3, query: 0, masked: true },
  controls: [
    { key: "M", label: "window M", min: 2, max: 8 },
    { key: "H", label: "H (rows)", min: 2, max: 28 },
    { key: "W", label: "W (cols)", min: 2, max: 28 },
    { key: "s", label: "shift s", min: 0, max: 4 },
    { key: "window", label: "window", min: 0, max: 3 },
    { key: "query", label: "query token", min: 0, max: 48 },
    { key: "masked", label: "mask on", kind: "checkbox" },
  ],
  clamp(st) {
    const [out, notes] = shiftState(st);
    const Mh = out.H <= out.M ? out.H : out.M, Mw = out.W <= out.M ? out.W : out.M;
    const nW = (out.H / Mh) * (out.W / Mw), N = Mh * Mw;
    out.window = clampInt(st.window, 0, nW - 1);
    out.query = clampInt(st.query, 0, N - 1);
    out.masked = !!st.masked;
    return [out, notes.join(" ")];
  },
  ranges(st) {
    const { M, H, W } = st;
    const hi = Math.floor(28 / M) * M;
    const Mh = H <= M ? H : M, Mw = W <= M ? W : M;
    return { H: [M, hi, M], W: [M, hi, M], s: [0, Math.floor(M / 2)], window: [0, (H / Mh) * (W / Mw) - 1], query: [0, Mh * Mw - 1] };
  },
  compute: maskCompute,
  draw(res, st) {
    const { H, W } = st;
    const { Mh, Mw, regions, N, labels, mask, attend, leak, query, origin } = res;
    const cell = clampInt(320 / Math.max(H, W), 6, 28);
    const grid = [];
    for (let r = 0; r < H; r += Mh) for (let c = 0; c < W; c += Mw) grid.push({ r0: r, c0: c, r1: r + Mh, c1: c + Mw });
    const qr = origin[0] + Math.floor(query / Mw), qc = origin[1] + (query % Mw);
    grid.push({ r0: origin[0], c0: origin[1], r1: origin[0] + Mh, c1: origin[1] + Mw, color: PALETTE.HIGHLIGHT, width: 3 });
    grid.push({ r0: qr, c0: qc, r1: qr + 1, c1: qc + 1, color: PALETTE.HIGHLIGHT, width: 3 });
    const map = cellGrid({ rows: H, cols: W, cell, outlines: grid, xLabel: "token column (shifted map)", yLabel: "token row",
      color: (r, c) => PALETTE.REGION_COLORS[regions[r][c]], label: H * W <= 196 ? (r, c) => regions[r][c] : null, title: "regions of the shifted map" });
    const mcell = clampInt(320 / N, 2, 20);
    const maskSvg = cellGrid({ rows: N, cols: N, cell: mcell, xLabel: "key", yLabel: "query",
      outlines: [{ r0: query, c0: 0, r1: query + 1, c1: N, color: PALETTE.HIGHLIGHT, width: 2 }],
      color: (i, j) => PALETTE.MASK_COLORS[mask[i][j] === 0 ? 0 : 1], title: "the window's mask" });
    const kcell = clampInt(300 / Math.max(Mh, Mw), 12, 36);
    const keys = cellGrid({ rows: Mh, cols: Mw, cell: kcell, xLabel: "key column in the window", yLabel: "key row",
      outlines: [{ r0: Math.floor(query / Mw), c0: query % Mw, r1: Math.floor(query / Mw) + 1, c1: (query % Mw) + 1, color: PALETTE.HIGHLIGHT, width: 3 }],
      color: (r, c) => { const n = r * Mw + c; return !attend[n] ? PALETTE.MASK_COLORS[1] : leak[n] ? PALETTE.HIGHLIGHT : PALETTE.REGION_COLORS[labels[n]]; },
      label: (r, c) => labels[r * Mw + c], title: "keys of the query" });
    const allowed = attend.filter(Boolean).length;
    const leakNote = st.masked
      ? `mask on: the query attends to ${allowed} of ${N} keys, all from its own region ${labels[query]}`
      : `mask off: it attends to all ${N} keys; ${res.leaked} (red) come from other regions, brought next to it by the roll from the far side of the image`;
    return [
      panel(`(a) regions, window ${res.window} and query ${query}`, map),
      panel(`(b) mask of window ${res.window}: (${N}, ${N}), 0 or ${MASK_VALUE}`, maskSvg, "light = attend (0), dark = masked; the query's row outlined"),
      panel("(c) the query's keys in the window", keys, leakNote),
    ];
  },
};
