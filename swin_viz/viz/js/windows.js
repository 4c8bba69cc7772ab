// Windows and partition: which window each token falls in, and the (nW, Mh*Mw) batch window attention sees.
// Arithmetic of swin_viz.effective_window, pad_to_window and window_partition (windows and tokens row-major).

function effectiveAxis(size, M, shift) {
  return size <= M ? [size, 0] : [M, shift];
}

const MAX_BATCH_ROWS = 64;

const windowsComponent = {
  title: "Window partition",
  defaults: { H: 14, W: 14, M: 7 },
  controls: [
    { key: "H", label: "H (rows)", min: 1, max: 64 },
    { key: "W", label: "W (cols)", min: 1, max: 64 },
    { key: "M", label: "window M", min: 1, max: 16 },
  ],
  clamp(st) {
    const out = { H: clampInt(st.H, 1, 64), W: clampInt(st.W, 1, 64), M: clampInt(st.M, 1, 16) };
    const notes = [];
    if (Math.max(out.H, out.W) < out.M) notes.push(`M=${out.M} is larger than the whole ${out.H} x ${out.W} map: the model uses one ${out.H} x ${out.W} window.`);
    else if (Math.min(out.H, out.W) < out.M) notes.push(`On the axis shorter than M=${out.M}, the model clamps the window to the map.`);
    if ((out.H % out.M || out.W % out.M) && Math.min(out.H, out.W) >= out.M) notes.push(`M=${out.M} does not divide ${out.H} x ${out.W}: the map is zero-padded at the bottom/right first.`);
    return [out, notes.join(" ")];
  },
  compute({ H, W, M }) {
    const [Mh] = effectiveAxis(H, M, 0);
    const [Mw] = effectiveAxis(W, M, 0);
    const Hp = Math.ceil(H / Mh) * Mh, Wp = Math.ceil(W / Mw) * Mw;
    const gridCols = Wp / Mw, nW = (Hp / Mh) * gridCols, N = Mh * Mw;
    const windowOf = [];  // (Hp, Wp): window index of every position of the padded map
    for (let r = 0; r < Hp; r++) {
      const row = [];
      for (let c = 0; c < Wp; c++) row.push(Math.floor(r / Mh) * gridCols + Math.floor(c / Mw));
      windowOf.push(row);
    }
    const batch = [];  // (nW, N): [row, col] of the map token in each slot, [-1, -1] for padding
    for (let w = 0; w < nW; w++) {
      const r0 = Math.floor(w / gridCols) * Mh, c0 = (w % gridCols) * Mw, tokens = [];
      for (let n = 0; n < N; n++) {
        const r = r0 + Math.floor(n / Mw), c = c0 + (n % Mw);
        tokens.push(r < H && c < W ? [r, c] : [-1, -1]);
      }
      batch.push(tokens);
    }
    return { Mh, Mw, Hp, Wp, pad: [Hp - H, Wp - W], nW, N, windowOf, batch };
  },
  draw(res, { H, W }) {
    const { Mh, Mw, Hp, Wp, nW, N, windowOf, batch } = res;
    const cell = clampInt(400 / Math.max(Hp, Wp), 5, 28);
    const outlines = [];
    for (let r = 0; r < Hp; r += Mh) for (let c = 0; c < Wp; c += Mw) outlines.push({ r0: r, c0: c, r1: r + Mh, c1: c + Mw });
    const labelled = nW <= 100 && cell * Math.min(Mh, Mw) >= 14;
    const map = cellGrid({ rows: Hp, cols: Wp, cell, outlines, xLabel: "token column", yLabel: "token row",
      color: (r, c) => (r >= H || c >= W ? "#BDBDBD" : windowColor(windowOf[r][c])),
      label: labelled ? (r, c) => (r % Mh === Math.floor((Mh - 1) / 2) && c % Mw === Math.floor((Mw - 1) / 2) ? windowOf[r][c] : "") : null,
      title: "token map coloured by window" });
    const rows = Math.min(nW, MAX_BATCH_ROWS);
    const bcell = clampInt(400 / Math.max(N, rows), 3, 24);
    const seen = cellGrid({ rows, cols: N, cell: bcell, xLabel: `token within the window (0..${N - 1})`, yLabel: "window (batch index)",
      color: (w, n) => (batch[w][n][0] < 0 ? "#BDBDBD" : windowColor(w)),
      label: bcell >= 14 ? (w, n) => (batch[w][n][0] < 0 ? "" : n) : null, title: "window_partition output" });
    const padNote = res.pad[0] || res.pad[1] ? `, padded by (${res.pad[0]}, ${res.pad[1]}) to ${Hp} x ${Wp}` : "";
    return [
      panel(`Token map, coloured by window (${Mh} x ${Mw} windows)`, map, `${nW} windows of ${N} tokens${padNote}`),
      panel("What attention sees: one row per window", seen,
        rows < nW ? `first ${rows} of ${nW} windows` : `(${nW}, ${N}): the batch axis of window attention; grey = padding`),
    ];
  },
};
