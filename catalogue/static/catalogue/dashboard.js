// The admin dashboard's charts (Chart.js, vendored next to this file). The numbers come from the page
// (json_script "g4f-chart-data"); axis ticks and tooltips use the same formats as the tables.
(function () {
  "use strict";
  const COLORS = ["#417690", "#c62828", "#2e7d32", "#b26a00", "#6a1b9a", "#00838f", "#5d4037", "#546e7a"];
  const count = (n) => (n == null ? "-" : Number(n).toLocaleString("en-US"));
  const usd = (n) => (n == null ? "-" : n === 0 ? "$0" : n >= 1 ? "$" + n.toFixed(2) : "$" + n.toFixed(4));
  const ms = (n) => (n == null ? "-" : n < 10000 ? Math.round(n) + " ms" : (n / 1000).toFixed(1) + " s");

  function options(format, stacked) {
    return {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      plugins: {
        legend: { display: true, position: "bottom", labels: { boxWidth: 10 } },
        tooltip: { callbacks: { label: (c) => `${c.dataset.label}: ${format(c.parsed.y ?? c.parsed.x)}` } },
      },
      scales: { y: { beginAtZero: true, stacked: !!stacked, ticks: { callback: (v) => format(v) } }, x: { stacked: !!stacked } },
    };
  }

  function series(data, name) {
    switch (name) {
      case "requests":
        return { type: "bar", format: count, stacked: true, labels: data.labels, datasets: [
          { label: "Succeeded", data: data.requests.map((r, i) => r - data.errors[i]), backgroundColor: COLORS[0] },
          { label: "Errors", data: data.errors, backgroundColor: COLORS[1] }] };
      case "tokens":
        return { type: "line", format: count, labels: data.labels, datasets: [
          { label: "Tokens", data: data.tokens, borderColor: COLORS[2], backgroundColor: COLORS[2] }] };
      case "cost":
        return { type: "line", format: usd, labels: data.labels, datasets: [
          { label: "Cost", data: data.cost, borderColor: COLORS[3], backgroundColor: COLORS[3] }] };
      case "latency":
        return { type: "line", format: ms, labels: data.labels, datasets: [
          { label: "p50", data: data.p50, borderColor: COLORS[0], backgroundColor: COLORS[0], spanGaps: true },
          { label: "p95", data: data.p95, borderColor: COLORS[4], backgroundColor: COLORS[4], spanGaps: true }] };
      default: {
        const part = data.breakdowns[name];
        return { type: "bar", format: count, labels: part.labels, datasets: [
          { label: "Requests", data: part.requests, backgroundColor: part.labels.map((_, i) => COLORS[i % COLORS.length]) }] };
      }
    }
  }

  function draw() {
    const all = JSON.parse(document.getElementById("g4f-chart-data").textContent);
    let drawn = 0;
    for (const section of document.querySelectorAll("[data-window]")) {
      const data = all[section.dataset.window];
      for (const canvas of section.querySelectorAll("canvas[data-chart]")) {
        const spec = series(data, canvas.dataset.chart);
        new window.Chart(canvas, { type: spec.type, data: { labels: spec.labels, datasets: spec.datasets },
                                   options: options(spec.format, spec.stacked) });
        drawn += 1;
      }
    }
    document.body.dataset.chartsDrawn = String(drawn);
  }

  document.addEventListener("DOMContentLoaded", draw);
})();
