// Draws the statistics page's charts with Chart.js (static/vendor/, installed from the npm
// registry by scripts/console_assets.sh) from the JSON the page carries; no inline script.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("chart-data").textContent);
  var colours = ["#2f6fb0", "#d9822b", "#3a9a5b", "#b0413e", "#7b5ea7", "#888888"];
  var types = {volume: "bar", tokens: "bar", latency: "bar", errors: "bar", intents: "doughnut",
               models: "doughnut", finish_reasons: "doughnut"};
  document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
    var chart = data[canvas.dataset.chart];
    var type = types[canvas.dataset.chart] || "bar";
    var datasets = chart.series.map(function (series, index) {
      var colour = type === "doughnut" ? colours : colours[index % colours.length];
      return {label: series.name, data: series.values, backgroundColor: colour};
    });
    new Chart(canvas, {
      type: type,
      data: {labels: chart.labels, datasets: datasets},
      options: {animation: false, responsive: false,
                plugins: {legend: {display: type === "doughnut" || datasets.length > 1}}}
    });
  });
}());
