// E-mail for emailalert and emailreport through nodemailer's SMTP transport. The password comes
// from an environment variable or a file named in the settings, never from the settings
// themselves, and is never logged. Every SMTP step has a timeout (smtp.timeoutMs).
import { readFileSync } from 'node:fs';
import nodemailer, { type Transporter } from 'nodemailer';
import { ErrorCode, TickbusError } from '../../bus/errors.ts';
import type { SmtpSettings } from './settings.ts';

export interface Mail {
  to: string[];
  subject: string;
  text: string;
  attachments?: Array<{ filename: string; content: string; contentType: string }>;
}

export interface Mailer {
  send(mail: Mail): Promise<{ messageId: string; accepted: string[] }>;
  close(): void;
}

export const defaultSmtp: Omit<SmtpSettings, 'host' | 'from'> = { port: 25, secure: false, timeoutMs: 10_000 };

function password(s: SmtpSettings): string | undefined {
  if (s.passEnv) {
    const v = process.env[s.passEnv];
    if (v === undefined) throw new TickbusError(ErrorCode.BAD_CONFIG, `smtp.passEnv: environment variable ${s.passEnv} is not set`, { passEnv: s.passEnv });
    return v;
  }
  if (s.passFile) {
    try {
      return readFileSync(s.passFile, 'utf8').split('\n')[0]!.trim();
    } catch (e) {
      throw new TickbusError(ErrorCode.BAD_CONFIG, `smtp.passFile: cannot read ${s.passFile}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`, { passFile: s.passFile });
    }
  }
  return undefined;
}

/** What may be logged about the SMTP settings (no password, no password source contents). */
export function smtpForLog(s: SmtpSettings | undefined): Record<string, unknown> | undefined {
  return s && { host: s.host, port: s.port, secure: s.secure, user: s.user, from: s.from, password: s.passEnv ? `env ${s.passEnv}` : s.passFile ? `file ${s.passFile}` : 'none' };
}

export function createMailer(s: SmtpSettings): Mailer {
  const pass = password(s);
  const transport: Transporter = nodemailer.createTransport({
    host: s.host,
    port: s.port,
    secure: s.secure,
    auth: s.user ? { user: s.user, pass: pass ?? '' } : undefined,
    connectionTimeout: s.timeoutMs,
    greetingTimeout: s.timeoutMs,
    socketTimeout: s.timeoutMs,
    // A plain local relay may offer no TLS; with `secure` false, STARTTLS is used when offered.
    tls: { rejectUnauthorized: true },
  });
  return {
    async send(mail) {
      try {
        const info = (await transport.sendMail({ from: s.from, to: mail.to.join(', '), subject: mail.subject, text: mail.text, attachments: mail.attachments })) as {
          messageId: string;
          accepted: Array<string | { address: string }>;
        };
        return { messageId: info.messageId, accepted: info.accepted.map((a) => (typeof a === 'string' ? a : a.address)) };
      } catch (e) {
        // nodemailer's message may quote the server's reply; it never contains the password.
        throw new TickbusError(ErrorCode.API_FAILED, `SMTP ${s.host}:${s.port}: ${(e as Error).message}`, { host: s.host, port: s.port, code: (e as { code?: string }).code });
      }
    },
    close: () => transport.close(),
  };
}
