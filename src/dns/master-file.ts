import { encodeUri } from '../protocol/dns-names.js';
import type { ZoneRecord } from './records.js';
import type { Zone } from './zone.js';

/**
 * RFC 1035 §5 master file of a zone, for operators who serve it with BIND, NSD or Knot. URI
 * records are written in RFC 3597 generic form (`TYPE256 \# len hex`), which every one of them
 * loads whatever it knows of RFC 7553; TXT strings are quoted with every byte outside printable
 * ASCII, `"` and `\` escaped.
 */
export function masterFile(zone: Zone, comment?: string): string {
  const lines = [
    ...(comment === undefined ? [] : comment.split('\n').map((l) => `; ${l}`)),
    `$ORIGIN ${zone.name}.`,
    ...zone.records().map(line),
  ];
  return `${lines.join('\n')}\n`;
}

const fqdn = (n: string) => `${n}.`;

function quoted(b: Buffer): string {
  let out = '"';
  for (const byte of b) {
    if (byte === 0x22 || byte === 0x5c) out += `\\${String.fromCharCode(byte)}`;
    else if (byte >= 0x20 && byte < 0x7f) out += String.fromCharCode(byte);
    else out += `\\${byte.toString().padStart(3, '0')}`;
  }
  return `${out}"`;
}

function line(r: ZoneRecord): string {
  const head = `${fqdn(r.name)} ${r.ttl} IN`;
  switch (r.type) {
    case 'SOA': {
      const s = r.data;
      return `${head} SOA ${fqdn(s.mname)} ${fqdn(s.rname)} ${s.serial} ${s.refresh} ${s.retry} ${s.expire} ${s.minimum}`;
    }
    case 'NS':
      return `${head} NS ${fqdn(r.data)}`;
    case 'A':
    case 'AAAA':
      return `${head} ${r.type} ${r.data}`;
    case 'TXT':
      return `${head} TXT ${r.data.map(quoted).join(' ')}`;
    case 'URI': {
      const rdata = encodeUri(r.data);
      return `${head} TYPE256 \\# ${rdata.length} ${Buffer.from(rdata).toString('hex')}`;
    }
  }
}
