import { createHash, randomBytes } from 'node:crypto';
import { httpbis } from 'http-message-signatures';
import {
  type Dictionary,
  type InnerList,
  type Item,
  type List,
  parseDictionary,
  parseList,
  serializeItem,
  serializeList,
} from 'structured-headers';
import type { SigningKey } from '../crypto/keys.js';
import { verifyEd25519 } from '../crypto/sign.js';
import { systemClock } from '../protocol/clock.js';
import { MimiError } from '../protocol/errors.js';
import type { Registry } from '../registry/document.js';

/**
 * R23: DP-to-DP calls are signed with the DP's registry key as HTTP Message Signatures (RFC 9421,
 * alg ed25519) over the method, target URI, content type and an RFC 9530 Content-Digest of the
 * body, with created time, nonce and keyid = the DP id: one signature per request, labelled
 * `mimi` (the federation profile, docs/federation.md). The signature base comes from the
 * http-message-signatures package, pinned by RFC 9421 Appendix B.2.6; the fields are RFC 8941
 * structured fields (structured-headers).
 */
export const peerSignatureFields = ['@method', '@target-uri', 'content-type', 'content-digest'] as const;
const signatureName = 'mimi';

/** RFC 9530 Content-Digest with SHA-256. */
export function contentDigest(body: string | Uint8Array): string {
  return `sha-256=:${createHash('sha256').update(body).digest('base64')}:`;
}

export interface SignedRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string;
}

export async function signPeerRequest(
  req: { method: string; url: string; body: string },
  signer: { id: string; key: SigningKey },
  opts: { created?: Date; nonce?: string } = {},
): Promise<SignedRequest> {
  const message = {
    method: req.method,
    url: req.url,
    headers: { 'content-type': 'application/json', 'content-digest': contentDigest(req.body) } as Record<
      string,
      string
    >,
  };
  // The caller's clock when it has one (peer calls do), the system's otherwise.
  const created = opts.created ?? new Date(systemClock.nowMs());
  const signed = await httpbis.signMessage(
    {
      key: {
        id: signer.id,
        alg: 'ed25519',
        sign: async (data: Buffer) => Buffer.from(signer.key.sign(data)),
      },
      name: signatureName,
      fields: [...peerSignatureFields],
      params: ['created', 'expires', 'keyid', 'alg', 'nonce'],
      paramValues: {
        created,
        expires: new Date(created.getTime() + 60_000),
        nonce: opts.nonce ?? randomBytes(16).toString('base64url'),
      },
    },
    message,
  );
  return {
    method: req.method,
    url: req.url,
    headers: signed.headers as Record<string, string>,
    body: req.body,
  };
}

export interface ReceivedRequest {
  method: string;
  /**
   * The target URI as the receiver knows itself: its own registry endpoint with the request's
   * path and query (targetUri), never a Host or X-Forwarded-* header, so a request signed for
   * another DP does not verify here.
   */
  url: string;
  headers: Record<string, string | string[] | undefined>;
  rawBody: string;
}

/** Oldest signature accepted (from `created`), and the clock skew allowed either side. */
export const peerSignatureMaxAgeSeconds = 120;
const toleranceSeconds = 30;
const requiredParams = ['created', 'expires', 'keyid', 'alg', 'nonce'] as const;
/** Components a peer may cover besides the required ones. */
const optionalComponents = new Set(['@authority', '@path', '@query', '@scheme', '@target-uri']);

/**
 * R23: the URI a peer signed for this node: the node's own endpoint (from the registry) with the
 * path and query of the request target. Only the path and query come from the request, so an
 * absolute-form or `//host` target cannot name another authority either.
 */
export function targetUri(ownEndpoint: string, requestTarget: string): string {
  const asked = new URL(requestTarget, 'http://request.invalid');
  const url = new URL(ownEndpoint);
  url.pathname = asked.pathname;
  url.search = asked.search;
  url.hash = '';
  return url.toString();
}

const refuse = (why: string) => new MimiError('unauthenticated', `peer request signature refused: ${why}`);

/**
 * The one member of a Signature or Signature-Input dictionary (RFC 8941): the profile allows
 * exactly one, under the label `mimi`. A dictionary keeps the last of repeated keys, so a repeat
 * of the label is refused too: after `mimi=` the field must be one list member and nothing more.
 */
function soleMember(value: string | undefined, field: string): Item | InnerList {
  if (value === undefined) throw refuse(`${field} is missing`);
  let dict: Dictionary;
  let members: List;
  try {
    dict = parseDictionary(value);
    if (dict.size !== 1 || !dict.has(signatureName)) {
      throw refuse(`${field} must hold exactly one member, labelled "${signatureName}"`);
    }
    // The dictionary's only key is the label, so the field starts with it.
    const rest = value.trimStart().slice(signatureName.length);
    if (!rest.startsWith('=')) throw refuse(`${field} holds no value`);
    members = parseList(rest.slice(1));
  } catch (err) {
    if (err instanceof MimiError) throw err;
    throw refuse(`${field} is not one RFC 8941 dictionary member "${signatureName}"`);
  }
  if (members.length !== 1) throw refuse(`${field} repeats "${signatureName}"`);
  return dict.get(signatureName)!;
}

