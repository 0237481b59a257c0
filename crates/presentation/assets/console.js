// Strata console: draws the trend charts with uPlot. Each chart is a
// <div class="uplot-target" data-series='[{"name": .., "points": [[unix_ms, value|null], ..]}, ..]'>
// rendered by the server; no inline script (the Content-Security-Policy
// forbids it), no network access beyond this origin.
(function () {
  "use strict";
  var colors = ["#2563eb", "#dc2626", "#16a34a", "#9333ea"];

  function draw(el) {
    if (el.dataset.drawn || typeof uPlot === "undefined") return;
    el.dataset.drawn = "1";
    var series = JSON.parse(el.dataset.series || "[]");
    if (!series.length) return;
    var xs = series[0].points.map(function (p) { return p[0] / 1000; });
    var data = [xs];
    var opts = {
      width: Math.max(280, Math.min(el.clientWidth || 480, 720)),
      height: 180,
      series: [{}],
      axes: [{}, {}],
      legend: { show: true },
    };
    series.forEach(function (s, i) {
      data.push(s.points.map(function (p) { return p[1]; }));
      opts.series.push({ label: s.name, stroke: colors[i % colors.length], width: 1.5, spanGaps: false });
    });
    new uPlot(opts, data, el);
  }

  function drawAll(root) {
    (root || document).querySelectorAll(".uplot-target").forEach(draw);
  }

  document.addEventListener("DOMContentLoaded", function () { drawAll(document); });
  document.addEventListener("htmx:load", function (e) { drawAll(e.target); });
})();
