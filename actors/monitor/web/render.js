// Table rendering for the monitor page. Every value goes in through textContent (never HTML):
// log messages and attributes come from other processes and are shown as text only.

/** @param {string} tag @param {string | number | null | undefined} text @param {string} [cls] */
export function cell(tag, text, cls) {
  const el = document.createElement(tag);
  el.textContent = text === null || text === undefined ? '' : String(text);
  if (cls) el.className = cls;
  return el;
}

/** Replaces a table's body with one row per item. */
export function fillTable(id, items, rowOf) {
  const body = document.querySelector(`#${id} tbody`);
  const rows = items.map((it) => {
    const tr = document.createElement('tr');
    rowOf(tr, it);
    return tr;
  });
  body.replaceChildren(...rows);
}

export function duration(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms) || ms < 0) return '';
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

export function timeOf(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleTimeString();
}

function badge(text, cls) {
  const b = cell('span', text, `badge ${cls}`);
  const td = document.createElement('td');
  td.className = 'state';
  td.append(b);
  return td;
}

export function renderProcesses(snap) {
  const nowMs = Date.parse(snap.now);
  fillTable('processes', snap.processes, (tr, p) => {
    tr.dataset.proc = p.name;
    tr.dataset.state = p.state;
    tr.className = `state-${p.state}`;
    const sup = p.sup;
    const started = sup?.startedAt ?? p.startedAt;
    const exit = sup?.lastExit ? `${sup.lastExit.signal ?? `code ${sup.lastExit.code}`} at ${timeOf(sup.lastExit.at)}` : '';
    const stateText = p.registered ? p.state : `${p.state} (${sup?.state ?? 'not registered'})`;
    tr.append(
      cell('td', p.name, 'name'),
      cell('td', p.proctype),
      badge(stateText, p.state),
      cell('td', p.lastSeen ? `${timeOf(p.lastSeen)} (${duration(p.ageMs)} ago)` : 'never', 'last-seen'),
      cell('td', [p.host, p.pid].filter((x) => x !== null && x !== '').join(' / ')),
      cell('td', started ? duration(nowMs - Date.parse(started)) : '', 'num'),
      cell('td', sup ? sup.restarts : '', 'num'),
      cell('td', exit),
      cell('td', p.attributes, 'attrs'),
    );
  });
  const n = (s) => snap.processes.filter((p) => p.state === s).length;
  document.getElementById('proc-summary').textContent = `${snap.processes.length} processes: ${n('ok')} ok, ${n('warning')} warning, ${n('error')} error (warning after ${snap.health.warnAfterBeats} missed beats, error after ${snap.health.errorAfterBeats})`;
}

function fieldsText(f) {
  if (!f) return '';
  return Object.entries(f)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
}

export function renderLogs(snap) {
  const { logLines, badMessages } = snap.dropped;
  document.getElementById('logs-dropped').textContent = logLines || badMessages ? `(monitor dropped ${logLines} over its rate limit, ${badMessages} malformed)` : '';
  fillTable('logs', snap.logs, (tr, l) => {
    tr.className = `level-${l.level}`;
    tr.dataset.level = l.level;
    tr.dataset.proc = l.name;
    tr.append(cell('td', timeOf(l.at)), cell('td', l.level, 'level'), cell('td', `${l.proctype}.${l.name}`), cell('td', l.msg, 'msg'), cell('td', fieldsText(l.fields), 'fields'));
  });
}

export function renderAlerts(snap) {
  fillTable('alerts', snap.alerts, (tr, a) => {
    tr.className = `level-${a.level}`;
    tr.dataset.level = a.level;
    tr.append(cell('td', timeOf(a.at)), cell('td', a.level, 'level'), cell('td', `${a.source.proctype}.${a.source.name}`), cell('td', a.kind), cell('td', a.subject ? `${a.message} (${a.subject})` : a.message, 'msg'));
  });
}

export function renderLag(snap) {
  document.getElementById('lag-at').textContent = snap.lagAt ? `(read ${timeOf(snap.lagAt)})` : '(not read yet)';
  fillTable('lag', snap.lag, (tr, r) => {
    tr.dataset.consumer = r.consumer;
    tr.append(
      cell('td', r.stream),
      cell('td', r.consumer),
      cell('td', r.filter),
      cell('td', r.pending, 'num'),
      cell('td', r.bytesBehind, 'num'),
      cell('td', `${r.delivered} / ${r.streamLast}`, 'num'),
      cell('td', r.ackPending, 'num'),
    );
  });
}

export function renderRates(snap) {
  fillTable('rates', snap.rates, (tr, r) => {
    tr.dataset.table = r.table;
    tr.append(cell('td', r.tp), cell('td', r.table), cell('td', r.rowsPerSec.toFixed(1), 'num'), cell('td', r.count, 'num'));
  });
}

export function renderChecks(snap) {
  const panel = document.getElementById('checks-panel');
  panel.hidden = !snap.checks;
  if (!snap.checks) return;
  fillTable('checks', snap.checks, (tr, c) => {
    // pending (not run yet) is orange; error and timeout are red.
    const cls = c.status === 'ok' ? 'ok' : c.status === 'pending' ? 'warning' : 'error';
    tr.className = `state-${cls}`;
    tr.dataset.status = c.status;
    const td = document.createElement('td');
    td.append(cell('span', c.status, `badge ${cls}`));
    tr.dataset.check = `${c.family}.${c.metric}`;
    const took = c.durationMs === null || c.durationMs === undefined ? '' : ` (${c.durationMs} ms)`;
    tr.append(cell('td', c.family), cell('td', c.metric), cell('td', c.process), td, cell('td', c.lastRun ? `${timeOf(c.lastRun)}${took}` : ''), cell('td', c.lastResult, 'msg'), cell('td', c.message, 'msg'));
  });
}
