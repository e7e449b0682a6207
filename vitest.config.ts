import { defineConfig } from 'vitest/config';

// Integration tests each start their own nats-server (random port, temp store) and sometimes child
// processes; two workers match the two cores CI has.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    maxWorkers: 2,
    reporters: process.env.CI ? ['verbose'] : ['default'],
  },
});
