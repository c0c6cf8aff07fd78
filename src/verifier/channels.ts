import { appendFile } from 'node:fs/promises';
import nodemailer, { type Transporter } from 'nodemailer';
import { systemClock } from '../protocol/clock.js';
import { MimiError } from '../protocol/errors.js';

/** Where one-time codes go: a real SMS gateway, SMTP, or (dev configs only) a local outbox file. */
export interface OtpChannel {
  readonly name: string;
  /** `to` is a canonical CSI of the kind this channel serves. */
  send(to: string, code: string, expiresInSeconds: number): Promise<void>;
  close?(): Promise<void>;
}

function message(code: string, expiresInSeconds: number): string {
  return `Your MIMI discovery code is ${code}. It expires in ${Math.round(expiresInSeconds / 60)} minutes. Do not share it.`;
}

export interface SmtpChannelOptions {
  host: string;
  port: number;
  /** TLS from the first byte (465); otherwise STARTTLS is required unless allowPlaintext. */
  secure?: boolean;
  allowPlaintext?: boolean;
  user?: string;
  password?: string;
  from: string;
}

/** Email OTP over SMTP, through nodemailer. */
export class SmtpChannel implements OtpChannel {
  readonly name = 'smtp';
  private readonly transport: Transporter;
  private readonly from: string;

  constructor(opts: SmtpChannelOptions) {
    this.from = opts.from;
    this.transport = nodemailer.createTransport({
      host: opts.host,
      port: opts.port,
      secure: opts.secure ?? false,
      requireTLS: !(opts.secure ?? false) && !opts.allowPlaintext,
      ignoreTLS: opts.allowPlaintext ?? false,
      auth: opts.user === undefined ? undefined : { user: opts.user, pass: opts.password ?? '' },
      connectionTimeout: 10_000,
      socketTimeout: 10_000,
    });
  }

  async send(to: string, code: string, expiresInSeconds: number): Promise<void> {
    const address = to.startsWith('mailto:') ? to.slice(7) : to;
    try {
      await this.transport.sendMail({
        from: this.from,
        to: address,
        subject: 'Your MIMI discovery code',
        text: message(code, expiresInSeconds),
      });
    } catch (err) {
      throw new MimiError('channel-failed', `the email could not be sent: ${(err as Error).message}`);
    }
  }

  async close(): Promise<void> {
    this.transport.close();
  }
}

export interface HttpSmsChannelOptions {
  /** The gateway's URL; it receives POST {to, text} as JSON. */
  url: string;
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string;
  /** From the resolved config (`verifier.sms.gateway.timeoutMs`). */
  timeoutMs: number;
}

/** SMS OTP through a configurable HTTP gateway. */
export class HttpSmsChannel implements OtpChannel {
  readonly name = 'http-sms';
  private readonly opts: HttpSmsChannelOptions;

  constructor(opts: HttpSmsChannelOptions) {
    this.opts = opts;
  }

  async send(to: string, code: string, expiresInSeconds: number): Promise<void> {
    const number = to.startsWith('tel:') ? to.slice(4) : to;
    let res: Response;
    try {
      res = await fetch(this.opts.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(this.opts.token === undefined ? {} : { authorization: `Bearer ${this.opts.token}` }),
        },
        body: JSON.stringify({ to: number, text: message(code, expiresInSeconds) }),
        signal: AbortSignal.timeout(this.opts.timeoutMs),
      });
    } catch (err) {
      throw new MimiError('channel-failed', `the SMS gateway did not answer: ${(err as Error).message}`);
    }
    await res.body?.cancel();
    if (!res.ok) throw new MimiError('channel-failed', `the SMS gateway answered HTTP ${res.status}`);
  }
}

export interface OutboxEntry {
  to: string;
  code: string;
  at: number;
}

/**
 * Development only: codes are appended to a local JSON-lines file (and kept in memory) instead
 * of being sent. The config loader refuses it unless the config is marked as a dev config.
 */
export class DevOutboxChannel implements OtpChannel {
  readonly name = 'dev-outbox';
  readonly sent: OutboxEntry[] = [];
  private readonly file: string | undefined;
  private readonly now: () => number;

  /** `now`: the node's clock (seconds), which stamps each entry. */
  constructor(file?: string, now: () => number = systemClock.now) {
    this.file = file;
    this.now = now;
  }

  async send(to: string, code: string): Promise<void> {
    const entry = { to, code, at: this.now() };
    this.sent.push(entry);
    if (this.sent.length > 1000) this.sent.shift();
    if (this.file !== undefined) await appendFile(this.file, `${JSON.stringify(entry)}\n`, { mode: 0o600 });
  }

  /** The newest code sent to `to`. */
  latest(to: string): string | undefined {
    for (let i = this.sent.length - 1; i >= 0; i--) if (this.sent[i]!.to === to) return this.sent[i]!.code;
    return undefined;
  }
}