/**
 * Checks a peer's signed request against the federation profile (docs/federation.md): exactly
 * one signature, labelled `mimi`, alg ed25519, covering the method, the target URI, the content
 * type and the Content-Digest (which must match the body), with created, expires, keyid and
 * nonce, fresh at `now`; it must verify with a key of the registry DP named by its keyid. Any
 * other member, repeat or label is refused before a key is looked up. Returns the DP id, the
 * nonce and until when the caller must remember it (a second use is a replay).
 */
export async function verifyPeerRequest(
  req: ReceivedRequest,
  registry: Registry,
  now: Date,
): Promise<{ dp: string; nonce: string; keepUntil: number }> {
  // Header names are case-insensitive, and repeated lines of a field are one list (RFC 9110 5.3).
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (v === undefined) continue;
    const name = k.toLowerCase();
    const value = Array.isArray(v) ? v.join(', ') : v;
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  const input = soleMember(headers['signature-input'], 'Signature-Input');
  const signature = soleMember(headers.signature, 'Signature');
  if (!Array.isArray(input[0])) throw refuse('Signature-Input is not an inner list');
  const [items, params] = input as InnerList;
  if (!(signature[0] instanceof ArrayBuffer) || signature[1].size !== 0) {
    throw refuse('Signature is not one byte sequence');
  }

  // Covered components: plain names, each once, the required ones among them.
  const components: string[] = [];
  for (const [name, itemParams] of items) {
    if (typeof name !== 'string' || itemParams.size !== 0 || components.includes(name)) {
      throw refuse('a covered component is malformed or repeated');
    }
    if (!(peerSignatureFields as readonly string[]).includes(name) && !optionalComponents.has(name)) {
      throw refuse(`component ${name} is not in the profile`);
    }
    components.push(name);
  }
  const url = new URL(req.url);
  const coversTarget =
    components.includes('@target-uri') ||
    (components.includes('@authority') &&
      components.includes('@path') &&
      (url.search === '' || components.includes('@query')));
  const others = peerSignatureFields.filter((f) => f !== '@target-uri');
  if (!coversTarget || !others.every((f) => components.includes(f))) {
    throw refuse('the signature does not cover what the profile requires');
  }

  // Parameters: exactly the profile's, typed.
  if (params.size !== requiredParams.length || !requiredParams.every((p) => params.has(p))) {
    throw refuse(`the signature parameters must be ${requiredParams.join(', ')}`);
  }
  const created = params.get('created');
  const expires = params.get('expires');
  const keyid = params.get('keyid');
  const alg = params.get('alg');
  const nonce = params.get('nonce');
  if (
    typeof created !== 'number' ||
    typeof expires !== 'number' ||
    !Number.isInteger(created) ||
    !Number.isInteger(expires) ||
    typeof keyid !== 'string' ||
    typeof nonce !== 'string'
  ) {
    throw refuse('a signature parameter has the wrong type');
  }
  if (alg !== 'ed25519') throw refuse('alg must be ed25519');
  if (!/^[A-Za-z0-9_-]{16,64}$/.test(nonce)) throw refuse('the nonce is malformed');
  const at = Math.floor(now.getTime() / 1000);
  if (expires <= created || expires - created > peerSignatureMaxAgeSeconds) {
    throw refuse(`a signature lives at most ${peerSignatureMaxAgeSeconds} s`);
  }
  if (created > at + toleranceSeconds || at > expires + toleranceSeconds) {
    throw refuse('the signature is not fresh');
  }

  const digest = headers['content-digest'];
  if (digest === undefined || digest !== contentDigest(req.rawBody)) {
    throw new MimiError(
      'unauthenticated',
      'peer request: Content-Digest is missing or does not match the body',
    );
  }

  const dp = registry.dp(keyid);
  if (dp === undefined) throw refuse(`${keyid} is not a registered DP`);
  let base: string;
  try {
    const fields = httpbis.createSignatureBase(
      { fields: items.map((item) => serializeItem(item)) },
      { method: req.method, url: req.url, headers },
    );
    fields.push(['"@signature-params"', [serializeList([input])]]);
    base = httpbis.formatSignatureBase(fields);
  } catch (err) {
    throw refuse((err as Error).message);
  }
  const sig = new Uint8Array(signature[0]);
  const data = Buffer.from(base);
  // Only the DP's transport keys: a records or log key of the DP signs no request (§8.1.1).
  if (!dp.keys.transport.some((k) => verifyEd25519(data, sig, k))) {
    throw new MimiError('unauthenticated', 'peer request is not signed by a registered DP');
  }
  // Accepted until expires + tolerance, which is within created + max age + tolerance.
  return { dp: dp.id, nonce, keepUntil: expires + toleranceSeconds + 1 };
}
