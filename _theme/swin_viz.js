// Fit every plotly figure of a book page to its container, and choose its panel grid by the width.
//
// A figure is drawn by an inline script while the page is still being parsed, before the page's side bars exist:
// it would keep the width it measured then (wider than the article column). This script redraws each figure at
// its container's width whenever that width changes (ResizeObserver), and, where the figure carries
// layout.meta.swin_viz_grid (swin_viz.viz.render.to_plotly_dict), shows as many panel columns as fit.
(function () {
  "use strict";

  function columnsFor(grid, width) {
    const most = Math.max(...Object.keys(grid.grids).map(Number));
    return Math.max(1, Math.min(most, Math.floor(width / grid.min_panel_width)));
  }

  // The figure's width is set explicitly to its element's: plotly pins the width as soon as a relayout sets the
  // height (which a new grid does), after which its own autosize would no longer follow the container.
  function applyGrid(div, cols) {
    const grid = div.layout && div.layout.meta && div.layout.meta.swin_viz_grid;
    if (!grid || !grid.grids[cols]) return Promise.resolve();
    const patch = grid.grids[cols];
    div.__swinVizCols = cols;
    div.style.height = patch.layout.height + "px";
    const wrapper = div.parentElement;  // plotly's to_html wraps the figure in a div of the first height
    if (wrapper && wrapper.style.height && wrapper.querySelectorAll(".plotly-graph-div").length === 1) {
      wrapper.style.height = "auto";
    }
    const byKey = {};
    for (const [index, update] of Object.entries(patch.traces)) {
      for (const [key, value] of Object.entries(update)) {
        (byKey[key] = byKey[key] || { indices: [], values: [] }).indices.push(Number(index));
        byKey[key].values.push(value);
      }
    }
    let done = Plotly.relayout(div, { ...patch.layout, width: div.clientWidth });
    for (const [key, { indices, values }] of Object.entries(byKey)) {
      done = done.then(() => Plotly.restyle(div, { [key]: values }, indices));
    }
    return done;
  }

  function fit(div, force) {
    if (!div._fullLayout || !div.isConnected || div.clientWidth === 0) return;
    const grid = div.layout.meta && div.layout.meta.swin_viz_grid;
    const cols = grid ? columnsFor(grid, div.clientWidth) : null;
    const regrid = grid && (force || cols !== div.__swinVizCols);
    (regrid ? applyGrid(div, cols) : Promise.resolve()).then(() => {
      if (Math.round(div._fullLayout.width) !== Math.round(div.clientWidth)) {
        return Plotly.relayout(div, { width: div.clientWidth });
      }
    });
  }

  function watch(div) {
    if (div.__swinVizWatched) return;
    div.__swinVizWatched = true;
    let width = -1;
    new ResizeObserver(() => {
      if (div.clientWidth !== width) {
        width = div.clientWidth;
        fit(div, false);
      }
    }).observe(div);
    // A slider step relayouts the panels' domains of the default grid: put the fitted grid back.
    div.on("plotly_sliderchange", () => setTimeout(() => fit(div, true), 0));
    fit(div, true);
  }

  function start() {
    if (typeof Plotly === "undefined") return;
    const pending = [...document.querySelectorAll(".plotly-graph-div")];
    let tries = 0;
    (function poll() {
      for (let i = pending.length - 1; i >= 0; i--) {
        if (pending[i]._fullLayout && pending[i].on) watch(pending.splice(i, 1)[0]);
      }
      if (pending.length && tries++ < 200) setTimeout(poll, 50);
    })();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
