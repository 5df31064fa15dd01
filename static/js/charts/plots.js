// Draws every <figure class="plot"> of the page with the vendored Chart.js 4 (UMD: window.Chart) and its box-plot
// (window.ChartBoxPlot) and error-bar (window.ChartErrorBars) plugins, loaded before this module by
// templates/evaluate/_plot_scripts.html. Each figure names the <script type="application/json"> element that
// evaluate/plots.py's data reached through `json_script`: {id, title, kind, caption, columns, rows, options}.
// No data is ever written into a script; this file only reads it. A drawn figure gets data-rendered="true".

const { Chart, ChartBoxPlot, ChartErrorBars } = window;

Chart.register(
  ChartBoxPlot.BoxPlotController,
  ChartBoxPlot.BoxAndWiskers,
  ChartErrorBars.BarWithErrorBarsController,
  ChartErrorBars.BarWithErrorBar,
  ChartErrorBars.ScatterWithErrorBarsController,
  ChartErrorBars.PointWithErrorBar,
);

const PALETTE = ["#2c5cc5", "#c2451e", "#1a7f37", "#8e5bb7", "#c77d1a", "#0e7c86", "#8e1b1b", "#6b7280", "#9a9a2a"];
const ROW_HEIGHT = 28; // px per group of a horizontal chart
const BASE = { animation: false, responsive: true, maintainAspectRatio: false };

function color(i, alpha = 1) {
  const hex = PALETTE[i % PALETTE.length];
  if (alpha === 1) return hex;
  const [r, g, b] = [1, 3, 5].map((at) => parseInt(hex.slice(at, at + 2), 16));
  return `rgba(${r}, ${g}, ${b}, ${alpha})`;
}

// Axis bounds from a metric's value range [low, high or null]; null leaves Chart.js to choose.
function bounds(range) {
  if (!range) return {};
  const [min, max] = range;
  return max === null ? { min } : { min, max };
}

// A vertical line at x = options.zero (the line of no difference on forest plots).
const zeroLine = {
  id: "t2jZeroLine",
  afterDatasetsDraw(chart, args, options) {
    if (options.at === null || options.at === undefined) return;
    const { ctx, chartArea, scales } = chart;
    const x = scales.x.getPixelForValue(options.at);
    if (x < chartArea.left || x > chartArea.right) return;
    ctx.save();
    ctx.strokeStyle = "#6b7280";
    ctx.setLineDash([4, 3]);
    ctx.beginPath();
    ctx.moveTo(x, chartArea.top);
    ctx.lineTo(x, chartArea.bottom);
    ctx.stroke();
    ctx.restore();
  },
};

