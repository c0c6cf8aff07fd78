import { MimiError } from '../protocol/errors.js';
import type { Registry } from '../registry/document.js';
import type { Store } from '../store/store.js';
import { DevOutboxChannel, HttpSmsChannel, type OtpChannel, SmtpChannel } from '../verifier/channels.js';
import { nodeTxtResolver, type TxtResolver } from '../verifier/dns01.js';
import { PossessionVerifier } from '../verifier/verifier.js';
import type { LoadedConfig } from './config.js';
import { readKeyFile } from './node-store.js';
import { readOrCreateSecretFile } from './secret-file.js';

export interface NodeVerifier {
  verifier: PossessionVerifier | undefined;
  /** Set when the verifier's channels include the development outbox. */
  devOutbox: DevOutboxChannel | undefined;
  /** Every channel once, to close. */
  channels: OtpChannel[];
}

/**
 * The node's possession verifier, when the config has one: its key checked against the
 * registry, its channels (an SMS gateway, SMTP, the dev outbox) with the secrets resolved at
 * load (src/server/config.ts), or the channels and DNS resolver a test gives.
 */
export function createNodeVerifier(
  loaded: LoadedConfig,
  deps: {
    store: Store;
    registry: Registry;
    now: () => number;
    channels?: { tel?: OtpChannel; mailto?: OtpChannel };
    dns01?: TxtResolver;
  },
): NodeVerifier {
  const v = loaded.config.verifier;
  const settings = loaded.resolved.verifier;
  if (v === undefined || settings === undefined)
    return { verifier: undefined, devOutbox: undefined, channels: [] };
  const vKey = readKeyFile(loaded.path(v.keyFile), 'verifier.keyFile');
  const entry = deps.registry.issuer(v.id);
  if (entry?.kind !== 'verifier' || !entry.entry.keys.includes(vKey.publicKey)) {
    throw new MimiError(
      'config-invalid',
      `verifier.id: ${v.id} with this key is not a verifier in the registry`,
    );
  }
  let devOutbox: DevOutboxChannel | undefined;
  const outbox = () => {
    devOutbox ??= new DevOutboxChannel(
      v.devOutboxFile === undefined ? undefined : loaded.path(v.devOutboxFile),
      deps.now,
    );
    return devOutbox;
  };
  const tel =
    deps.channels?.tel ??
    (v.sms === 'dev-outbox'
      ? outbox()
      : v.sms === undefined
        ? undefined
        : new HttpSmsChannel({
            url: v.sms.gateway.url,
            token: loaded.secrets.smsGatewayToken,
            timeoutMs: settings.smsTimeoutMs,
          }));
  const mailto =
    deps.channels?.mailto ??
    (v.email === 'dev-outbox'
      ? outbox()
      : v.email === undefined
        ? undefined
        : new SmtpChannel({ ...v.email.smtp, password: loaded.secrets.smtpPassword }));
  const channels: OtpChannel[] = [];
  for (const c of [tel, mailto]) if (c !== undefined && !channels.includes(c)) channels.push(c);
  const verifier = new PossessionVerifier({
    id: v.id,
    key: vKey,
    store: deps.store,
    secret: readOrCreateSecretFile(loaded.path(v.secretFile), 'verifier.secretFile'),
    channels: { tel, mailto },
    dns:
      deps.dns01 ??
      (v.dns01 === undefined
        ? undefined
        : nodeTxtResolver({ servers: v.dns01.servers, timeoutMs: settings.dns01TimeoutMs })),
    codeTtlSeconds: settings.codeTtlSeconds,
    codeDigits: settings.codeDigits,
    maxAttempts: settings.maxAttempts,
    maxChallengesPerHour: settings.maxChallengesPerHour,
    attestationLifetimeSeconds: settings.attestationLifetimeSeconds,
    now: deps.now,
  });
  return { verifier, devOutbox, channels };
}
