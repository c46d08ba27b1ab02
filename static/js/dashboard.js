// The dashboard's charts. Figures are built on the server (review/charts.py) and arrive in the
// #dashboard-charts data island; each is drawn with the vendored plotly.js, and a click on a
// point opens the decisions explorer at the URL the point carries in its customdata.
(function () {
  "use strict";

  const CONFIG = {
    displaylogo: false,
    responsive: true,
    modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d"],
  };

  function follow(event) {
    const point = event && event.points && event.points[0];
    if (point && typeof point.customdata === "string" && point.customdata.startsWith("/")) {
      window.location.assign(point.customdata);
    }
  }

  function draw() {
    const island = document.getElementById("dashboard-charts");
    if (!island) return;
    const figures = JSON.parse(island.textContent);
    for (const [key, figure] of Object.entries(figures)) {
      const element = document.querySelector('.plot[data-chart="' + key + '"]');
      if (!element) continue;
      Plotly.newPlot(element, figure.data, figure.layout, CONFIG).then(function () {
        element.dataset.rendered = "true";
        element.on("plotly_click", follow);
      });
    }
  }

  // On a full load the scripts run in order; when htmx swaps this page in, each script is
  // inserted anew and runs once loaded, so plotly.js may still be on its way.
  if (window.Plotly) {
    draw();
  } else {
    document.getElementById("plotly-script").addEventListener("load", draw, { once: true });
  }
})();