const BUILDERS = {
  // Per-group box plot with the values as a strip (options.points[group], when sent) and the mean.
  box(plot) {
    const points = plot.options.points || {};
    const data = plot.rows.map((row) => ({
      min: row.min,
      q1: row.q1,
      median: row.median,
      q3: row.q3,
      max: row.max,
      whiskerMin: row.whisker_low,
      whiskerMax: row.whisker_high,
      mean: row.mean,
      items: points[row.group] || [],
      outliers: [],
    }));
    return {
      type: "boxplot",
      data: {
        labels: plot.rows.map((row) => row.group),
        datasets: [
          {
            label: plot.title,
            data,
            backgroundColor: color(0, 0.25),
            borderColor: color(0),
            itemRadius: 2.5,
            itemBackgroundColor: color(1, 0.6),
            meanStyle: "rectRot",
            meanRadius: 4,
            meanBackgroundColor: color(1),
          },
        ],
      },
      options: { ...BASE, plugins: { legend: { display: false } }, scales: { y: bounds(plot.options.value_range) } },
    };
  },

  // One horizontal bar per group: the mean, with its CI as an error bar.
  bars(plot) {
    return {
      type: "barWithErrorBars",
      data: {
        labels: plot.rows.map((row) => row.group),
        datasets: [
          {
            label: "mean",
            data: plot.rows.map((row) => ({ x: row.mean, xMin: row.low ?? row.mean, xMax: row.high ?? row.mean })),
            backgroundColor: color(0, 0.45),
            errorBarColor: "#1f2328",
            errorBarWhiskerColor: "#1f2328",
          },
        ],
      },
      options: {
        ...BASE,
        indexAxis: "y",
        plugins: { legend: { display: false } },
        scales: { x: bounds(plot.options.value_range) },
      },
      rows: plot.rows.length,
    };
  },

  // Estimates with intervals, one row each (paired differences, Bradley–Terry), and the line of no difference.
  forest(plot) {
    const labels = plot.rows.map((row) => row.label);
    return {
      type: "scatterWithErrorBars",
      data: {
        datasets: [
          {
            label: "estimate",
            data: plot.rows.map((row) => ({
              x: row.estimate,
              y: row.label,
              xMin: row.low ?? row.estimate,
              xMax: row.high ?? row.estimate,
            })),
            backgroundColor: color(0),
            borderColor: color(0),
            pointRadius: 5,
            errorBarColor: "#1f2328",
            errorBarWhiskerColor: "#1f2328",
          },
        ],
      },
      options: {
        ...BASE,
        plugins: { legend: { display: false }, t2jZeroLine: { at: plot.options.zero } },
        scales: {
          // The line of no difference stays in view however far from it the estimates lie.
          x: {
            type: "linear",
            suggestedMin: plot.options.zero ?? undefined,
            suggestedMax: plot.options.zero ?? undefined,
            ...bounds(plot.options.value_range),
          },
          y: { type: "category", labels, offset: true },
        },
      },
      plugins: [zeroLine],
      rows: labels.length,
    };
  },

  // Points per group against FixCost Score, and the least-squares line (options.fit) over all of them.
  scatter(plot) {
    const groups = [...new Set(plot.rows.map((row) => row.group))];
    const datasets = groups.map((group, i) => ({
      type: "scatter",
      label: group,
      data: plot.rows.filter((row) => row.group === group).map((row) => ({ x: row.x, y: row.y })),
      backgroundColor: color(i, 0.6),
      borderColor: color(i),
      pointRadius: 3,
    }));
    const fit = plot.options.fit;
    if (fit) {
      datasets.push({
        type: "line",
        label: "least-squares fit",
        data: [
          { x: fit.x0, y: fit.y0 },
          { x: fit.x1, y: fit.y1 },
        ],
        borderColor: "#1f2328",
        borderWidth: 1.5,
        pointRadius: 0,
      });
    }
    return {
      type: "scatter",
      data: { datasets },
      options: {
        ...BASE,
        scales: {
          x: { ...bounds(plot.options.x_range), title: { display: true, text: plot.options.x_label } },
          y: { ...bounds(plot.options.y_range), title: { display: true, text: plot.options.y_label } },
        },
      },
    };
  },

  // Counts per group as horizontal stacked bars, one colour per category (categories with no count left out).
  stacked(plot) {
    const groupKey = plot.columns[0];
    const categories = plot.options.categories.filter((category) => plot.rows.some((row) => row[category]));
    return {
      type: "bar",
      data: {
        labels: plot.rows.map((row) => row[groupKey]),
        datasets: categories.map((category, i) => ({
          label: category,
          data: plot.rows.map((row) => row[category]),
          backgroundColor: color(i, 0.8),
        })),
      },
      options: { ...BASE, indexAxis: "y", scales: { x: { stacked: true, ticks: { precision: 0 } }, y: { stacked: true } } },
      rows: plot.rows.length,
    };
  },
};

function draw(figure) {
  const plot = JSON.parse(document.getElementById(figure.dataset.plot).textContent);
  const build = BUILDERS[plot.kind];
  if (!build) throw new Error(`unknown plot kind ${plot.kind}`);
  const { rows, ...config } = build(plot);
  const holder = figure.querySelector(".plot-canvas");
  if (rows) holder.style.height = `${Math.max(160, 70 + rows * ROW_HEIGHT)}px`;
  new Chart(holder.querySelector("canvas"), config);
  figure.dataset.rendered = "true";
}

for (const figure of document.querySelectorAll("figure.plot[data-plot]")) {
  try {
    draw(figure);
  } catch (error) {
    figure.dataset.rendered = "error";
    console.error(`plot ${figure.id}:`, error);
  }
}
