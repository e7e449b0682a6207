// Proves the supervisor's decisions with a simulated clock and fake children (no processes, no
// sleeps): the backoff doubles from its first delay to its cap and starts over after a stable run;
// restart policies (always, on-failure, never); a crash loop marks the process failed and alerts
// while the others keep running; start brings a failed process back; stop keeps a process stopped
// (ctl stop, then SIGTERM, then SIGKILL, each after its bound); kill is SIGKILL at once; the
// records carry restarts, the last exit and the next start.
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../bus/log.ts';
import type { Clock } from '../../actors/common/clock.ts';
import { RestartPolicy } from '../../ops/config.ts';
import { decideExit, defaultSupervisorSettings, supervisorSettings, Supervisor, type Alert, type ExitInfo, type Launched, type SupRecord } from '../../ops/cli/supervisor.ts';

class FakeClock implements Clock {
  t = Date.UTC(2026, 0, 5, 9, 0, 0);
  private timers: Array<{ at: number; fn: () => void; id: number }> = [];
  private next = 1;
  now = () => this.t;
  setTimeout = (fn: (...args: unknown[]) => void, ms: number) => {
    const id = this.next++;
    this.timers.push({ at: this.t + ms, fn: fn as () => void, id });
    return id;
  };
  clearTimeout = (id: unknown) => {
    this.timers = this.timers.filter((x) => x.id !== id);
  };
  /** Moves time forward, running due timers in order, letting promises settle between them. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await flush();
      const due = this.timers.filter((x) => x.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.timers = this.timers.filter((x) => x !== due);
      this.t = due.at;
      due.fn();
    }
    this.t = end;
    await flush();
  }
}

const flush = async () => {
  for (let i = 0; i < 20; i++) await Promise.resolve();
};

interface FakeProc extends Launched {
  exit(e: ExitInfo): void;
  signals: string[];
}

function harness(opts: { policy?: RestartPolicy; names?: string[]; ignoreSigterm?: boolean; settings?: Partial<typeof defaultSupervisorSettings> } = {}) {
  const clock = new FakeClock();
  const records: SupRecord[] = [];
  const alerts: Alert[] = [];
  const procs = new Map<string, FakeProc[]>();
  const askedStop: string[] = [];
  let pid = 100;
  const sup = new Supervisor({
    launcher: 'up',
    clock,
    settings: { ...defaultSupervisorSettings, ...opts.settings },
    logger: silentLogger,
    onRecord: (r) => records.push(r),
    onAlert: (a) => alerts.push(a),
  });
  for (const name of opts.names ?? ['a']) {
    sup.add({
      procname: name,
      proctype: 'rdb',
      policy: opts.policy ?? RestartPolicy.always,
      launch: () => {
        let resolve!: (e: ExitInfo) => void;
        const exited = new Promise<ExitInfo>((r) => (resolve = r));
        const p: FakeProc = {
          pid: pid++,
          exited,
          signals: [],
          exit: (e) => resolve(e),
          kill: (s) => {
            p.signals.push(s);
            if (s === 'SIGKILL' || !opts.ignoreSigterm) resolve({ code: null, signal: s });
          },
        };
        procs.set(name, [...(procs.get(name) ?? []), p]);
        return p;
      },
      ready: async () => true,
      // A process that honours ctl stop exits with code 0; one that ignores SIGTERM ignores it too.
      askStop: async () => {
        askedStop.push(name);
        if (!opts.ignoreSigterm) procs.get(name)?.at(-1)?.exit({ code: 0, signal: null });
        return true;
      },
    });
  }
  const last = (name = 'a') => procs.get(name)!.at(-1)!;
  return { clock, records, alerts, procs, sup, last, askedStop };
}

const killed = { code: null, signal: 'SIGKILL' };

describe('supervisor decisions', () => {
  it('supervisor: backoff doubles from 500 ms to the 30 s cap and starts over after a stable minute', () => {
    const s = { ...defaultSupervisorSettings, crashLoopRestarts: 100 };
    let h = { exitsAtMs: [] as number[], streak: 0 };
    const delays: number[] = [];
    let now = 0;
    for (let i = 0; i < 9; i++) {
      const d = decideExit('always', killed, 1_000, h, now, s);
      if (d.kind !== 'restart') throw new Error(d.kind);
      delays.push(d.delayMs);
      h = d.history;
      now += 1_000;
    }
    expect(delays).toEqual([500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000]);
    const after = decideExit('always', killed, 60_000, h, now + 120_000, s);
    expect(after.kind === 'restart' && after.delayMs).toBe(500);
  });

  it('supervisor: policies: on-failure restarts only failures, never restarts nothing', () => {
    const s = defaultSupervisorSettings;
    const h = { exitsAtMs: [], streak: 0 };
    expect(decideExit('on-failure', { code: 0, signal: null }, 10, h, 0, s).kind).toBe('stopped');
    expect(decideExit('on-failure', { code: 3, signal: null }, 10, h, 0, s).kind).toBe('restart');
    expect(decideExit('on-failure', killed, 10, h, 0, s).kind).toBe('restart');
    expect(decideExit('always', { code: 0, signal: null }, 10, h, 0, s).kind).toBe('restart');
    expect(decideExit('never', { code: 0, signal: null }, 10, h, 0, s).kind).toBe('stopped');
    const f = decideExit('never', killed, 10, h, 0, s);
    expect(f.kind === 'failed' && !f.crashLoop).toBe(true);
  });

  it('supervisor: a sixth exit within 60 s is a crash loop; exits older than the window do not count', () => {
    const s = defaultSupervisorSettings;
    const five = { exitsAtMs: [0, 1_000, 2_000, 3_000, 4_000], streak: 5 };
    const d = decideExit('always', killed, 10, five, 5_000, s);
    expect(d.kind === 'failed' && d.crashLoop).toBe(true);
    expect(decideExit('always', killed, 10, five, 60_500, s).kind).toBe('restart');
  });

  it('supervisor: settings out of bounds are a typed BAD_CONFIG naming the setting', () => {
    expect(() => supervisorSettings({ backoffInitialMs: 0 })).toThrow(/backoffInitialMs=0/);
    expect(() => supervisorSettings({ backoffInitialMs: 5_000, backoffMaxMs: 1_000 })).toThrow(/backoffMaxMs/);
    expect(supervisorSettings({ crashLoopRestarts: '3' }).crashLoopRestarts).toBe(3);
  });
});

describe('supervisor', () => {
  it('supervisor: a killed process is restarted after its backoff, records show the restart and the exit', async () => {
    const h = harness({ names: ['a', 'b'] });
    await h.sup.start('a');
    await h.sup.start('b');
    await h.clock.advance(0);
    expect(h.sup.record('a').state).toBe('running');
    const firstPid = h.last().pid;
    h.last().exit(killed);
    await h.clock.advance(0);
    const r = h.sup.record('a');
    expect(r).toMatchObject({ state: 'backoff', restarts: 1, lastExit: { signal: 'SIGKILL', code: null } });
    expect(Date.parse(r.nextStartAt!) - h.clock.t).toBe(500);
    expect(h.alerts.map((a) => [a.kind, a.level, a.subject])).toEqual([['restart', 'warning', 'a']]);
    await h.clock.advance(499);
    expect(h.procs.get('a')).toHaveLength(1);
    await h.clock.advance(1);
    expect(h.procs.get('a')).toHaveLength(2);
    expect(h.sup.record('a')).toMatchObject({ state: 'running', restarts: 1 });
    expect(h.sup.record('a').pid).not.toBe(firstPid);
    expect(h.procs.get('b')).toHaveLength(1);
    expect(h.sup.record('b').state).toBe('running');
  });

  it('supervisor: a crash loop marks the process failed with an error alert, leaves the others; start brings it back', async () => {
    const h = harness({ names: ['a', 'b'] });
    await h.sup.start('a');
    await h.sup.start('b');
    for (let i = 0; i < 6; i++) {
      await h.clock.advance(0);
      h.last().exit({ code: 1, signal: null });
      await h.clock.advance(10_000);
    }
    expect(h.sup.record('a')).toMatchObject({ state: 'failed', restarts: 5, lastExit: { code: 1 } });
    expect(h.procs.get('a')).toHaveLength(6);
    const loop = h.alerts.filter((a) => a.kind === 'crash-loop');
    expect(loop).toHaveLength(1);
    expect(loop[0]).toMatchObject({ type: 'tickbus.v1.alert', level: 'error', source: { proctype: 'launcher', name: 'up' }, subject: 'a' });
    expect(h.sup.record('b').state).toBe('running');
    await h.clock.advance(600_000);
    expect(h.procs.get('a')).toHaveLength(6);
    await h.sup.start('a');
    await h.clock.advance(0);
    expect(h.sup.record('a').state).toBe('running');
    // The crash history was forgotten: the next exit restarts after the first delay again.
    h.last().exit(killed);
    await h.clock.advance(0);
    expect(Date.parse(h.sup.record('a').nextStartAt!) - h.clock.t).toBe(500);
  });

  it('supervisor: stop asks over ctl first, then SIGTERM, then SIGKILL, and the process stays stopped', async () => {
    const h = harness({ ignoreSigterm: true, settings: { stopGraceMs: 1_000 } });
    await h.sup.start('a');
    await h.clock.advance(0);
    const stopping = h.sup.stop('a');
    await h.clock.advance(999);
    expect(h.askedStop).toEqual(['a']);
    expect(h.last().signals).toEqual([]);
    await h.clock.advance(1);
    expect(h.last().signals).toEqual(['SIGTERM']);
    await h.clock.advance(1_000);
    expect(h.last().signals).toEqual(['SIGTERM', 'SIGKILL']);
    const r = await stopping;
    expect(r).toMatchObject({ state: 'stopped', restarts: 0, lastExit: { signal: 'SIGKILL' } });
    await h.clock.advance(600_000);
    expect(h.procs.get('a')).toHaveLength(1);
    expect(h.alerts).toEqual([]);
  });

  it('supervisor: kill sends SIGKILL at once (no ctl stop, no SIGTERM), even mid-stop, and the process stays stopped whatever its policy', async () => {
    const h = harness({ ignoreSigterm: true, settings: { stopGraceMs: 1_000 } });
    await h.sup.start('a');
    await h.clock.advance(0);
    const r = await h.sup.kill('a');
    expect(h.askedStop).toEqual([]);
    expect(h.last().signals).toEqual(['SIGKILL']);
    expect(r).toMatchObject({ state: 'stopped', restarts: 0, lastExit: { signal: 'SIGKILL' } });
    await h.clock.advance(600_000);
    expect(h.procs.get('a')).toHaveLength(1);
    // A clean stop under way (waiting for the exit after ctl stop) is cut short.
    await h.sup.start('a');
    await h.clock.advance(0);
    const stopping = h.sup.stop('a');
    await h.clock.advance(10);
    expect(h.askedStop).toEqual(['a']);
    await h.sup.kill('a');
    expect(h.last().signals).toEqual(['SIGKILL']);
    expect(await stopping).toMatchObject({ state: 'stopped', lastExit: { signal: 'SIGKILL' } });
    expect(h.alerts).toEqual([]);
  });

  it('supervisor: stop during backoff cancels the restart; restart starts a new process', async () => {
    const h = harness();
    await h.sup.start('a');
    h.last().exit(killed);
    await h.clock.advance(0);
    expect(h.sup.record('a').state).toBe('backoff');
    await h.sup.stop('a');
    await h.clock.advance(60_000);
    expect(h.procs.get('a')).toHaveLength(1);
    expect(h.sup.record('a').state).toBe('stopped');
    await h.sup.restart('a');
    await h.clock.advance(0);
    expect(h.procs.get('a')).toHaveLength(2);
    expect(h.sup.record('a').state).toBe('running');
    const restarting = h.sup.restart('a');
    await h.clock.advance(0);
    await restarting;
    await h.clock.advance(0);
    expect(h.procs.get('a')).toHaveLength(3);
    expect(h.askedStop).toEqual(['a']);
    expect(h.procs.get('a')![1]!.signals).toEqual([]);
    expect(h.sup.record('a').restarts).toBe(1);
  });

  it('supervisor: stopAll stops in reverse order and nothing restarts', async () => {
    const h = harness({ names: ['a', 'b', 'c'] });
    for (const n of ['a', 'b', 'c']) await h.sup.start(n);
    await h.clock.advance(0);
    await h.sup.stopAll();
    expect(h.records.filter((r) => r.state === 'stopped' && r.lastExit).map((r) => r.procname)).toEqual(['c', 'b', 'a']);
    await h.clock.advance(60_000);
    expect([...h.procs.values()].map((l) => l.length)).toEqual([1, 1, 1]);
  });

  it('supervisor: a process that refuses stop requests is still restarted on request and stopped by stopAll', async () => {
    const h = harness();
    h.sup.add({ procname: 'srv', proctype: 'nats-server', policy: 'always', refuseStop: 'needed', launch: () => ({ pid: 1, exited: new Promise(() => {}), kill: () => {} }), ready: async () => true });
    await expect(h.sup.stop('srv')).rejects.toMatchObject({ code: 'BAD_QUERY', message: /srv cannot be stopped on request: needed/ });
    let launched = 0;
    const h2 = harness();
    h2.sup.add({
      procname: 'srv',
      proctype: 'nats-server',
      policy: 'always',
      refuseStop: 'needed',
      launch: () => {
        launched++;
        let exit!: (e: { code: number | null; signal: string | null }) => void;
        const exited = new Promise<{ code: number | null; signal: string | null }>((r) => (exit = r));
        return { pid: launched, exited, kill: (s) => exit({ code: null, signal: s }) };
      },
      ready: async () => true,
    });
    await h2.sup.start('srv');
    await h2.sup.restart('srv');
    expect(launched).toBe(2);
    await h2.sup.stopAll();
    expect(h2.sup.record('srv').state).toBe('stopped');
  });

  it('supervisor: an unknown name is a typed BAD_QUERY listing the known ones', async () => {
    const h = harness();
    await expect(h.sup.start('zz')).rejects.toMatchObject({ code: 'BAD_QUERY', detail: { known: ['a'] } });
  });
});
