#!/usr/bin/env node
// `actors` CLI entry: runs ops/cli/main.ts through tsx so no build step is needed. The child
// owns the terminal (Ctrl-C reaches it through the process group); SIGTERM is forwarded.
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nodeFlags, tsxImport } from './node_flags.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const child = spawn(process.execPath, [...nodeFlags(), ...tsxImport(), join(root, 'ops', 'cli', 'main.ts'), ...process.argv.slice(2)], {
  stdio: 'inherit',
});
process.on('SIGINT', () => {});
process.on('SIGTERM', () => child.kill('SIGTERM'));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
