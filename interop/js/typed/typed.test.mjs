// The typed-schema pipeline of issue 12, section 3, on the shop app
// (interop/shop): the schemas `dcrf-schema` wrote from its drf-spectacular
// document for the component Product are
//   1. turned into TypeScript by json-schema-to-typescript, and usage.ts must
//      pass `tsc --strict --noEmit` with its `@ts-expect-error` lines being
//      real errors (wrong field types rejected);
//   2. compiled by Ajv (2020-12 and draft-07, strict), which must accept every
//      server frame recorded from the shop app (observed/smoke-transcript.md)
//      and reject the same frames with a wrong-typed field in `data`, frames
//      the generic schemas/ accept;
//   3. parsed by @asyncapi/parser (asyncapi.json) with no error.
//
// DCRF_TYPED_DIR: the --out directory of dcrf-schema. Unset: this test runs
// `cargo run -q -p dcrf-model --bin dcrf-schema` itself into a temp dir.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Ajv2020 from 'ajv/dist/2020.js';
import AjvDraft07 from 'ajv';
import addFormats from 'ajv-formats';
import { compile } from 'json-schema-to-typescript';
import { Parser, DiagnosticSeverity } from '@asyncapi/parser';
import { makeAjv2020 } from '../lib/common.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = resolve(HERE, '..', '..', '..');
const TRANSCRIPT = join(REPO_ROOT, 'interop', 'shop', 'observed', 'smoke-transcript.md');
const GEN_DIR = join(HERE, 'generated');
const require = createRequire(import.meta.url);
const TSC = require.resolve('typescript/bin/tsc');

