// Draws the dashboard's charts (mediamanager/dashboard.py builds their data) with the vendored
// Chart.js; no network. Each canvas is #chart-<key>; the data is the #dashboard-charts JSON.
(function () {
  "use strict";
  var data = document.getElementById("dashboard-charts");
  if (!data || typeof Chart === "undefined") { return; }
  var palette = ["#417690", "#79aec8", "#5b8c5a", "#e0a030", "#ba2121", "#6f42c1"];
  JSON.parse(data.textContent).forEach(function (config) {
    var canvas = document.getElementById("chart-" + config.key);
    if (!canvas) { return; }
    config.datasets.forEach(function (set, index) {
      set.backgroundColor = set.borderColor = palette[index % palette.length];
      set.borderWidth = set.type === "line" ? 2 : 0;
      set.pointRadius = set.type === "line" ? 1 : 0;
    });
    new Chart(canvas, {
      data: { labels: config.labels, datasets: config.datasets },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        scales: { x: { stacked: config.stacked }, y: { stacked: config.stacked, beginAtZero: true } },
        plugins: { legend: { display: config.datasets.length > 1 } }
      }
    });
  });
})();
