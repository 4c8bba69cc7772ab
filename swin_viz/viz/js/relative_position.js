// The relative position index and the bias-table lookup. Arithmetic of swin_viz.relative_position_index:
// index[i, j] = (dy + M - 1) * (2M - 1) + (dx + M - 1), (dy, dx) = position(query i) - position(key j).

function relativeIndex(M) {
  const N = M * M, index = [];
  for (let i = 0; i < N; i++) {
    const row = [];
    for (let j = 0; j < N; j++) {
      const dy = Math.floor(i / M) - Math.floor(j / M), dx = (i % M) - (j % M);
      row.push((dy + M - 1) * (2 * M - 1) + (dx + M - 1));
    }
    index.push(row);
  }
  return index;
}

function sequential(t) {  // viridis-like ramp for 0..1
  const stops = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  const x = Math.min(Math.max(t, 0), 1) * (stops.length - 1), k = Math.min(Math.floor(x), stops.length - 2), f = x - k;
  const c = stops[k].map((v, i) => Math.round(v + f * (stops[k + 1][i] - v)));
  return "#" + c.map((v) => v.toString(16).padStart(2, "0")).join("");
}

const relativePositionComponent = {
  title: "Relative position index and the bias table",
  defaults: { M: 4, query: 5 },
  controls: [
    { key: "M", label: "window M", min: 2, max: 12 },
    { key: "query", label: "query token", min: 0, max: 143 },
  ],
  clamp(st) {
    const M = clampInt(st.M, 2, 12);
    const query = clampInt(st.query, 0, M * M - 1);
    const note = Number(st.query) > M * M - 1 ? `query ${st.query} is outside the ${M * M} tokens of the window: using ${query}.` : "";
    return [{ M, query }, note];
  },
  ranges({ M }) {
    return { query: [0, M * M - 1] };
  },
  compute({ M, query }) {
    const index = relativeIndex(M);
    const T = 2 * M - 1;
    const used = new Set(index.flat());
    return { M, N: M * M, T, index, row: index[query], tableSize: T * T, distinct: used.size, entries: M ** 4 };
  },
  draw(res, { query }) {
    const { M, N, T, index, row } = res;
    const qr = Math.floor(query / M), qc = query % M;
    const cell = clampInt(300 / M, 14, 44);
    const win = cellGrid({ rows: M, cols: M, cell, xLabel: "key column", yLabel: "key row",
      outlines: [{ r0: qr, c0: qc, r1: qr + 1, c1: qc + 1, color: PALETTE.HIGHLIGHT, width: 3 }],
      color: (r, c) => sequential(row[r * M + c] / (T * T - 1)),
      label: cell >= 22 ? (r, c) => row[r * M + c] : null, title: "table row read for each key" });
    const lookup = new Map(row.map((t, k) => [t, k]));
    const tcell = clampInt(300 / T, 6, 30);
    const table = cellGrid({ rows: T, cols: T, cell: tcell, xLabel: "dx + M - 1", yLabel: "dy + M - 1",
      color: (r, c) => (lookup.has(r * T + c) ? sequential((r * T + c) / (T * T - 1)) : "#EEEEEE"),
      label: tcell >= 22 ? (r, c) => (lookup.has(r * T + c) ? `${r - M + 1},${c - M + 1}` : "") : null,
      outlines: [{ r0: M - 1, c0: M - 1, r1: M, c1: M, color: PALETTE.HIGHLIGHT, width: 2 }], title: "bias table" });
    const out = [
      panel(`(a) query ${query} at (${qr}, ${qc}): the table row of each key`, win, "index = (dy + M - 1)(2M - 1) + (dx + M - 1)"),
      panel(`(b) the (2M-1)² = ${T * T}-row table: the ${N} rows this query reads`, table, "labels: (dy, dx); outlined: offset (0, 0)"),
    ];
    if (N <= 49) {
      const icell = clampInt(300 / N, 3, 12);
      out.push(panel(`(c) relative_position_index: (${N}, ${N})`, cellGrid({ rows: N, cols: N, cell: icell, xLabel: "key", yLabel: "query",
        outlines: [{ r0: query, c0: 0, r1: query + 1, c1: N, color: PALETTE.HIGHLIGHT, width: 2 }],
        color: (i, j) => sequential(index[i][j] / (T * T - 1)), title: "index" }),
        `${res.entries} entries read from ${res.tableSize} table rows (every row used: ${res.distinct === res.tableSize})`));
    }
    return out;
  },
};
