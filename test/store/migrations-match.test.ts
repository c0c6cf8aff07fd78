import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresMigrations } from '../../src/store/migrations/postgres.js';
import { sqliteMigrations } from '../../src/store/migrations/sqlite.js';
import { dropSchema, postgresAvailable, postgresUrl, testSchema } from '../support/stores.js';

/**
 * The two migration sets are written by hand, one per dialect: applied, they must give the same
 * tables, columns (types through the mapping below), nullability, defaults, primary keys, unique
 * constraints and indexes. Any drift fails here, naming the table.
 */

/** How a SQLite column type is written in PostgreSQL: INTEGER is bigint unless listed below. */
const typeMap: Record<string, string> = { TEXT: 'text', BLOB: 'bytea', INTEGER: 'bigint' };
/** INTEGER columns that are smaller in PostgreSQL: counts and small numbers. */
const integerColumns = new Set([
  'mappings.priority',
  'challenges.attempts',
  'oprf_epochs.id',
  'oprf_epochs.bucket_bits',
  'oprf_epochs.pad_to',
  'oprf_epochs.dummy_length',
  'oprf_epochs.min_bucket',
  'private_index.epoch',
  'outbox.attempts',
  'log_head.id',
  'log_checkpoints.cosigned',
]);
/** INTEGER 0/1 flags in SQLite, boolean in PostgreSQL (the row codecs read both: rows.ts). */
const booleanColumns = new Set(['mappings.opt_out', 'holder_keys.retired']);

interface Column {
  name: string;
  type: string;
  notNull: boolean;
  default: string | null;
  /** Filled in by the database: AUTOINCREMENT in SQLite, an identity column in PostgreSQL. */
  generated: boolean;
}

interface Table {
  columns: Column[];
  primaryKey: string[];
  /** Column lists of UNIQUE constraints (other than the primary key), sorted. */
  unique: string[];
  /** Indexes created by name: columns, and the predicate of a partial index. */
  indexes: Record<string, { columns: string[]; unique: boolean; where: string | null }>;
}

type Schema = Record<string, Table>;

/** Predicates and defaults compared as text: casts, parentheses, case and spacing dropped; false/true as 0/1. */
const normal = (sql: string | null): string | null =>
  sql === null
    ? null
    : sql
        .replace(/::[a-z ]+/g, '')
        .replace(/[()]/g, '')
        .replace(/\bfalse\b/gi, '0')
        .replace(/\btrue\b/gi, '1')
        .replace(/\s+/g, ' ')
        .trim()
        .toLowerCase();

function expected(table: string, c: Column): Column {
  const at = `${table}.${c.name}`;
  const type = booleanColumns.has(at) ? 'boolean' : integerColumns.has(at) ? 'integer' : typeMap[c.type];
  return { ...c, type: type ?? `unmapped ${c.type}` };
}

function sqliteSchema(): Schema {
  const db = new Database(':memory:');
  try {
    for (const m of sqliteMigrations) db.exec(m.sql);
    const tables = db
      .prepare(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
      )
      .all() as { name: string; sql: string }[];
    const schema: Schema = {};
    for (const { name, sql } of tables) {
      const info = db.prepare(`PRAGMA table_xinfo("${name}")`).all() as {
        name: string;
        type: string;
        notnull: number;
        dflt_value: string | null;
        pk: number;
      }[];
      const columns = info.map((c) =>
        expected(name, {
          name: c.name,
          type: c.type,
          // A PRIMARY KEY column is NOT NULL in PostgreSQL whatever it says; SQLite's INTEGER one is too.
          notNull: c.notnull === 1 || c.pk > 0,
          default: normal(c.dflt_value),
          generated: new RegExp(`\\b${c.name}\\s+INTEGER\\s+PRIMARY\\s+KEY\\s+AUTOINCREMENT`, 'i').test(sql),
        }),
      );
      const primaryKey = info
        .filter((c) => c.pk > 0)
        .sort((a, b) => a.pk - b.pk)
        .map((c) => c.name);
      const unique: string[] = [];
      const indexes: Table['indexes'] = {};
      const list = db.prepare(`PRAGMA index_list("${name}")`).all() as {
        name: string;
        unique: number;
        origin: string;
        partial: number;
      }[];
      for (const ix of list) {
        const cols = (db.prepare(`PRAGMA index_info("${ix.name}")`).all() as { name: string }[]).map(
          (c) => c.name,
        );
        if (ix.origin === 'pk') continue;
        if (ix.origin === 'u') {
          unique.push(cols.join(','));
          continue;
        }
        const text = (
          db.prepare("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?").get(ix.name) as {
            sql: string;
          }
        ).sql;
        const where = /\bWHERE\b([\s\S]*)$/i.exec(text)?.[1] ?? null;
        indexes[ix.name] = { columns: cols, unique: ix.unique === 1, where: normal(where) };
      }
      schema[name] = { columns, primaryKey, unique: unique.sort(), indexes };
    }
    return schema;
  } finally {
    db.close();
  }
}

