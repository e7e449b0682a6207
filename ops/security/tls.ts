// Test and demo certificates for `actors up --tls`: a self-signed CA and a server certificate for
// 127.0.0.1 and localhost signed by it, made with the system openssl (argument lists, no shell).
// Production deployments bring their own (docs/security.md). Kept when present.
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';

export interface TlsFiles {
  caFile: string;
  certFile: string;
  keyFile: string;
}

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync(process.env.OPENSSL_BIN ?? 'openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000 });
  } catch (e) {
    const err = e as { stderr?: Buffer; message: string };
    throw new TickbusError(ErrorCode.INTERNAL, `openssl ${args[0]} failed: ${err.stderr?.toString().trim() || err.message}`, { args: args.slice(0, 2) });
  }
}

/** Makes (or keeps) ca.pem, server.pem and server-key.pem in `dir`. */
export function ensureTlsFiles(dir: string, hosts: string[] = ['127.0.0.1', 'localhost']): TlsFiles {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const f: TlsFiles = { caFile: join(dir, 'ca.pem'), certFile: join(dir, 'server.pem'), keyFile: join(dir, 'server-key.pem') };
  if (existsSync(f.caFile) && existsSync(f.certFile) && existsSync(f.keyFile)) return f;
  const san = hosts.map((h) => (/^[\d.]+$/.test(h) || h.includes(':') ? `IP:${h}` : `DNS:${h}`)).join(',');
  const ext = join(dir, 'server.ext');
  writeFileSync(ext, `basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=${san}\n`);
  const days = '825';
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca-key.pem', '-out', 'ca.pem', '-days', days, '-subj', '/CN=tickbus test CA'], dir);
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server-key.pem', '-out', 'server.csr', '-subj', '/CN=tickbus nats-server'], dir);
  openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-CAcreateserial', '-out', 'server.pem', '-days', days, '-extfile', ext], dir);
  for (const k of ['ca-key.pem', 'server-key.pem']) chmodSync(join(dir, k), 0o600);
  rmSync(join(dir, 'server.csr'), { force: true });
  rmSync(join(dir, 'ca.srl'), { force: true });
  rmSync(ext, { force: true });
  return f;
}
