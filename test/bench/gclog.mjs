// Diagnostics preload: `NODE_OPTIONS="--import <this file>" TICKBUS_GCLOG=<dir>` makes every Node
// process write its GC pauses to <dir>/gc-<pid>.jsonl as {t (epoch ms at start), ms, kind} lines,
// its CPU time, run-queue wait and memory every 500 ms, plus its argv once, so pauses can be lined up with latency samples from other processes.
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { PerformanceObserver, constants, performance } from 'node:perf_hooks';

const dir = process.env.TICKBUS_GCLOG;
if (dir) {
  const file = `${dir}/gc-${process.pid}.jsonl`;
  writeFileSync(file, JSON.stringify({ argv: process.argv.slice(1).join(' '), execArgv: process.execArgv.join(' ') }) + '\n');
  const kinds = {
    [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
    [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
    [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
    [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
  };
  let buf = [];
  const flush = () => {
    if (buf.length) appendFileSync(file, buf.join(''));
    buf = [];
  };
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      buf.push(JSON.stringify({ t: performance.timeOrigin + e.startTime, ms: e.duration, kind: kinds[e.detail?.kind] ?? e.detail?.kind, flags: e.detail?.flags }) + '\n');
    }
    if (buf.length > 200) flush();
  });
  obs.observe({ entryTypes: ['gc'] });
  process.on('exit', flush);
  // CPU time (user+sys, ms) and heap/external bytes every 500 ms: the CPU a process spent over a window.
  const t = setInterval(() => {
    const c = process.cpuUsage();
    const m = process.memoryUsage();
    // The main (event loop) thread's time waiting for a CPU while runnable, ms (Linux schedstat).
    let wait;
    try {
      wait = Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[1]) / 1e6;
    } catch {}
    buf.push(JSON.stringify({ t: Date.now(), cpu: (c.user + c.system) / 1000, sys: c.system / 1000, wait, heap: m.heapUsed, ext: m.external, ab: m.arrayBuffers }) + '\n');
    flush();
  }, 500);
  t.unref();
}

// TICKBUS_ALLOCPROF=1 (with TICKBUS_GCLOG): a sampling allocation profile including objects the
// GC already collected (what the process allocates, not what it keeps), written at exit to
// <dir>/alloc-<pid>.heapprofile (open in Chrome DevTools).
if (dir && process.env.TICKBUS_ALLOCPROF === '1') {
  const { Session } = await import('node:inspector');
  const session = new Session();
  session.connect();
  session.post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  process.on('exit', () => {
    session.post('HeapProfiler.stopSampling', (err, r) => {
      if (!err) writeFileSync(`${dir}/alloc-${process.pid}.heapprofile`, JSON.stringify(r.profile));
    });
  });
}
