// The cyclic shift and its regions: the naive shifted windows, the rolled map with its regular windows, regions
// 0..8 travelling with their tokens. Arithmetic of swin_viz.cyclic_shift (torch.roll by -s) and region_labels.

function bands(size, window, shift) {
  const out = [];
  for (let p = 0; p < size; p++) out.push(shift ? (p >= size - window) + (p >= size - shift) : 0);
  return out;
}

function shiftState(st, { maxSide = 28, mRange = [2, 8] } = {}) {
  const notes = [];
  const M = clampInt(st.M, mRange[0], mRange[1]);
  const hi = Math.floor(maxSide / M) * M;
  const out = { ...st, M };
  for (const axis of ["H", "W"]) {
    const v = Math.round(Number(st[axis]));
    const fixed = Math.min(Math.max(M, Math.round(v / M) * M), hi);
    if (fixed !== v) notes.push(`${axis} rounded to a multiple of M=${M}: ${fixed}.`);
    out[axis] = fixed;
  }
  const sv = Math.round(Number(st.s));
  out.s = Math.min(Math.max(sv, 0), Math.floor(M / 2));
  if (out.s !== sv) notes.push(`s must be in 0..M//2=${Math.floor(M / 2)}: using s=${out.s}.`);
  for (const axis of ["H", "W"]) if (out[axis] === M && out.s) notes.push(`${axis}=${M} is a single window: the model does not shift along it.`);
  return [out, notes];
}

function shiftCompute({ H, W, M, s }) {
  const [Mh, sh] = H <= M ? [H, 0] : [M, s];
  const [Mw, sw] = W <= M ? [W, 0] : [M, s];
  const shifted = [];  // (H, W): the token (original index r*W + c) at each position after cyclic_shift
  for (let i = 0; i < H; i++) {
    const row = [];
    for (let j = 0; j < W; j++) row.push(((i + sh) % H) * W + ((j + sw) % W));
    shifted.push(row);
  }
  const rb = bands(H, Mh, sh), cb = bands(W, Mw, sw);
  const regions = rb.map((r) => cb.map((c) => 3 * r + c));  // (H, W): region of each position of the rolled map
  const tokenRegion = new Array(H * W);
  for (let i = 0; i < H; i++) for (let j = 0; j < W; j++) tokenRegion[shifted[i][j]] = regions[i][j];
  const cuts = (size, m, sft) => [...new Set([0, size, ...Array.from({ length: Math.ceil(size / m) + 1 }, (_, k) => sft + k * m).filter((c) => c > 0 && c < size)])].sort((a, b) => a - b);
  const rowCuts = cuts(H, Mh, sh), colCuts = cuts(W, Mw, sw);
  return { Mh, Mw, sh, sw, shifted, regions, tokenRegion, rowCuts, colCuts,
    naiveWindows: (rowCuts.length - 1) * (colCuts.length - 1), windows: (H / Mh) * (W / Mw) };
}

const shiftComponent = {
  title: "Cyclic shift",
  defaults: { H: 8, W: 8, M: 4, s: 2 },
  controls: [
    { key: "M", label: "window M", min: 2, max: 8 },
    { key: "H", label: "H (rows)", min: 2, max: 28 },
    { key: "W", label: "W (cols)", min: 2, max: 28 },
    { key: "s", label: "shift s", min: 0, max: 4 },
  ],
  clamp(st) {
    const [out, notes] = shiftState(st);
    return [out, notes.join(" ")];
  },
  ranges({ M }) {
    const hi = Math.floor(28 / M) * M;
    return { H: [M, hi, M], W: [M, hi, M], s: [0, Math.floor(M / 2)] };
  },
  compute: shiftCompute,
  draw(res, { H, W }) {
    const { Mh, Mw, sh, sw, shifted, tokenRegion, rowCuts, colCuts } = res;
    const cell = clampInt(360 / Math.max(H, W), 8, 32);
    const ids = H * W <= 64;
    const naive = [];
    for (let a = 0; a + 1 < rowCuts.length; a++) for (let b = 0; b + 1 < colCuts.length; b++) naive.push({ r0: rowCuts[a], c0: colCuts[b], r1: rowCuts[a + 1], c1: colCuts[b + 1] });
    const grid = [];
    for (let r = 0; r < H; r += Mh) for (let c = 0; c < W; c += Mw) grid.push({ r0: r, c0: c, r1: r + Mh, c1: c + Mw });
    const regionColor = (k) => PALETTE.REGION_COLORS[tokenRegion[k]];
    const before = cellGrid({ rows: H, cols: W, cell, outlines: naive, xLabel: "token column", yLabel: "token row",
      color: (r, c) => regionColor(r * W + c), label: ids ? (r, c) => r * W + c : null, title: "naive shifted windows" });
    const after = cellGrid({ rows: H, cols: W, cell, outlines: grid, xLabel: "token column", yLabel: "token row",
      color: (r, c) => regionColor(shifted[r][c]), label: ids ? (r, c) => shifted[r][c] : null, title: "after cyclic_shift" });
    const shiftText = sh === sw ? `${sh}` : `(${sh}, ${sw})`;
    return [
      panel(`(a) naive shift by ${shiftText}: ${res.naiveWindows} windows`, before, "colour = region the token lands in after the roll"),
      panel(`(b) cyclic_shift: ${res.windows} windows of ${Mh}x${Mw}`, after,
        sh || sw ? "the top rows and left columns wrapped round to the bottom/right; regions 0..8 = 3 x row band + column band" : "no shift (W-MSA)"),
    ];
  },
};
