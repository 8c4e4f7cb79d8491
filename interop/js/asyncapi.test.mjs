// schemas/asyncapi.json (generated from the Rust types) is a valid AsyncAPI
// document for the official parser, and its message payloads agree with
// their own examples and with the draft-07 schema files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { Parser, DiagnosticSeverity } from '@asyncapi/parser';
import AjvDraft07 from 'ajv';
import addFormats from 'ajv-formats';
import { ASYNCAPI_PATH, SCHEMAS_07, addRustFormats, loadSchemaDir } from './lib/common.mjs';

function readDoc() {
  assert.ok(existsSync(ASYNCAPI_PATH), `${ASYNCAPI_PATH} is missing (it is generated from the Rust types)`);
  return readFileSync(ASYNCAPI_PATH, 'utf8');
}

function fmt(d) {
  const where = d.path?.length ? ` at ${d.path.join('.')}` : '';
  return `[${DiagnosticSeverity[d.severity] ?? d.severity}] ${d.code}: ${d.message}${where}`;
}

test('@asyncapi/parser parses schemas/asyncapi.json with no error diagnostics', { timeout: 60_000 }, async () => {
  const text = readDoc();
  const parser = new Parser();
  const { document, diagnostics } = await parser.parse(text, { source: ASYNCAPI_PATH });
  const errors = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error);
  const others = diagnostics.filter((d) => d.severity !== DiagnosticSeverity.Error);
  if (others.length) console.log(`${others.length} non-error diagnostics:\n  ${others.map(fmt).join('\n  ')}`);
  assert.equal(errors.length, 0, `error diagnostics:\n${errors.map(fmt).join('\n')}`);
  assert.ok(document, 'the parser returned no document');
  assert.match(document.version(), /^3\./, 'expected an AsyncAPI 3 document');
  const channels = document.allChannels().all();
  const operations = document.allOperations().all();
  const messages = document.allMessages().all();
  assert.ok(channels.length > 0, 'no channel');
  assert.ok(operations.length > 0, 'no operation');
  assert.ok(messages.length > 0, 'no message');
  for (const m of messages) {
    assert.ok(m.hasPayload(), `message ${m.id()} has no payload`);
  }
  console.log(
    `asyncapi ${document.version()}: ${channels.length} channels (${channels.map((c) => c.address()).join(', ')}), ` +
      `${operations.length} operations, ${messages.length} messages`,
  );
});

// A standalone draft-07 schema for one message payload: its
// "#/components/schemas/X" refs are rewritten to "#/definitions/X" and the
// document's component schemas are carried along as definitions.
function payloadSchema(doc, name) {
  const payload = doc.components?.messages?.[name]?.payload;
  assert.ok(payload && typeof payload === 'object', `message ${name} has no inline payload schema`);
  const rewrite = (v) =>
    Array.isArray(v)
      ? v.map(rewrite)
      : v && typeof v === 'object'
        ? Object.fromEntries(
            Object.entries(v).map(([k, x]) => [
              k,
              k === '$ref' && typeof x === 'string' ? x.replace(/^#\/components\/schemas\//, '#/definitions/') : rewrite(x),
            ]),
          )
        : v;
  const schema = rewrite(payload);
  const defs = rewrite(doc.components?.schemas ?? {});
  return { ...schema, definitions: { ...defs, ...(schema.definitions ?? {}) } };
}

function newAjv() {
  const ajv = new AjvDraft07({ strict: true, allowUnionTypes: true, allErrors: true });
  addFormats(ajv);
  addRustFormats(ajv);
  return ajv;
}

test('every message example validates against its payload schema', { timeout: 60_000 }, () => {
  const doc = JSON.parse(readDoc());
  const ajv = newAjv();
  const messages = Object.entries(doc.components?.messages ?? {});
  assert.ok(messages.length > 0, 'components.messages is empty');
  let checked = 0;
  for (const [name, message] of messages) {
    const validate = ajv.compile(payloadSchema(doc, name));
    for (const ex of message.examples ?? []) {
      if (!('payload' in ex)) continue;
      assert.ok(validate(ex.payload), `${name}: example ${JSON.stringify(ex.payload)} invalid:\n${JSON.stringify(validate.errors, null, 2)}`);
      checked++;
    }
  }
  assert.ok(checked >= messages.length, `only ${checked} message examples for ${messages.length} messages`);
});

test('message payloads agree with the draft-07 schema files of the same title', { timeout: 60_000 }, () => {
  const doc = JSON.parse(readDoc());
  const ajv = newAjv();
  const files = loadSchemaDir(SCHEMAS_07);
  const fileAjv = newAjv();
  const byTitle = new Map(files.map(([file, schema]) => [schema.title, { file, schema, validate: fileAjv.compile(schema) }]));
  let paired = 0;
  for (const [name, message] of Object.entries(doc.components?.messages ?? {})) {
    const title = message.payload?.title ?? message.title;
    const twin = byTitle.get(title);
    if (!twin) continue;
    paired++;
    const validate = ajv.compile(payloadSchema(doc, name));
    for (const ex of twin.schema.examples ?? []) {
      assert.ok(validate(ex), `${name} rejects ${twin.file}'s example ${JSON.stringify(ex)}:\n${JSON.stringify(validate.errors, null, 2)}`);
    }
    for (const ex of message.examples ?? []) {
      if (!('payload' in ex)) continue;
      assert.ok(twin.validate(ex.payload), `${twin.file} rejects message ${name}'s example ${JSON.stringify(ex.payload)}`);
    }
  }
  assert.equal(paired, files.length, `only ${paired} of ${files.length} draft-07 schemas have a message of the same title`);
});
