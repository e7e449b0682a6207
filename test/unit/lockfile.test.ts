// The lock file is complete: every dependency and optional dependency of every package it lists
// (DuckDB's platform bindings for macOS, Windows and Linux arm64 among them) has its own entry, so
// `npm ci` installs on any platform. `.ci/run` also runs `npm ci --dry-run` before the suite.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

interface LockPackage {
  version?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}

const root = resolve(import.meta.dirname, '..', '..');
const lock = JSON.parse(readFileSync(resolve(root, 'package-lock.json'), 'utf8')) as { lockfileVersion: number; packages: Record<string, LockPackage> };
const pkg = JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8')) as Record<string, Record<string, string> | undefined>;

/** Node's lookup: node_modules of the package itself, then of each parent, then the top. */
function resolveIn(from: string, name: string): string | undefined {
  let dir = from;
  for (;;) {
    const candidate = dir ? `${dir}/node_modules/${name}` : `node_modules/${name}`;
    if (lock.packages[candidate]) return candidate;
    if (!dir) return undefined;
    const i = dir.lastIndexOf('/node_modules/');
    dir = i < 0 ? '' : dir.slice(0, i);
  }
}

describe('package-lock.json', () => {
  it('lock: lists every dependency and optional platform package of every locked package', () => {
    expect(lock.lockfileVersion).toBeGreaterThanOrEqual(2);
    const missing: string[] = [];
    for (const [path, p] of Object.entries(lock.packages)) {
      for (const name of Object.keys({ ...p.dependencies, ...p.optionalDependencies })) {
        if (!resolveIn(path, name)) missing.push(`${path || '(root)'} -> ${name}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('lock: pins what package.json asks for, at the same versions', () => {
    const rootEntry = lock.packages['']!;
    for (const field of ['dependencies', 'devDependencies', 'optionalDependencies'] as const) {
      expect((rootEntry as Record<string, unknown>)[field] ?? {}).toEqual(pkg[field] ?? {});
    }
    expect(lock.packages['node_modules/@duckdb/node-bindings-darwin-arm64']?.version).toBe(pkg.dependencies!['@duckdb/node-api']);
  });
});
