// The FLOP calculator with separate h and w: the paper's eq. (1) and (2), exactly (BigInt), as
// swin_viz.omega_msa(h, w, C) and swin_viz.omega_wmsa(h, w, C, M) count them (MACs; FLOPs = 2 x MACs).

function omegaMsa(h, w, C) {
  const [H, W, c] = [BigInt(h), BigInt(w), BigInt(C)];
  return 4n * H * W * c * c + 2n * (H * W) ** 2n * c;
}

function omegaWmsa(h, w, C, M) {
  const [H, W, c, m] = [BigInt(h), BigInt(w), BigInt(C), BigInt(M)];
  return 4n * H * W * c * c + 2n * m * m * H * W * c;
}

function fmt(x) {
  const v = Number(x);
  return v >= 1e9 ? `${(v / 1e9).toFixed(3)} G` : v >= 1e6 ? `${(v / 1e6).toFixed(3)} M` : `${v.toFixed(0)}`;
}

const flopsComponent = {
  title: "Counting the work: global vs window attention",
  defaults: { h: 56, w: 56, C: 96, M: 7 },
  controls: [
    { key: "h", label: "tokens h (rows)", min: 1, max: 256 },
    { key: "w", label: "tokens w (cols)", min: 1, max: 256 },
    { key: "C", label: "channels C", min: 16, max: 768, step: 16 },
    { key: "M", label: "window M", min: 1, max: 16 },
  ],
  clamp(st) {
    const out = { h: clampInt(st.h, 1, 1024), w: clampInt(st.w, 1, 1024), C: clampInt(st.C, 1, 4096), M: clampInt(st.M, 1, 64) };
    const notes = [];
    if (out.M > Math.min(out.h, out.w)) notes.push(`M=${out.M} is larger than the map on one axis: eq. (2) assumes M divides h and w (the model clamps the window to the map).`);
    else if (out.h % out.M || out.w % out.M) notes.push(`M=${out.M} does not divide ${out.h} x ${out.w}: eq. (2) counts the unpadded map (the model pads).`);
    return [out, notes.join(" ")];
  },
  compute({ h, w, C, M }) {
    const msa = omegaMsa(h, w, C), wmsa = omegaWmsa(h, w, C, M);
    const proj = 4n * BigInt(h) * BigInt(w) * BigInt(C) ** 2n;
    return { msa: msa.toString(), wmsa: wmsa.toString(), projection: proj.toString(),
      ratio: Number(msa) / Number(wmsa), tokens: h * w };
  },
  draw(res, { h, w, C, M }) {
    const rows = [
      ["tokens hw", `${h} x ${w} = ${res.tokens}`, ""],
      ["Ω(MSA) = 4hwC² + 2(hw)²C", fmt(res.msa), "eq. (1)"],
      ["Ω(W-MSA) = 4hwC² + 2M²hwC", fmt(res.wmsa), "eq. (2)"],
      ["shared projections 4hwC²", fmt(res.projection), ""],
      ["Ω(MSA) / Ω(W-MSA)", `${res.ratio.toFixed(2)} x`, ""],
      ["FLOPs (2 x MACs), W-MSA", fmt(2n * BigInt(res.wmsa)), ""],
    ];
    const table = h_("table", rows);
    const lo = Math.log10(Math.max(1, Number(res.projection))), hi = Math.log10(Number(res.msa));
    const bar = (label, value, color) => {
      const frac = hi > lo ? (Math.log10(Number(value)) - lo) / (hi - lo) : 1;
      return `<div style="display:flex;align-items:center;gap:6px;margin:2px 0"><span style="flex:0 0 90px">${label}</span>` +
        `<span style="flex:1 1 auto;min-width:0"><span style="display:block;height:14px;width:${(8 + 92 * frac).toFixed(1)}%;background:${color}"></span></span>` +
        `<span style="flex:0 0 6em;text-align:right">${fmt(value)}</span></div>`;
    };
    const bars = document.createElement("div");
    bars.innerHTML = bar("MSA", res.msa, PALETTE.REGION_COLORS[2]) + bar("W-MSA", res.wmsa, PALETTE.REGION_COLORS[0]) + bar("4hwC²", res.projection, "#999999");
    return [
      panel(`MACs of one attention layer, C=${C}, M=${M}`, table, "paper 'FLOPs' = MACs (multiply-accumulates)"),
      panel("log scale, from the shared projections up", bars, "global attention grows with (hw)², window attention with hw"),
    ];
  },
};

function h_(tag, rows) {
  const t = document.createElement(tag);
  for (const r of rows) {
    const tr = document.createElement("tr");
    for (const v of r) { const td = document.createElement("td"); td.textContent = v; tr.append(td); }
    t.append(tr);
  }
  return t;
}
