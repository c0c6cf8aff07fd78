import { constants, type KeyObject, privateDecrypt, publicEncrypt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { type Static, Type } from '@sinclair/typebox';
import Database from 'better-sqlite3';
import Fastify, { type FastifyInstance } from 'fastify';
import { credentialHash, issuerKeyFromPem } from '../crypto/token-key.js';
import { systemClock } from '../protocol/clock.js';
import { MimiError } from '../protocol/errors.js';
import { PrivacyPass } from '../protocol/privacy-pass.js';
import { ParticipantId } from '../protocol/records.js';
import { decodeConfig, folderOf, pathsRelativeTo, readConfigJson } from './config-file.js';
import { loggerOptions } from './logging.js';
import { problemOf, sendProblem } from './problems.js';

/**
 * The MSP's Privacy Pass issuer (RFC 9576 §4: the MSP is attester and issuer for its own users;
 * RFC 9578 §6 issuance, token type 2). `mimi-discovery issuer --config F` runs it.
 *
 * Attestation: a user authenticates with a per-user bearer credential the MSP gave it; the
 * config holds only the SHA-256 of each credential. Each user gets at most `tokensPerDay`
 * tokens per UTC day, counted in a SQLite file, so a restart does not reset the count.
 *
 * What the issuer learns (docs/privacy.md): which user asked for how many tokens, and when. The
 * request is blinded (RFC 9474): it sees neither the DP (origin) nor the nonce, so it cannot
 * tell which redemption a token became.
 */
export const IssuerConfig = Type.Object(
  {
    /** The MSP's registry id. */
    msp: ParticipantId,
    /** RFC 9577 issuer_name: the name the MSP's registry entry lists (`issuer.name`). */
    issuerName: Type.String({ minLength: 1, maxLength: 253 }),
    listen: Type.Object(
      {
        host: Type.Optional(Type.String({ minLength: 1 })),
        port: Type.Integer({ minimum: 0, maximum: 65535 }),
      },
      { additionalProperties: false },
    ),
    /** Issuer keys (PKCS#8 PEM, RSA-2048); each listed with the same notAfter in the registry. */
    keys: Type.Array(
      Type.Object(
        { file: Type.String({ minLength: 1 }), notAfter: Type.Integer({ minimum: 0 }) },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: 2 },
    ),
    store: Type.Object({ path: Type.String({ minLength: 1 }) }, { additionalProperties: false }),
    tokensPerDay: Type.Integer({ minimum: 1, maximum: 100_000 }),
    /** user id -> base64url SHA-256 of the user's bearer credential. */
    users: Type.Record(
      Type.String({ pattern: '^[A-Za-z0-9._-]{1,64}$' }),
      Type.String({ pattern: '^[A-Za-z0-9_-]{43}$' }),
    ),
  },
  { additionalProperties: false },
);
export type IssuerConfig = Static<typeof IssuerConfig>;

interface IssuerKey {
  key: KeyObject;
  /** RFC 9578 §6.5 encoding, SHA-256 of it, and its last byte (truncated_token_key_id). */
  tokenKey: Uint8Array;
  tokenKeyId: Uint8Array;
  notAfter: number;
}

/**
 * RFC 9474 §4.2 BlindSign: s = m^d mod n, then m == s^e mod n. By hand over node:crypto's raw RSA
 * (OpenSSL, CRT and base blinding) because blindrsa-ts's blindSign is a plain JavaScript
 * exponentiation without CRT: about 500 ms a token here, against under 2 ms.
 */
export function blindSign(key: KeyObject, blindedMsg: Uint8Array): Uint8Array {
  if (blindedMsg.length !== PrivacyPass.Nk) {
    throw new MimiError('token-request-malformed', `blinded_msg is ${PrivacyPass.Nk} bytes`);
  }
  let s: Buffer;
  try {
    // RSADP = RSASP1 (m^d mod n); OpenSSL refuses m >= n.
    s = privateDecrypt({ key, padding: constants.RSA_NO_PADDING }, blindedMsg);
  } catch {
    throw new MimiError('token-request-malformed', 'blinded_msg is out of range for the key');
  }
  const check = publicEncrypt({ key, padding: constants.RSA_NO_PADDING }, s);
  if (!check.equals(Buffer.from(blindedMsg))) throw new MimiError('internal', 'signing failure');
  return new Uint8Array(s);
}

/** Reads an issuer key (PKCS#8 RSA-2048) with the last moment its tokens are accepted. */
export function loadIssuerKey(pem: string, notAfter: number): IssuerKey {
  try {
    return { ...issuerKeyFromPem(pem), notAfter };
  } catch (err) {
    throw new MimiError('config-invalid', (err as Error).message);
  }
}

/** Per-user daily counts; survives restarts. */
class IssuanceCounts {
  private readonly db: Database.Database;
  private readonly take: Database.Statement<[{ user: string; day: number; limit: number }]>;
  private readonly read: Database.Statement<[string, number]>;

  constructor(path: string) {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.exec(
      'CREATE TABLE IF NOT EXISTS issued (user TEXT NOT NULL, day INTEGER NOT NULL, count INTEGER NOT NULL, PRIMARY KEY (user, day)) WITHOUT ROWID',
    );
    // One statement: the count goes up only while it is under the limit.
    this.take = this.db.prepare(
      'INSERT INTO issued (user, day, count) VALUES (@user, @day, 1) ON CONFLICT (user, day) DO UPDATE SET count = count + 1 WHERE count < @limit',
    );
    this.read = this.db.prepare('SELECT count FROM issued WHERE user = ? AND day = ?');
  }

  /** Counts one token for `user` on `day`; false when the limit was reached. */
  take1(user: string, day: number, limit: number): boolean {
    return this.take.run({ user, day, limit }).changes === 1;
  }

  count(user: string, day: number): number {
    return (this.read.get(user, day) as { count: number } | undefined)?.count ?? 0;
  }

  close(): void {
    this.db.close();
  }
}

export interface TokenIssuer {
  app: FastifyInstance;
  config: IssuerConfig;
  keys: readonly IssuerKey[];
  url: string;
  close(): Promise<void>;
}

export function readIssuerConfig(file: string): { config: IssuerConfig; path: (p: string) => string } {
  const config = decodeConfig(IssuerConfig, readConfigJson(file, 'issuer config'), file);
  return { config, path: pathsRelativeTo(folderOf(file)) };
}

/**
 * Starts an issuer from its config file: POST /token-request (RFC 9578 §6.1-6.2) and the issuer
 * directory (RFC 9578 §4). `now` (seconds) is for tests.
 */
export async function startTokenIssuer(
  file: string,
  opts: {
    logger?: boolean | { level: string; stream?: { write(line: string): void } };
    now?: () => number;
  } = {},
): Promise<TokenIssuer> {
  const { config, path } = readIssuerConfig(file);
  const now = opts.now ?? systemClock.now;
  const keys = config.keys.map((k) => loadIssuerKey(readFileSync(path(k.file), 'utf8'), k.notAfter));
  const users = new Map(Object.entries(config.users).map(([user, hash]) => [hash, user]));
  const counts = new IssuanceCounts(path(config.store.path));
  const app = Fastify({ logger: loggerOptions(opts.logger), bodyLimit: 4096 });
  app.setErrorHandler((err, _req, reply) => {
    // Any body but a TokenRequest is refused by fastify's parser: say what is expected.
    if ((err as { code?: string }).code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      return sendProblem(
        reply,
        new MimiError('token-request-malformed', `send ${PrivacyPass.RequestMediaType}`),
      );
    }
    return sendProblem(reply, problemOf(err, app.log));
  });
  app.addContentTypeParser(PrivacyPass.RequestMediaType, { parseAs: 'buffer' }, (_req, body, done) =>
    done(null, body),
  );

  app.get(PrivacyPass.DirectoryPath, async (_req, reply) => {
    reply.type(PrivacyPass.DirectoryMediaType).header('cache-control', 'public, max-age=3600');
    const directory = {
      'issuer-request-uri': '/token-request',
      'token-keys': keys
        .filter((k) => k.notAfter > now())
        .map((k) => ({
          'token-type': PrivacyPass.TokenType,
          'token-key': Buffer.from(k.tokenKey).toString('base64url'),
        })),
    };
    return reply.send(JSON.stringify(directory));
  });

  app.post('/token-request', async (req, reply) => {
    // Attester (RFC 9576 §3.2): the MSP's own user, by bearer credential.
    const auth = req.headers.authorization;
    const user = auth?.startsWith('Bearer ') ? users.get(credentialHash(auth.slice(7))) : undefined;
    if (user === undefined)
      throw new MimiError('unauthenticated', 'a user credential of this MSP is required');
    if (req.headers['content-type'] !== PrivacyPass.RequestMediaType || !Buffer.isBuffer(req.body)) {
      throw new MimiError('token-request-malformed', `the body is ${PrivacyPass.RequestMediaType}`);
    }
    const body = new Uint8Array(req.body);
    if (
      body.length !== PrivacyPass.TokenRequestLength ||
      ((body[0]! << 8) | body[1]!) !== PrivacyPass.TokenType
    ) {
      throw new MimiError(
        'token-request-malformed',
        `a type-2 TokenRequest is ${PrivacyPass.TokenRequestLength} bytes`,
      );
    }
    const t = now();
    // RFC 9578 §6.2: the key whose token_key_id ends in truncated_token_key_id.
    const key = keys.find((k) => k.notAfter > t && k.tokenKeyId[PrivacyPass.Nid - 1] === body[2]);
    if (key === undefined)
      throw new MimiError('token-key-unknown', 'no current issuer key has that truncated key id');
    const blindSig = blindSign(key.key, body.subarray(3));
    // Counted only once the request is known good, before the answer leaves.
    const day = Math.floor(t / 86_400);
    if (!counts.take1(user, day, config.tokensPerDay)) {
      throw new MimiError('token-issuance-limit', `at most ${config.tokensPerDay} tokens per user per day`, {
        limit: config.tokensPerDay,
        retryAfter: (day + 1) * 86_400 - t,
      });
    }
    reply.type(PrivacyPass.ResponseMediaType).header('cache-control', 'no-store');
    return reply.send(Buffer.from(blindSig));
  });

  const address = await app.listen({ host: config.listen.host ?? '127.0.0.1', port: config.listen.port });
  return {
    app,
    config,
    keys,
    url: address,
    async close() {
      await app.close();
      counts.close();
    },
  };
}