function typedDir() {
  if (process.env.DCRF_TYPED_DIR) return process.env.DCRF_TYPED_DIR;
  const out = mkdtempSync(join(tmpdir(), 'dcrf-typed-'));
  const r = spawnSync(
    'cargo',
    [
      'run', '-q', '-p', 'dcrf-model', '--bin', 'dcrf-schema', '--',
      '--openapi', 'interop/shop/openapi.json', '--component', 'Product',
      '--path', '/api/live/products/', '--lookup-field', 'pk',
      '--actions', 'retrieve,subscribe_instance,unsubscribe_instance,list,create,update,patch,delete',
      '--out', out,
    ],
    { cwd: REPO_ROOT, encoding: 'utf8' },
  );
  assert.equal(r.status, 0, `dcrf-schema failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return out;
}

const DIR = typedDir();
const show = (v) => JSON.stringify(v);

function loadDir(dir) {
  assert.ok(existsSync(dir), `${dir} is missing: did dcrf-schema run?`);
  const names = readdirSync(dir).filter((n) => n.endsWith('.json')).sort();
  assert.ok(names.length > 0, `no schema in ${dir}`);
  return new Map(names.map((n) => [n, JSON.parse(readFileSync(join(dir, n), 'utf8'))]));
}

function makeValidators(AjvClass, dir) {
  const ajv = new AjvClass({ strict: true, allowUnionTypes: true, allErrors: true });
  addFormats(ajv);
  const schemas = loadDir(dir);
  const validators = new Map();
  for (const [name, schema] of schemas) validators.set(name, ajv.compile(schema));
  return validators;
}

// ---- the recorded frames ----------------------------------------------------

/** Server frames (`<< CONN: {...}`) and hook bodies (`<< HTTP :PORT: 200 {...}`) of the shop transcript. */
function recordedFrames() {
  assert.ok(existsSync(TRANSCRIPT), `${TRANSCRIPT} is missing`);
  const frames = [];
  const hookProducts = [];
  for (const [i, line] of readFileSync(TRANSCRIPT, 'utf8').split('\n').entries()) {
    const http = line.match(/^<< HTTP :\d+: 20[01] (\{.*\})$/);
    if (http) {
      const body = JSON.parse(http[1]);
      if (body.product) hookProducts.push({ line: i + 1, product: body.product });
      continue;
    }
    const ws = line.match(/^<< [^:]+: (\{.*\})$/);
    if (ws) frames.push({ line: i + 1, frame: JSON.parse(ws[1]) });
  }
  return { frames, hookProducts };
}

/** The typed schema a server frame answers to (SPEC section 9 dispatch, typed). */
function schemaFor(frame) {
  const { action, response_status: status, data } = frame;
  if (status >= 400) return 'error-reply.json';
  const table = {
    'retrieve 200': 'retrieve-reply.json',
    'list 200': 'list-reply.json',
    'create 201': 'create-reply.json',
    'create 200': 'create-event.json',
    'update 200': 'update-event.json',
    'patch 200': 'patch-reply.json',
    'subscribe_instance 201': 'subscribe-instance-reply.json',
    'unsubscribe_instance 204': 'unsubscribe-instance-reply.json',
    'delete 204': data === null ? 'delete-reply.json' : 'delete-event.json',
  };
  const name = table[`${action} ${status}`];
  assert.ok(name, `no typed schema for action ${action} status ${status}: ${show(frame)}`);
  return name;
}

// Wrong-typed `data` fields: each must be rejected by the typed schemas.
const PRODUCT_MUTATIONS = [
  ['price as a number', (d) => ({ ...d, price: 9.99 })],
  ['in_stock as "yes"', (d) => ({ ...d, in_stock: 'yes' })],
  ['category outside the enum', (d) => ({ ...d, category: 'tea' })],
  ['id not a UUID', (d) => ({ ...d, id: 42 })],
  ['updated_at not a date-time', (d) => ({ ...d, updated_at: 'yesterday' })],
  ['name over 100 characters', (d) => ({ ...d, name: 'x'.repeat(101) })],
  ['write-only secret_note sent', (d) => ({ ...d, secret_note: 'leak' })],
  ['price missing', ({ price, ...rest }) => rest],
];

function mutants(frame) {
  const d = frame.data;
  if (Array.isArray(d)) {
    return d.length ? PRODUCT_MUTATIONS.map(([why, f]) => [why, { ...frame, data: [f(d[0]), ...d.slice(1)] }]) : [];
  }
  if (d && typeof d === 'object' && 'pk' in d && Object.keys(d).length === 1) {
    return [['delete pk as a number', { ...frame, data: { pk: 7 } }]];
  }
  if (d && typeof d === 'object' && frame.errors.length === 0) {
    return PRODUCT_MUTATIONS.map(([why, f]) => [why, { ...frame, data: f(d) }]);
  }
  return [];
}

test('ajv (2020-12 and draft-07) accepts every recorded shop frame and rejects wrong-typed data', { timeout: 60_000 }, () => {
  const { frames, hookProducts } = recordedFrames();
  assert.ok(frames.length >= 40, `only ${frames.length} server frames found in ${TRANSCRIPT}`);
  const generic = makeAjv2020().validators;
  let accepted = 0;
  let rejected = 0;
  const seen = new Set();
  for (const [dialect, AjvClass] of [['2020-12', Ajv2020], ['draft-07', AjvDraft07]]) {
    const v = makeValidators(AjvClass, join(DIR, dialect));
    for (const { line, frame } of frames) {
      const name = schemaFor(frame);
      seen.add(name);
      const fn = v.get(name);
      assert.ok(fn, `${dialect}/${name} was not written`);
      assert.ok(fn(frame), `${dialect}/${name} rejects the recorded frame of transcript line ${line}:\n${show(frame)}\n${show(fn.errors)}`);
      accepted++;
      for (const [why, bad] of mutants(frame)) {
        assert.equal(fn(bad), false, `${dialect}/${name} accepts line ${line} with ${why}:\n${show(bad)}`);
        const g = generic.get(name === 'update-reply.json' ? 'update-event.json' : name);
        if (g) assert.ok(g(bad), `control: the generic ${name} should accept ${why} (untyped data)`);
        rejected++;
      }
    }
    const read = v.get('product.json');
    for (const { line, product } of hookProducts) {
      assert.ok(read(product), `${dialect}/product.json rejects the hook's product of line ${line}: ${show(read.errors)}`);
      accepted++;
    }
  }
  for (const must of ['retrieve-reply.json', 'update-event.json', 'delete-event.json', 'patch-reply.json', 'create-reply.json', 'error-reply.json']) {
    assert.ok(seen.has(must), `no recorded frame was checked against ${must}`);
  }
  assert.ok(rejected >= 50, `only ${rejected} wrong-typed frames were checked`);
  console.log(`ajv: ${accepted} recorded frames accepted, ${rejected} wrong-typed frames rejected (2020-12 and draft-07); schemas used: ${[...seen].sort().join(', ')}`);
});

// ---- TypeScript ------------------------------------------------------------

function tsc(args) {
  const r = spawnSync(process.execPath, [TSC, ...args], { cwd: HERE, encoding: 'utf8', timeout: 180_000 });
  return { status: r.status, output: `${r.stdout ?? ''}${r.stderr ?? ''}`, error: r.error };
}

