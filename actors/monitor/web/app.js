// The monitor page: one EventSource on /events (the monitor pushes a full snapshot whenever
// something changed, at most every pushEveryMs; EventSource reconnects by itself), tables
// rendered from it, and two uPlot charts (errors/warnings per bin, rows/s per tickerplant).
import uPlot from '/vendor/uPlot.esm.js';
import { binCounts } from '/bins.js';
import { renderAlerts, renderChecks, renderLag, renderLogs, renderProcesses, renderRates } from '/render.js';

let last;
let errorsPlot;
let ratesPlot;
let ratesKey = '';

function width(el) {
  return Math.max(300, el.clientWidth - 10);
}

let binSec = 300;

function drawErrors() {
  if (!last) return;
  const binMinutes = Number(document.getElementById('bin-minutes').value);
  const spanMinutes = Number(document.getElementById('span-minutes').value);
  const b = binCounts(last.errorMinutes, binMinutes, spanMinutes, Date.parse(last.now));
  // uPlot's time axis is in seconds. Each bin is drawn at its middle: errors left of it, warnings
  // right of it, and the axis is padded by half a bin so the first and last bars are whole.
  binSec = binMinutes * 60;
  const data = [b.starts.map((t) => t / 1000 + binSec / 2), b.errors, b.warns];
  const el = document.getElementById('errors-chart');
  if (!errorsPlot) {
    const bar = (align) => uPlot.paths.bars({ size: [0.45, 40], align });
    errorsPlot = new uPlot(
      {
        width: width(el),
        height: 220,
        scales: {
          x: { time: true, range: (_u, min, max) => [min - binSec / 2, max + binSec / 2] },
          y: { range: (_u, _min, max) => [0, Math.max(1, max)] },
        },
        series: [
          {},
          { label: 'errors', stroke: '#c62828', fill: 'rgba(198,40,40,0.6)', paths: bar(-1), points: { show: false } },
          { label: 'warnings', stroke: '#ef6c00', fill: 'rgba(239,108,0,0.45)', paths: bar(1), points: { show: false } },
        ],
      },
      data,
      el,
    );
  } else errorsPlot.setData(data);
  el.dataset.errors = String(b.errors.reduce((x, y) => x + y, 0));
  el.dataset.bins = String(b.starts.length);
}

function drawRates() {
  if (!last) return;
  const tps = Object.keys(last.rateSeries).sort();
  const el = document.getElementById('rates-chart');
  // One x axis for all tickerplants: the union of their sample times (samples of one are at its beats).
  const times = [...new Set(tps.flatMap((tp) => last.rateSeries[tp].map(([t]) => t)))].sort((a, b) => a - b);
  const data = [times.map((t) => t / 1000), ...tps.map((tp) => {
    const m = new Map(last.rateSeries[tp]);
    return times.map((t) => (m.has(t) ? m.get(t) : null));
  })];
  const key = tps.join(',');
  if (!ratesPlot || key !== ratesKey) {
    ratesPlot?.destroy();
    ratesKey = key;
    const colors = ['#1565c0', '#6a1b9a', '#00838f', '#558b2f', '#ad1457'];
    ratesPlot = new uPlot(
      { width: width(el), height: 220, scales: { x: { time: true } }, series: [{}, ...tps.map((tp, i) => ({ label: `${tp} rows/s`, stroke: colors[i % colors.length], spanGaps: true }))] },
      data,
      el,
    );
  } else ratesPlot.setData(data);
}

function render(snap) {
  last = snap;
  document.getElementById('monitor-name').textContent = snap.monitor;
  document.getElementById('updated').textContent = `updated ${new Date(snap.now).toLocaleTimeString()}`;
  renderProcesses(snap);
  renderLogs(snap);
  renderAlerts(snap);
  renderLag(snap);
  renderRates(snap);
  renderChecks(snap);
  drawErrors();
  drawRates();
}

function connect() {
  const conn = document.getElementById('conn');
  const es = new EventSource('/events');
  es.addEventListener('open', () => {
    conn.dataset.conn = 'live';
    conn.textContent = 'live';
  });
  es.addEventListener('error', () => {
    conn.dataset.conn = 'reconnecting';
    conn.textContent = 'reconnecting';
  });
  es.addEventListener('snapshot', (e) => {
    try {
      render(JSON.parse(e.data));
    } catch (err) {
      console.error('monitor page: bad snapshot', err);
    }
  });
}

for (const id of ['bin-minutes', 'span-minutes']) document.getElementById(id).addEventListener('change', drawErrors);
window.addEventListener('resize', () => {
  for (const [p, id] of [[errorsPlot, 'errors-chart'], [ratesPlot, 'rates-chart']]) p?.setSize({ width: width(document.getElementById(id)), height: 220 });
});
connect();
