// Draw every <div class="chart" data-figure="{plotly figure JSON}"> with the locally served Plotly.
(function () {
  "use strict";
  if (typeof Plotly === "undefined") { return; }
  document.querySelectorAll(".chart[data-figure]").forEach(function (el) {
    try {
      var fig = JSON.parse(el.getAttribute("data-figure"));
      Plotly.newPlot(el, fig.data, fig.layout, {responsive: true, displaylogo: false});
    } catch (e) {
      el.textContent = String(e);
    }
  });
})();
