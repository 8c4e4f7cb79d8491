// TypeScript declarations from the draft-07 schemas: json-schema-to-typescript
// generates one module per schema into generated/types/, then
// `tsc --noEmit --strict` checks samples.ts, whose typed constants are SPEC
// frames and whose `@ts-expect-error` lines are frames the types must reject.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { compile } from 'json-schema-to-typescript';
import { HERE, SCHEMAS_07, loadSchemaDir } from './lib/common.mjs';

const require = createRequire(import.meta.url);
const TSC = require.resolve('typescript/bin/tsc');
const GEN_DIR = join(HERE, 'generated', 'types');
const CONTROL_DIR = join(HERE, 'generated', 'control');

// json-schema-to-typescript types a schema as `unknown` only when it is
// exactly `{}`; a schema carrying only annotations ({"description": ...})
// becomes an object type, so `request_id: 1550050` would not type-check. The
// generator therefore spells "any JSON value" as the list of every JSON type;
// this test uses the schema files as they are and fails if any subschema is
// annotation-only again.
const CONSTRAINING = [
  'type', 'enum', 'const', '$ref', 'allOf', 'anyOf', 'oneOf', 'not', 'if',
  'properties', 'patternProperties', 'additionalProperties', 'items', 'required',
  'minItems', 'maxItems', 'tsType',
];
const MAP_KEYS = ['properties', 'patternProperties', 'definitions', '$defs'];
const ONE_KEYS = ['additionalProperties', 'additionalItems', 'not', 'if', 'then', 'else', 'contains', 'propertyNames'];
const LIST_KEYS = ['allOf', 'anyOf', 'oneOf'];

function findUntyped(schema, path, touched) {
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) return;
  if (path !== '#' && !CONSTRAINING.some((k) => k in schema)) {
    touched.push(path);
  }
  for (const k of MAP_KEYS) {
    for (const [name, sub] of Object.entries(schema[k] ?? {})) {
      findUntyped(sub, `${path}/${k}/${name}`, touched);
    }
  }
  for (const k of ONE_KEYS) findUntyped(schema[k], `${path}/${k}`, touched);
  for (const k of LIST_KEYS) (schema[k] ?? []).forEach((sub, i) => findUntyped(sub, `${path}/${k}/${i}`, touched));
  if (Array.isArray(schema.items)) schema.items.forEach((sub, i) => findUntyped(sub, `${path}/items/${i}`, touched));
  else findUntyped(schema.items, `${path}/items`, touched);
}

function tsc(args) {
  const r = spawnSync(process.execPath, [TSC, ...args], { cwd: HERE, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, output: `${r.stdout ?? ''}${r.stderr ?? ''}`, error: r.error };
}

async function generate() {
  rmSync(GEN_DIR, { recursive: true, force: true });
  mkdirSync(GEN_DIR, { recursive: true });
  const report = [];
  for (const [file, schema] of loadSchemaDir(SCHEMAS_07)) {
    const touched = [];
    findUntyped(schema, '#', touched);
    if (touched.length) report.push(`${file}: ${touched.join(', ')}`);
    assert.ok(schema.title, `${file} has no title to name its type`);
    const ts = await compile(schema, schema.title, {
      bannerComment: `/* Generated from schemas/draft-07/${file} by json-schema-to-typescript. Do not edit. */`,
      cwd: SCHEMAS_07,
      declareExternallyReferenced: true,
    });
    assert.match(ts, new RegExp(`export (interface|type) ${schema.title}\\b`), `${file}: no ${schema.title} type`);
    writeFileSync(join(GEN_DIR, file.replace(/\.json$/, '.ts')), ts);
  }
  return report;
}

let generated;
const ensureGenerated = () => (generated ??= generate());

test('json-schema-to-typescript + tsc --strict accept samples.ts and its @ts-expect-error lines', { timeout: 180_000 }, async () => {
  const report = await ensureGenerated();
  assert.deepEqual(report, [], 'annotation-only subschemas would become object types');
  const samples = readFileSync(join(HERE, 'samples.ts'), 'utf8');
  const expectErrors = samples.split('\n').filter((l) => l.trim().startsWith('// @ts-expect-error')).length;
  assert.ok(expectErrors >= 1, 'samples.ts has no @ts-expect-error line');
  const r = tsc(['-p', 'tsconfig.json', '--noEmit', '--strict']);
  assert.ifError(r.error);
  assert.equal(r.status, 0, `tsc --noEmit --strict failed on samples.ts:\n${r.output}`);
  console.log(`tsc --strict: samples.ts type-checks, ${expectErrors} @ts-expect-error lines are real errors`);
});

test('control: tsc does fail on a frame the types forbid', { timeout: 180_000 }, async () => {
  // Guards the test above against a tsc that checks nothing (wrong files,
  // types collapsing to any): the same import, one bad frame, must fail.
  await ensureGenerated();
  rmSync(CONTROL_DIR, { recursive: true, force: true });
  mkdirSync(CONTROL_DIR, { recursive: true });
  writeFileSync(
    join(CONTROL_DIR, 'bad.ts'),
    "import type { SubscribeInstanceReply } from '../types/subscribe-instance-reply';\n" +
      "export const bad: SubscribeInstanceReply = { errors: [], data: null, action: 'subscribe_instance', response_status: '201', request_id: 1 };\n",
  );
  writeFileSync(
    join(CONTROL_DIR, 'tsconfig.json'),
    JSON.stringify({ extends: '../../tsconfig.json', files: ['bad.ts'] }),
  );
  const r = tsc(['-p', join(CONTROL_DIR, 'tsconfig.json'), '--noEmit', '--strict']);
  assert.ifError(r.error);
  assert.notEqual(r.status, 0, `tsc accepted a string response_status:\n${r.output}`);
  assert.match(r.output, /TS2322/, `unexpected tsc output:\n${r.output}`);
});