async function generateTypes() {
  rmSync(GEN_DIR, { recursive: true, force: true });
  mkdirSync(GEN_DIR, { recursive: true });
  const dir = join(DIR, 'draft-07');
  for (const [file, schema] of loadDir(dir)) {
    assert.ok(schema.title, `${file} has no title to name its type`);
    const ts = await compile(schema, schema.title, {
      bannerComment: `/* Generated by json-schema-to-typescript from the dcrf-schema output draft-07/${file}. Do not edit. */`,
      cwd: dir,
      declareExternallyReferenced: true,
      additionalProperties: false,
    });
    assert.match(ts, new RegExp(`export (interface|type) ${schema.title}\\b`), `${file}: no ${schema.title} type`);
    writeFileSync(join(GEN_DIR, file.replace(/\.json$/, '.ts')), ts);
  }
  const product = readFileSync(join(GEN_DIR, 'product.ts'), 'utf8');
  console.log(`generated TypeScript for Product (generated/product.ts):\n${product}`);
  return product;
}

test('json-schema-to-typescript + tsc --strict: usage.ts compiles and its @ts-expect-error lines are errors', { timeout: 300_000 }, async () => {
  const product = await generateTypes();
  assert.match(product, /price: string;/, 'price is not typed as a string');
  assert.match(product, /in_stock: boolean;/, 'in_stock is not typed as a boolean');
  assert.match(product, /category: "beans" \| "equipment" \| "accessories";/, 'category is not a union of its choices');
  assert.doesNotMatch(product, /^\s*secret_note\??:/m, 'the write-only field is in the read type');
  assert.doesNotMatch(product, /\[k: string\]: unknown/, 'Product has an index signature');
  const usage = readFileSync(join(HERE, 'usage.ts'), 'utf8');
  const expected = usage.split('\n').filter((l) => l.trim().startsWith('// @ts-expect-error')).length;
  assert.ok(expected >= 2, 'usage.ts has no @ts-expect-error line');
  const ok = tsc(['-p', 'tsconfig.json', '--noEmit', '--strict']);
  assert.ifError(ok.error);
  assert.equal(ok.status, 0, `tsc --strict --noEmit failed on usage.ts:\n${ok.output}`);

  // Control: without the directives, every one of those lines is an error.
  const control = join(GEN_DIR, 'control');
  mkdirSync(control, { recursive: true });
  writeFileSync(
    join(control, 'usage.ts'),
    usage.replace(/^\s*\/\/ @ts-expect-error.*\n/gm, '').replaceAll("from './generated/", "from '../"),
  );
  writeFileSync(join(control, 'tsconfig.json'), JSON.stringify({ extends: '../../../tsconfig.json', files: ['usage.ts'] }));
  const bad = tsc(['-p', join(control, 'tsconfig.json'), '--noEmit', '--strict']);
  assert.ifError(bad.error);
  assert.notEqual(bad.status, 0, `tsc accepted usage.ts without its @ts-expect-error directives:\n${bad.output}`);
  const errors = bad.output.split('\n').filter((l) => /error TS\d+/.test(l)).length;
  assert.equal(errors, expected, `expected ${expected} type errors without the directives, got:\n${bad.output}`);
  console.log(`tsc --strict: usage.ts type-checks; ${expected} wrong-typed lines are rejected`);
});

// ---- AsyncAPI ----------------------------------------------------------------

test('@asyncapi/parser accepts asyncapi.json with no error diagnostics', { timeout: 120_000 }, async () => {
  const path = join(DIR, 'asyncapi.json');
  assert.ok(existsSync(path), `${path} is missing`);
  const { document, diagnostics } = await new Parser().parse(readFileSync(path, 'utf8'), { source: path });
  const fmt = (d) => `[${DiagnosticSeverity[d.severity] ?? d.severity}] ${d.code}: ${d.message}${d.path?.length ? ` at ${d.path.join('.')}` : ''}`;
  const errors = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error);
  assert.equal(errors.length, 0, `error diagnostics:\n${errors.map(fmt).join('\n')}`);
  assert.ok(document, 'the parser returned no document');
  assert.match(document.version(), /^3\./);
  const channels = document.allChannels().all();
  assert.deepEqual(channels.map((c) => c.address()), ['/api/live/products/']);
  const messages = document.allMessages().all();
  assert.ok(messages.length >= 20, `only ${messages.length} messages`);
  const retrieveReply = messages.find((m) => m.id() === 'retrieveReply');
  assert.ok(retrieveReply, 'no retrieveReply message');
  const data = retrieveReply.payload().properties().data;
  assert.equal(data.properties().price.type(), 'string', 'retrieveReply.data.price is not a string');
  const others = diagnostics.filter((d) => d.severity !== DiagnosticSeverity.Error);
  console.log(`asyncapi ${document.version()}: ${channels.length} channel, ${document.allOperations().all().length} operations, ${messages.length} messages; ${others.length} non-error diagnostics`);
});
