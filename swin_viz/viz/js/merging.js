// The patch-merging order: which 2x2 slot each token fills and the order of the 4C concatenation.
// Arithmetic of swin_viz.merge_patches: cat([x[0::2, 0::2], x[1::2, 0::2], x[0::2, 1::2], x[1::2, 1::2]]),
// an odd side zero-padded at the bottom/right first.

const SLOTS = ["x0 (0::2, 0::2)", "x1 (1::2, 0::2)", "x2 (0::2, 1::2)", "x3 (1::2, 1::2)"];

const mergingComponent = {
  title: "Patch merging: the 2x2 gather",
  defaults: { H: 8, W: 8, C: 2, row: 1, col: 2 },
  controls: [
    { key: "H", label: "H (rows)", min: 2, max: 16 },
    { key: "W", label: "W (cols)", min: 2, max: 16 },
    { key: "C", label: "channels C", min: 1, max: 4 },
    { key: "row", label: "merged row", min: 0, max: 7 },
    { key: "col", label: "merged col", min: 0, max: 7 },
  ],
  clamp(st) {
    const H = clampInt(st.H, 2, 16), W = clampInt(st.W, 2, 16), C = clampInt(st.C, 1, 4);
    const Ho = Math.ceil(H / 2), Wo = Math.ceil(W / 2);
    const out = { H, W, C, row: clampInt(st.row, 0, Ho - 1), col: clampInt(st.col, 0, Wo - 1) };
    const notes = [];
    if (H % 2 || W % 2) notes.push(`An odd side is zero-padded at the bottom/right first: ${H} x ${W} -> ${H + (H % 2)} x ${W + (W % 2)}.`);
    return [out, notes.join(" ")];
  },
  ranges({ H, W }) {
    return { row: [0, Math.ceil(H / 2) - 1], col: [0, Math.ceil(W / 2) - 1] };
  },
  compute({ H, W, C, row, col }) {
    const Hp = H + (H % 2), Wp = W + (W % 2);
    const slot = [];  // (Hp, Wp): 0..3, or 4 for padding
    for (let r = 0; r < Hp; r++) {
      const line = [];
      for (let c = 0; c < Wp; c++) line.push(r >= H || c >= W ? 4 : (r % 2) + 2 * (c % 2));
      slot.push(line);
    }
    const order = [[0, 0], [1, 0], [0, 1], [1, 1]];
    // The 4C vector of merged token (row, col): the source (r, c, channel) of each entry, [-1, -1, k] = padding.
    const vector = [];
    for (const [dr, dc] of order) {
      const r = 2 * row + dr, c = 2 * col + dc;
      for (let k = 0; k < C; k++) vector.push(r < H && c < W ? [r, c, k] : [-1, -1, k]);
    }
    return { Hp, Wp, Ho: Hp / 2, Wo: Wp / 2, slot, vector, outChannels: 2 * C };
  },
  draw(res, { H, W, C, row, col }) {
    const { Hp, Wp, slot, vector } = res;
    const colors = [...PALETTE.REGION_COLORS.slice(0, 4), "#BDBDBD"];
    const cell = clampInt(320 / Math.max(Hp, Wp), 12, 40);
    const map = cellGrid({ rows: Hp, cols: Wp, cell, xLabel: "token column", yLabel: "token row",
      outlines: [{ r0: 2 * row, c0: 2 * col, r1: 2 * row + 2, c1: 2 * col + 2, color: PALETTE.HIGHLIGHT, width: 3 }],
      color: (r, c) => colors[slot[r][c]], label: (r, c) => (slot[r][c] === 4 ? "0" : "x" + slot[r][c]), title: "2x2 slots" });
    const vcell = clampInt(400 / vector.length, 14, 40);
    const strip = cellGrid({ rows: 1, cols: vector.length, cell: vcell, xLabel: `channel of the ${4 * C}-vector`, yLabel: "",
      color: (_, i) => (vector[i][0] < 0 ? colors[4] : colors[Math.floor(i / C)]),
      label: vcell >= 28 ? (_, i) => (vector[i][0] < 0 ? "0" : `${vector[i][0]},${vector[i][1]}`) : null, title: "4C vector" });
    return [
      panel("(a) which slot each token fills", map, SLOTS.join(", ")),
      panel(`(b) merged token (${row}, ${col}): the ${4 * C} channels in order`, strip,
        `x0 | x1 | x2 | x3, C=${C} channels each; then LayerNorm(${4 * C}) and Linear(${4 * C} -> ${2 * C}): ${H} x ${W} x ${C} -> ${res.Ho} x ${res.Wo} x ${2 * C}`),
    ];
  },
};
