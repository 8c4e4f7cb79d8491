// Shared helpers of the interop/js tests: paths, the Ajv set-up for the
// project's JSON Schemas, and the dispatch rules of SPEC.md section 9.
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Ajv2020 from 'ajv/dist/2020.js';
import AjvDraft07 from 'ajv';
import addFormats from 'ajv-formats';

export const HERE = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const REPO_ROOT = resolve(HERE, '..', '..');
export const SCHEMAS_DIR = join(REPO_ROOT, 'schemas');
export const SCHEMAS_2020 = join(SCHEMAS_DIR, '2020-12');
export const SCHEMAS_07 = join(SCHEMAS_DIR, 'draft-07');
export const ASYNCAPI_PATH = join(SCHEMAS_DIR, 'asyncapi.json');
export const OBSERVED_FRAMES = join(REPO_ROOT, 'interop', 'dcrf', 'observed', 'frames.jsonl');
export const OUT_DIR = join(HERE, 'out');

/** Every `*.json` file of a schema directory, sorted, as [name, parsed]. */
export function loadSchemaDir(dir) {
  if (!existsSync(dir)) throw new Error(`schema directory missing: ${dir}`);
  const names = readdirSync(dir).filter((n) => n.endsWith('.json')).sort();
  if (names.length === 0) throw new Error(`no schema in ${dir}`);
  return names.map((n) => [n, JSON.parse(readFileSync(join(dir, n), 'utf8'))]);
}

// schemars emits Rust integer/float widths as `format` values. They are not
// JSON Schema formats, so Ajv (strict) refuses unknown ones; register each
// with the range it names instead of switching format validation off.
const INT_RANGES = {
  int8: [-(2 ** 7), 2 ** 7 - 1],
  int16: [-(2 ** 15), 2 ** 15 - 1],
  int32: [-(2 ** 31), 2 ** 31 - 1],
  int64: [-(2 ** 63), 2 ** 63],
  int: [-(2 ** 63), 2 ** 63],
  uint8: [0, 2 ** 8 - 1],
  uint16: [0, 2 ** 16 - 1],
  uint32: [0, 2 ** 32 - 1],
  uint64: [0, 2 ** 64],
  uint: [0, 2 ** 64],
};

export function addRustFormats(ajv) {
  for (const [name, [min, max]] of Object.entries(INT_RANGES)) {
    ajv.addFormat(name, {
      type: 'number',
      validate: (n) => Number.isInteger(n) && n >= min && n <= max,
    });
  }
  for (const name of ['float', 'double']) {
    ajv.addFormat(name, { type: 'number', validate: (n) => Number.isFinite(n) });
  }
  return ajv;
}

function configure(ajv) {
  addFormats(ajv);
  addRustFormats(ajv);
  return ajv;
}

/**
 * An Ajv2020 instance holding every schema of schemas/2020-12, strict mode on.
 * Returns {ajv, schemas: Map(name -> schema), validators: Map(name -> fn)}.
 */
export function makeAjv2020() {
  const ajv = configure(new Ajv2020({ strict: true, allowUnionTypes: true, allErrors: true }));
  return compileAll(ajv, loadSchemaDir(SCHEMAS_2020));
}

/** The same for schemas/draft-07 (plain Ajv is draft-07). */
export function makeAjvDraft07() {
  const ajv = configure(new AjvDraft07({ strict: true, allowUnionTypes: true, allErrors: true }));
  return compileAll(ajv, loadSchemaDir(SCHEMAS_07));
}

function compileAll(ajv, entries) {
  const schemas = new Map(entries);
  const validators = new Map();
  for (const [name, schema] of entries) ajv.addSchema(schema, name);
  for (const [name] of entries) validators.set(name, ajv.getSchema(name));
  return { ajv, schemas, validators };
}

export const REQUEST_ACTIONS = [
  'retrieve',
  'subscribe_instance',
  'unsubscribe_instance',
  'list',
  'create',
  'update',
  'patch',
  'delete',
];

const REPLY_2XX = {
  retrieve: 'retrieve-reply.json',
  subscribe_instance: 'subscribe-instance-reply.json',
  unsubscribe_instance: 'unsubscribe-instance-reply.json',
  update: 'update-event.json',
  list: 'list-reply.json',
  create: 'create-reply.json',
  patch: 'patch-reply.json',
};

export function isPlainObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * A frame is multiplexed when it is an object with `stream` and `payload` and
 * none of the reply keys (SPEC 8.1).
 */
export function isMultiplexed(frame) {
  return (
    isPlainObject(frame) &&
    'stream' in frame &&
    'payload' in frame &&
    !('response_status' in frame) &&
    !('action' in frame)
  );
}

/** Schemas (file names) a server frame (unwrapped) must satisfy, SPEC section 9. */
export function serverFrameSchemas(frame) {
  const names = ['reply.json'];
  if (!isPlainObject(frame)) return names;
  const status = frame.response_status;
  if (Number.isInteger(status) && status >= 400 && status <= 599) {
    names.push('error-reply.json');
  } else if (Number.isInteger(status) && status >= 200 && status <= 299) {
    const action = frame.action;
    if (action === 'delete') {
      names.push(frame.data === null ? 'delete-reply.json' : 'delete-event.json');
    } else if (typeof action === 'string' && Object.hasOwn(REPLY_2XX, action)) {
      names.push(REPLY_2XX[action]);
    }
  }
  return names;
}

/** Schemas a client request (unwrapped) must satisfy, SPEC section 9. */
export function requestSchemas(frame) {
  const names = ['request.json'];
  if (isPlainObject(frame) && REQUEST_ACTIONS.includes(frame.action)) {
    names.push(`${frame.action.replaceAll('_', '-')}-request.json`);
  }
  return names;
}

/**
 * Validate one frame, unwrapping the multiplexed envelope first.
 * direction: 'server' | 'client'. Returns a list of failures
 * [{schema, errors}] (empty when valid) and the schemas checked.
 */
export function validateFrame(validators, frame, direction) {
  const failures = [];
  const checked = [];
  const check = (name, value) => {
    const fn = validators.get(name);
    if (!fn) {
      failures.push({ schema: name, errors: [{ message: `schema ${name} is missing` }] });
      return;
    }
    checked.push(name);
    if (!fn(value)) failures.push({ schema: name, errors: fn.errors });
  };
  let inner = frame;
  if (isMultiplexed(frame)) {
    check('multiplexed.json', frame);
    inner = frame.payload;
  }
  const names = direction === 'server' ? serverFrameSchemas(inner) : requestSchemas(inner);
  for (const name of names) check(name, inner);
  return { failures, checked };
}

/** Reject after ms with a message naming what was awaited. */
export function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
