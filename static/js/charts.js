// Draws every chart on the page whose figure (built on the server) sits in a json_script island.
(function () {
  "use strict";
  function draw() {
    document.querySelectorAll("[data-figure]").forEach(function (element) {
      if (element.dataset.drawn) return;
      const island = document.getElementById(element.dataset.figure);
      if (!island || typeof Plotly === "undefined") return;
      const figure = JSON.parse(island.textContent);
      Plotly.newPlot(element, figure.data, figure.layout, { displayModeBar: false, responsive: true });
      element.dataset.drawn = "1";
    });
  }
  draw();
  // After an htmx swap (the figures appear once a replay finishes).
  document.addEventListener("htmx:afterSettle", draw);
})();
