// Proves the pure parts of `actors up --cluster`: the flag's bounds, the replica count read from
// TICKBUS_REPLICAS (typed errors naming the bad value), and that the count fills only settings
// the config leaves unset (the tickerplant's replicas, usage.replicas), never overriding them.
import { describe, expect, it } from 'vitest';
import { clusterSize, replicasFromEnv, withReplicas } from '../../ops/cli/cluster.ts';

describe('cluster cli', () => {
  it('cluster: --cluster takes 1 to 9 servers, anything else is BAD_USAGE naming the value', () => {
    expect(clusterSize(undefined)).toBeUndefined();
    expect(clusterSize('3')).toBe(3);
    for (const bad of ['0', '10', 'three', '2.5', 'true']) {
      expect(() => clusterSize(bad)).toThrow(expect.objectContaining({ code: 'BAD_USAGE', message: expect.stringContaining(bad) }));
    }
  });

  it('cluster: TICKBUS_REPLICAS is 1 to 5 or unset; a bad value is BAD_CONFIG naming it', () => {
    expect(replicasFromEnv({})).toBeUndefined();
    expect(replicasFromEnv({ TICKBUS_REPLICAS: '' })).toBeUndefined();
    expect(replicasFromEnv({ TICKBUS_REPLICAS: '3' })).toBe(3);
    for (const bad of ['0', '6', 'x']) {
      expect(() => replicasFromEnv({ TICKBUS_REPLICAS: bad })).toThrow(expect.objectContaining({ code: 'BAD_CONFIG', message: expect.stringContaining(bad) }));
    }
  });

  it('cluster: the replica count fills unset settings only; the config wins', () => {
    expect(withReplicas('tickerplant', { mode: 'batch' }, undefined)).toEqual({ mode: 'batch' });
    expect(withReplicas('tickerplant', { mode: 'batch' }, 3)).toEqual({ mode: 'batch', replicas: 3, usage: { replicas: 3 } });
    expect(withReplicas('tickerplant', { replicas: 1, usage: { replicas: 1, queueMax: 5 } }, 3)).toEqual({ replicas: 1, usage: { replicas: 1, queueMax: 5 } });
    // Only the tickerplant has a `replicas` setting; every process has a usage log.
    expect(withReplicas('rdb', { tp: 'tp1' }, 3)).toEqual({ tp: 'tp1', usage: { replicas: 3 } });
  });
});
