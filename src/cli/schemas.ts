/**
 * `npm run schemas`: writes the machine-readable contract from the code, so it cannot drift
 * (test/server/openapi.test.ts compares): docs/spec/schemas/<Name>.json (JSON Schema 2020-12),
 * docs/spec/schemas/bundle.json (all of them as $defs) and docs/spec/openapi.json (OpenAPI 3.1).
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { jsonSchemaBundle, jsonSchemaOf, type WireName, WireSchemas } from '../protocol/wire-schemas.js';
import { openApiJson } from '../server/openapi.js';

const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;

/** Every file of the contract, path under docs/spec/ -> content. */
export function specFiles(): Map<string, string> {
  const files = new Map<string, string>();
  for (const name of Object.keys(WireSchemas) as WireName[])
    files.set(`schemas/${name}.json`, json(jsonSchemaOf(name)));
  files.set('schemas/bundle.json', json(jsonSchemaBundle()));
  files.set('openapi.json', openApiJson());
  return files;
}

export function writeSpecFiles(specDir: string): void {
  const schemas = join(specDir, 'schemas');
  mkdirSync(schemas, { recursive: true });
  for (const f of readdirSync(schemas)) if (f.endsWith('.json')) rmSync(join(schemas, f));
  for (const [path, content] of specFiles()) writeFileSync(join(specDir, path), content);
}

if (process.argv[1]?.endsWith('schemas.ts') || process.argv[1]?.endsWith('schemas.js')) {
  writeSpecFiles(join(import.meta.dirname, '..', '..', 'docs', 'spec'));
}
