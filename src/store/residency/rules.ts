import { getCountries, getCountryCallingCode, parsePhoneNumberWithError } from 'libphonenumber-js/max';
import { MimiError } from '../../protocol/errors.js';
import { CsiKind, canonicalDomain, parseCsi } from '../../protocol/identifiers.js';

/**
 * Data residency (R27): which region's store holds a CSI's records. A phone number belongs to
 * the region that lists its country calling code, an email address to the region that lists its
 * domain (exactly: a subdomain is another domain); anything else, and any CSI the parser (R8)
 * refuses, belongs to the default region, whose store is the node's main `store`.
 */
export interface RegionRule {
  id: string;
  /** Country calling codes without `+`, e.g. "33", "1". */
  callingCodes?: readonly string[];
  /** Email domains, e.g. "example.de" (IDNs in Unicode or A-label form). */
  emailDomains?: readonly string[];
}

export interface ResidencyRules {
  /** The region of the node's main `store`: DP-wide state and CSIs no rule matches. */
  default: string;
  regions: readonly (RegionRule & { store?: unknown })[];
}

/** Every geographic country calling code libphonenumber knows (a region is a set of countries). */
const knownCallingCodes = new Set(getCountries().map((c) => getCountryCallingCode(c) as string));

const regionId = /^[a-z][a-z0-9-]{0,31}$/;

/** config-invalid naming the setting, also in `extra.setting` (as the node config's errors do). */
function invalid(where: string | undefined, setting: string, message: string): MimiError {
  const named = `${setting}: ${message}`;
  return new MimiError('config-invalid', where === undefined ? named : `${where}: ${named}`, { setting });
}

/** The canonical (lower-case A-label) form of a configured domain, as email CSIs carry it, or undefined when it is not one. */
function configuredDomain(domain: string): string | undefined {
  const ascii = canonicalDomain(domain.trim());
  return ascii?.includes('.') ? ascii : undefined;
}

/**
 * Checks the `residency` setting: region ids unique, the default one of them and the only one
 * without a store of its own, calling codes real and domains well formed, and no code or domain
 * in two regions. Each failure is config-invalid and names the setting.
 */
export function checkResidencyRules(rules: ResidencyRules, where?: string): void {
  const ids = new Set<string>();
  const codes = new Map<string, string>();
  const domains = new Map<string, string>();
  rules.regions.forEach((r, i) => {
    const at = `residency.regions[${i}]`;
    if (!regionId.test(r.id)) throw invalid(where, `${at}.id`, 'use 1-32 lower-case letters, digits and -');
    if (ids.has(r.id)) throw invalid(where, `${at}.id`, `region ${r.id} is listed twice`);
    ids.add(r.id);
    if (r.id === rules.default && r.store !== undefined) {
      throw invalid(
        where,
        `${at}.store`,
        `${r.id} is the default region: its store is the node's main store`,
      );
    }
    if (r.id !== rules.default && r.store === undefined) {
      throw invalid(where, `${at}.store`, `region ${r.id} needs a store of its own`);
    }
    for (const code of r.callingCodes ?? []) {
      if (!knownCallingCodes.has(code)) {
        throw invalid(where, `${at}.callingCodes`, `${JSON.stringify(code)} is not a country calling code`);
      }
      const other = codes.get(code);
      if (other !== undefined)
        throw invalid(where, `${at}.callingCodes`, `+${code} is also in region ${other}`);
      codes.set(code, r.id);
    }
    for (const d of r.emailDomains ?? []) {
      const domain = configuredDomain(d);
      if (domain === undefined)
        throw invalid(where, `${at}.emailDomains`, `${JSON.stringify(d)} is not a domain`);
      const other = domains.get(domain);
      if (other !== undefined)
        throw invalid(where, `${at}.emailDomains`, `${domain} is also in region ${other}`);
      domains.set(domain, r.id);
    }
  });
  if (!ids.has(rules.default)) {
    throw invalid(
      where,
      'residency.default',
      `${JSON.stringify(rules.default)} is not a region listed in regions`,
    );
  }
}

/** Maps a CSI to its region (R27). Build it from rules that passed checkResidencyRules. */
export class RegionRouter {
  readonly defaultRegion: string;
  private readonly byCode = new Map<string, string>();
  private readonly byDomain = new Map<string, string>();

  constructor(rules: ResidencyRules) {
    checkResidencyRules(rules);
    this.defaultRegion = rules.default;
    for (const r of rules.regions) {
      for (const code of r.callingCodes ?? []) this.byCode.set(code, r.id);
      for (const d of r.emailDomains ?? []) this.byDomain.set(configuredDomain(d)!, r.id);
    }
  }

  /** The region holding `csi`'s records. */
  regionOf(csi: string): string {
    let parsed: ReturnType<typeof parseCsi>;
    try {
      parsed = parseCsi(csi);
    } catch {
      // Not a CSI the DP would store: no rule can match it.
      return this.defaultRegion;
    }
    if (parsed.kind === CsiKind.Phone) {
      const code = parsePhoneNumberWithError(parsed.uri.slice(4)).countryCallingCode;
      return this.byCode.get(code) ?? this.defaultRegion;
    }
    const domain = parsed.uri.slice(parsed.uri.lastIndexOf('@') + 1);
    return this.byDomain.get(domain) ?? this.defaultRegion;
  }
}