async function postgresSchema(c: pg.Client, schemaName: string): Promise<Schema> {
  const tables = await c.query<{ name: string }>(
    `SELECT table_name AS name FROM information_schema.tables WHERE table_schema = $1 AND table_type = 'BASE TABLE' ORDER BY table_name`,
    [schemaName],
  );
  const schema: Schema = {};
  for (const { name } of tables.rows) {
    const cols = await c.query<{
      name: string;
      type: string;
      not_null: boolean;
      dflt: string | null;
      identity: boolean;
    }>(
      `SELECT a.attname AS name, format_type(a.atttypid, NULL) AS type, a.attnotnull AS not_null,
              pg_get_expr(d.adbin, d.adrelid) AS dflt, a.attidentity <> '' AS identity
         FROM pg_attribute a
         LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped
        ORDER BY a.attnum`,
      [`${schemaName}.${name}`],
    );
    const columns = cols.rows.map((r) => ({
      name: r.name,
      type: r.type,
      notNull: r.not_null,
      default: normal(r.dflt),
      generated: r.identity,
    }));
    const ixs = await c.query<{
      name: string;
      primary: boolean;
      unique: boolean;
      constraint: boolean;
      columns: string[];
      where: string | null;
    }>(
      `SELECT ic.relname AS name, i.indisprimary AS primary, i.indisunique AS unique,
              EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid) AS constraint,
              ARRAY(SELECT a.attname FROM unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)
                      JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum ORDER BY k.n)::text[] AS columns,
              pg_get_expr(i.indpred, i.indrelid) AS where
         FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
        WHERE i.indrelid = $1::regclass`,
      [`${schemaName}.${name}`],
    );
    const primaryKey = ixs.rows.find((i) => i.primary)?.columns ?? [];
    const unique: string[] = [];
    const indexes: Table['indexes'] = {};
    for (const ix of ixs.rows) {
      if (ix.primary) continue;
      if (ix.constraint) unique.push(ix.columns.join(','));
      else indexes[ix.name] = { columns: ix.columns, unique: ix.unique, where: normal(ix.where) };
    }
    schema[name] = { columns, primaryKey, unique: unique.sort(), indexes };
  }
  return schema;
}

describe('migrations', () => {
  it('every INTEGER column named in the type mapping exists, so the mapping itself cannot go stale', () => {
    const sqlite = sqliteSchema();
    for (const at of [...integerColumns, ...booleanColumns]) {
      const [table, column] = at.split('.') as [string, string];
      expect(
        sqlite[table]?.columns.map((c) => c.name),
        at,
      ).toContain(column);
    }
  });
});

describe.skipIf(!postgresAvailable())('migrations: both dialects give the same schema', () => {
  const schema = testSchema();
  let client: pg.Client;

  beforeAll(async () => {
    client = new pg.Client({ connectionString: postgresUrl });
    await client.connect();
    await client.query(`CREATE SCHEMA ${schema}`);
    await client.query(`SET search_path = ${schema}`);
    for (const m of postgresMigrations) await client.query(m.sql);
  });
  afterAll(async () => {
    await client?.end();
    await dropSchema(postgresUrl!, schema);
  });

  it('same tables, columns, primary keys, unique constraints and indexes', async () => {
    const sqlite = sqliteSchema();
    const postgres = await postgresSchema(client, schema);
    expect(Object.keys(postgres).sort()).toEqual(Object.keys(sqlite).sort());
    for (const table of Object.keys(sqlite)) {
      expect(postgres[table], table).toEqual(sqlite[table]);
    }
  });
});
