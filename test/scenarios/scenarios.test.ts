// Runs every scenario in scenarios/ against a real nats-server and real processes and asserts
// that none of its invariants is violated (see test/scenarios/runner.ts for how each is checked).
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Scenario } from '../../scenarios/types.ts';
import { runScenario } from './runner.ts';

const dir = resolve(import.meta.dirname, '..', '..', 'scenarios');
const files = readdirSync(dir).filter((f) => f.endsWith('.ts') && f !== 'types.ts');
const scenarios: Scenario[] = await Promise.all(files.map(async (f) => ((await import(join(dir, f))) as { default: Scenario }).default));

describe('scenarios', () => {
  for (const sc of scenarios) {
    it(`scenario ${sc.name}: ${sc.description}`, async () => {
      const r = await runScenario(sc);
      process.stderr.write(`scenario ${sc.name}: ${JSON.stringify(r.stats)}\n`);
      expect(r.violations).toEqual([]);
      expect(r.stats.acked).toBeGreaterThan(0);
      expect(r.stats.logRows).toBeGreaterThanOrEqual(r.stats.acked!);
    }, 120_000);
  }
});
