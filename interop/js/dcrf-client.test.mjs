// dcrf-client (the JavaScript client of DCRF, pinned in package.json)
// against a server of this protocol, over its default transport: the
// channelsmultiplexer envelope {"stream", "payload"} on
// ${DCRF_WS_BASE}/ws/multiplexed/, stream "users". Out-of-band changes go
// through the admin HTTP API at ${DCRF_HTTP_BASE}.
//
// Every frame either side sends is recorded (a recording subclass of `ws`
// is installed as the global WebSocket that dcrf-client's
// reconnecting-websocket picks up), written to out/dcrf-client-wire.jsonl,
// and validated against schemas/2020-12 in the last test.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { OUT_DIR, isMultiplexed, makeAjv2020, sleep, validateFrame, withTimeout } from './lib/common.mjs';

const require = createRequire(import.meta.url);
const WS = require('ws');
const dcrf = require('dcrf-client').default; // CommonJS: {connect, createClient}

const WS_BASE = (process.env.DCRF_WS_BASE ?? '').replace(/\/+$/, '');
const HTTP_BASE = (process.env.DCRF_HTTP_BASE ?? WS_BASE.replace(/^ws(s?):/, 'http$1:')).replace(/\/+$/, '');
const MUX_URL = `${WS_BASE}/ws/multiplexed/`;
// run.sh sets this when it started a fresh reference server itself, so the
// seed (user 1 = "test 1") is known to be untouched.
const FRESH = process.env.DCRF_FRESH_SERVER === '1';
const STREAM = 'users';
const STEP_MS = 5_000; // one request/reply or one event
const QUIET_MS = 300; // "nothing arrives" window
const TEST_MS = 60_000;
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

// ---- wire recording ---------------------------------------------------------

const wire = []; // {conn, dir: 'send'|'recv'|'open'|'close', text?, ...}
const wireEvents = new EventEmitter();
let connCounter = 0;

function record(entry) {
  wire.push({ ...entry, t: Date.now() });
  wireEvents.emit('entry', entry);
}

class RecordingWebSocket extends WS {
  constructor(url, protocols, options) {
    super(url, protocols, options);
    this.conn = ++connCounter;
    record({ conn: this.conn, dir: 'open', url: String(url) });
    this.on('message', (data, isBinary) =>
      record({ conn: this.conn, dir: 'recv', binary: isBinary, text: isBinary ? data.toString('hex') : data.toString('utf8') }),
    );
    this.on('close', (code, reason) => record({ conn: this.conn, dir: 'close', code, reason: reason.toString() }));
  }

  send(data, ...rest) {
    record({ conn: this.conn, dir: 'send', text: String(data) });
    return super.send(data, ...rest);
  }
}

// dcrf-client's transport, reconnecting-websocket, uses the global WebSocket
// unless told otherwise; Node 20 has none (without --experimental-websocket).
globalThis.WebSocket = RecordingWebSocket;

const parsed = (e) => JSON.parse(e.text);
const sentOn = (conn) => wire.filter((e) => e.conn === conn && e.dir === 'send').map(parsed);
const recvOn = (conn) => wire.filter((e) => e.conn === conn && e.dir === 'recv' && !e.binary).map(parsed);

/** Resolve with the first received frame (already or later) matching pred. */
function waitForFrame(conn, pred, ms, what, since = 0) {
  const hit = wire.slice(since).find((e) => e.conn === conn && e.dir === 'recv' && !e.binary && pred(parsed(e)));
  if (hit) return Promise.resolve(parsed(hit));
  return withTimeout(
    new Promise((resolve) => {
      const on = (e) => {
        if (e.conn === conn && e.dir === 'recv' && !e.binary && pred(JSON.parse(e.text))) {
          wireEvents.off('entry', on);
          resolve(JSON.parse(e.text));
        }
      };
      wireEvents.on('entry', on);
    }),
    ms,
    what,
  );
}

// ---- clients ----------------------------------------------------------------

const clients = [];

/** dcrf.connect with the given options; resolves once its socket is open. */
async function connect(options) {
  const before = connCounter;
  const client = options === undefined ? dcrf.connect(MUX_URL) : dcrf.connect(MUX_URL, options);
  clients.push(client);
  // The first RecordingWebSocket created after this call is the client's.
  const conn = before + 1;
  await withTimeout(
    new Promise((resolve, reject) => {
      const check = () => {
        if (client.transport.isConnected()) return resolve();
        const closed = wire.find((e) => e.conn === conn && e.dir === 'close');
        if (closed) return reject(new Error(`${MUX_URL} closed the connection: ${JSON.stringify(closed)}`));
        setTimeout(check, 20);
      };
      check();
    }),
    STEP_MS,
    `a WebSocket connection to ${MUX_URL}`,
  );
  return { client, conn };
}

after(() => {
  for (const c of clients) {
    try {
      c.close();
    } catch {
      // already closed
    }
  }
  mkdirSync(OUT_DIR, { recursive: true });
  writeFileSync(join(OUT_DIR, 'dcrf-client-wire.jsonl'), wire.map((e) => JSON.stringify(e)).join('\n') + '\n');
});

/** A subscription callback that queues (data, action) calls. */
function inbox() {
  const calls = [];
  const ev = new EventEmitter();
  const callback = (data, action) => {
    calls.push({ data: structuredClone(data), action });
    ev.emit('call');
  };
  const next = (what, ms = STEP_MS) => {
    const seen = calls.length;
    return { seen, wait: () => withTimeout(new Promise((resolve) => {
      const check = () => (calls.length > seen ? (ev.off('call', check), resolve(calls[seen])) : undefined);
      ev.on('call', check);
      check();
    }), ms, what) };
  };
  return { calls, callback, next };
}

// ---- admin HTTP API ---------------------------------------------------------

async function admin(method, path, body) {
  const init = { method, signal: AbortSignal.timeout(STEP_MS) };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers = { 'content-type': 'application/json' };
  }
  const res = await fetch(`${HTTP_BASE}${path}`, init);
  const text = await res.text();
  let json;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, text, json };
}

let userSeq = 0;
function newUserFields(tag) {
  userSeq++;
  // Django's username validator allows letters, digits and @.+-_ only.
  const n = `${process.pid}-${Date.now()}-${userSeq}`;
  return { username: `js-${tag}-${n}`, email: `js-${n}@example.com`, password: 'js-interop-pw' };
}

async function adminCreateUser(tag) {
  const fields = newUserFields(tag);
  const r = await admin('POST', '/admin/users', fields);
  assert.equal(r.status, 201, `POST /admin/users -> ${r.status} ${r.text}`);
  assert.equal(typeof r.json?.id, 'number', `POST /admin/users returned no id: ${r.text}`);
  return r.json;
}

async function adminPatch(pk, fields) {
  const r = await admin('PATCH', `/admin/users/${pk}`, fields);
  assert.equal(r.status, 200, `PATCH /admin/users/${pk} -> ${r.status} ${r.text}`);
  return r.json;
}

const step = (promise, what) => withTimeout(promise, STEP_MS, what);

function requireServer() {
  assert.ok(
    WS_BASE,
    process.env.DCRF_SERVER_START_ERROR ??
      'DCRF_WS_BASE is not set: run interop/js/run.sh (it starts the reference server) or export DCRF_WS_BASE/DCRF_HTTP_BASE',
  );
}

// ---- tests ------------------------------------------------------------------

test('the server answers GET /healthz', { timeout: TEST_MS }, async () => {
  requireServer();
  let r;
  try {
    r = await admin('GET', '/healthz');
  } catch (e) {
    assert.fail(`cannot reach ${HTTP_BASE}/healthz: ${e.cause?.message ?? e.message}`);
  }
  assert.equal(r.status, 200, `GET /healthz -> ${r.status} ${r.text}`);
});

test('default settings: retrieve, list, create, patch, update, delete and errors over the multiplexed envelope', { timeout: TEST_MS }, async () => {
  requireServer();
  const { client, conn } = await connect(undefined);

  // retrieve pk 1: the seed user, the same as the admin API shows.
  const one = await step(client.retrieve(STREAM, 1), 'retrieve pk 1');
  const adminOne = await admin('GET', '/admin/users/1');
  assert.equal(adminOne.status, 200, `GET /admin/users/1 -> ${adminOne.status}`);
  assert.deepEqual(one, adminOne.json, 'retrieve pk 1 differs from GET /admin/users/1');
  assert.deepEqual(Object.keys(one).sort(), ['email', 'id', 'username']);
  assert.equal(one.id, 1);
  if (FRESH) assert.deepEqual(one, { id: 1, username: 'test 1', email: '1@example.com' });

  // dcrf-client sends {stream, payload: {action, pk, data: {}, request_id: <uuid v4>}}.
  const [retrieveFrame] = sentOn(conn);
  assert.equal(retrieveFrame.stream, STREAM);
  assert.equal(retrieveFrame.payload.action, 'retrieve');
  assert.equal(retrieveFrame.payload.pk, 1);
  assert.match(retrieveFrame.payload.request_id, UUID_V4);

  // Not found: the promise rejects with the whole reply payload.
  const missing = await step(
    client.retrieve(STREAM, 987654321).then(
      (data) => assert.fail(`retrieve of a missing pk resolved with ${JSON.stringify(data)}`),
      (reply) => reply,
    ),
    'retrieve of a missing pk',
  );
  assert.equal(missing.response_status, 404);
  assert.deepEqual(missing.errors, ['Not found']);
  assert.equal(missing.data, null);
  assert.equal(missing.action, 'retrieve');
  assert.equal(missing.request_id, sentOn(conn).at(-1).payload.request_id);

  // create
  const fields = newUserFields('default');
  const created = await step(client.create(STREAM, fields), 'create');
  assert.equal(typeof created.id, 'number');
  assert.deepEqual(created, { id: created.id, username: fields.username, email: fields.email }, 'create reply (password is write-only)');
  assert.deepEqual((await admin('GET', `/admin/users/${created.id}`)).json, created);

  // create with invalid data: 400, errors [{field: [messages]}]
  const invalid = await step(
    client.create(STREAM, { email: 'no-username@example.com', password: 'x' }).then(
      (data) => assert.fail(`invalid create resolved with ${JSON.stringify(data)}`),
      (reply) => reply,
    ),
    'invalid create',
  );
  assert.equal(invalid.response_status, 400);
  assert.equal(invalid.data, null);
  assert.equal(invalid.errors.length, 1);
  assert.ok(Array.isArray(invalid.errors[0].username), `expected a username error: ${JSON.stringify(invalid.errors)}`);

  // list
  const listed = await step(client.list(STREAM), 'list');
  assert.ok(Array.isArray(listed));
  assert.deepEqual(listed.find((u) => u.id === created.id), created);
  assert.deepEqual(listed.find((u) => u.id === 1), one);

  // patch
  const patchedName = `${fields.username}-patched`;
  const patched = await step(client.patch(STREAM, created.id, { username: patchedName }), 'patch');
  assert.deepEqual(patched, { ...created, username: patchedName });
  assert.deepEqual((await admin('GET', `/admin/users/${created.id}`)).json, patched);

  // update (every writable field, password included)
  const updatedFields = { username: `${fields.username}-updated`, email: `u-${fields.email}`, password: 'pw2' };
  const updated = await step(client.update(STREAM, created.id, updatedFields), 'update');
  assert.deepEqual(updated, { id: created.id, username: updatedFields.username, email: updatedFields.email });

  // delete: the reply has data null, so the promise resolves with null.
  const deleted = await step(client.delete(STREAM, created.id), 'delete');
  assert.equal(deleted, null);
  assert.equal((await admin('GET', `/admin/users/${created.id}`)).status, 404);

  // Every request carried a fresh UUID and got exactly one reply with it.
  const sent = sentOn(conn);
  const ids = sent.map((f) => f.payload.request_id);
  for (const id of ids) assert.match(id, UUID_V4);
  assert.equal(new Set(ids).size, ids.length, 'dcrf-client reused a request_id');
  const replies = recvOn(conn);
  for (const id of ids) {
    assert.equal(replies.filter((f) => f.payload?.request_id === id).length, 1, `not exactly one reply for ${id}`);
  }
  for (const f of replies) assert.equal(f.stream, STREAM, `reply on another stream: ${JSON.stringify(f)}`);
});

test('default settings: subscription frames, update not matched by the default pkField "pk", delete delivered', { timeout: TEST_MS }, async () => {
  requireServer();
  const { client, conn } = await connect(undefined);
  const user = await adminCreateUser('defaultsub');
  const box = inbox();

  const sub = client.subscribe(STREAM, user.id, box.callback);
  assert.equal(await step(sub, 'subscribe_instance reply'), null, 'subscribe resolves with the reply data (null)');
  const subFrame = sentOn(conn).at(-1);
  assert.deepEqual(Object.keys(subFrame.payload).sort(), ['action', 'pk', 'request_id']);
  assert.equal(subFrame.payload.action, 'subscribe_instance');
  assert.equal(subFrame.payload.pk, user.id);
  const subId = subFrame.payload.request_id;
  assert.match(subId, UUID_V4);

  // Out-of-band update: the event reaches the socket, addressed to subId...
  const since = wire.length;
  const newName = `${user.username}-oob`;
  await adminPatch(user.id, { username: newName });
  const event = await waitForFrame(
    conn,
    (f) => f.payload?.action === 'update' && f.payload?.request_id === subId,
    STEP_MS,
    'the update event on the wire',
    since,
  );
  assert.deepEqual(event, {
    stream: STREAM,
    payload: { errors: [], data: { ...user, username: newName }, action: 'update', response_status: 200, request_id: subId },
  });
  // ...but dcrf-client's default update selector is
  // {payload: {action: 'update', data: {pk: <pk>}, request_id}}: it needs a
  // `pk` key in the serialized instance, and this serializer (like DCRF's
  // docs) emits `id`. With default options the callback is not called;
  // pkField: 'id' fixes it (next test).
  await sleep(QUIET_MS);
  assert.deepEqual(box.calls, [], 'with the default pkField "pk" the update callback was called');

  // Delete via dcrf-client: the reply resolves null; the delete event
  // {data: {pk}} matches the default delete selector.
  const got = box.next('the delete callback');
  assert.equal(await step(client.delete(STREAM, user.id), 'delete'), null);
  assert.deepEqual(await got.wait(), { data: { pk: user.id }, action: 'delete' });

  assert.equal(sub.cancel(), true);
});

test('pkField "id": subscribe, out-of-band update, own patch, delete, all delivered to the callback', { timeout: TEST_MS }, async () => {
  requireServer();
  const { client, conn } = await connect({ pkField: 'id' });
  const fields = newUserFields('idsub');
  const created = await step(client.create(STREAM, fields), 'create');
  const patched = await step(client.patch(STREAM, created.id, { email: `p-${fields.email}` }), 'patch');
  assert.equal(patched.email, `p-${fields.email}`);

  const box = inbox();
  const sub = client.subscribe(STREAM, created.id, box.callback);
  assert.equal(await step(sub, 'subscribe_instance reply'), null);
  const subId = sentOn(conn).at(-1).payload.request_id;

  // Out-of-band update through the admin API.
  let got = box.next('the update callback after PATCH /admin/users');
  const oobName = `${fields.username}-oob`;
  const adminView = await adminPatch(created.id, { username: oobName });
  assert.deepEqual(await got.wait(), { data: { ...patched, username: oobName }, action: 'update' });
  assert.deepEqual(adminView, { ...patched, username: oobName });

  // A change made on this socket: its reply and an event (SPEC 4.3.4).
  got = box.next('the update callback after our own patch');
  const ownEmail = `own-${fields.email}`;
  const ownReply = await step(client.patch(STREAM, created.id, { email: ownEmail }), 'own patch');
  assert.deepEqual(ownReply, { id: created.id, username: oobName, email: ownEmail });
  assert.deepEqual(await got.wait(), { data: ownReply, action: 'update' });

  // Out-of-band delete: ensurePkFieldInDeleteEvents moves data.pk to data.id.
  got = box.next('the delete callback after DELETE /admin/users');
  const del = await admin('DELETE', `/admin/users/${created.id}`);
  assert.equal(del.status, 204, `DELETE /admin/users/${created.id} -> ${del.status} ${del.text}`);
  assert.deepEqual(await got.wait(), { data: { id: created.id }, action: 'delete' });

  // Exactly one callback per change, each from an event addressed to subId.
  await sleep(QUIET_MS);
  assert.deepEqual(box.calls.map((c) => c.action), ['update', 'update', 'delete']);
  const events = recvOn(conn).filter((f) => f.payload.request_id === subId && f.payload.action !== 'subscribe_instance');
  assert.equal(events.length, 3, `expected 3 events for ${subId}: ${JSON.stringify(events)}`);
  assert.equal(sub.cancel(), true);
});

test('cancel() stops callbacks; unsubscribe_instance with the subscription\'s request_id stops the events', { timeout: TEST_MS }, async () => {
  requireServer();
  const { client, conn } = await connect({ pkField: 'id' });
  const user = await adminCreateUser('cancel');
  const box = inbox();
  const sub = client.subscribe(STREAM, user.id, box.callback);
  await step(sub, 'subscribe_instance reply');
  const subId = sentOn(conn).at(-1).payload.request_id;

  // Live: one update reaches the callback.
  const got = box.next('the update callback before cancel');
  await adminPatch(user.id, { username: `${user.username}-a` });
  assert.equal((await got.wait()).action, 'update');

  // cancel(): dcrf-client 0.3.0 only drops its local listeners.
  const sentBefore = sentOn(conn).length;
  assert.equal(sub.cancel(), true);
  assert.equal(sub.cancel(), false, 'a second cancel reports the subscription was already gone');
  assert.equal(sentOn(conn).length, sentBefore, 'cancel() sent a frame');

  // The server still holds the subscription, so the event is on the wire,
  // but no callback runs.
  let since = wire.length;
  await adminPatch(user.id, { username: `${user.username}-b` });
  await waitForFrame(conn, (f) => f.payload?.action === 'update' && f.payload?.request_id === subId, STEP_MS, 'the update event after cancel', since);
  await sleep(QUIET_MS);
  assert.equal(box.calls.length, 1, `callback called after cancel(): ${JSON.stringify(box.calls)}`);

  // unsubscribe_instance through dcrf-client's generic request(), with the
  // subscription's own request_id (what dcrf-client 1.x sends on cancel):
  // 204, data null, and afterwards nothing arrives.
  const unsub = await step(
    client.request(STREAM, { action: 'unsubscribe_instance', pk: user.id }, subId),
    'unsubscribe_instance reply',
  );
  assert.equal(unsub, null);
  assert.deepEqual(recvOn(conn).at(-1), {
    stream: STREAM,
    payload: { errors: [], data: null, action: 'unsubscribe_instance', response_status: 204, request_id: subId },
  });
  since = wire.length;
  await adminPatch(user.id, { username: `${user.username}-c` });
  await sleep(QUIET_MS);
  const after = wire.slice(since).filter((e) => e.conn === conn && e.dir === 'recv');
  assert.deepEqual(after, [], 'a frame arrived after unsubscribe_instance');
  assert.equal(box.calls.length, 1);

  assert.equal(await step(client.delete(STREAM, user.id), 'delete (cleanup)'), null);
});

test('every frame dcrf-client sent and received is valid (schemas/2020-12, SPEC section 9)', { timeout: TEST_MS }, () => {
  requireServer();
  const { validators } = makeAjv2020();
  const failures = [];
  let sent = 0;
  let received = 0;
  for (const e of wire) {
    if (e.dir !== 'send' && e.dir !== 'recv') continue;
    if (e.binary) {
      failures.push(`conn ${e.conn}: binary frame ${e.text}`);
      continue;
    }
    let frame;
    try {
      frame = JSON.parse(e.text);
    } catch (err) {
      failures.push(`conn ${e.conn} ${e.dir}: not JSON: ${e.text}`);
      continue;
    }
    if (!isMultiplexed(frame)) failures.push(`conn ${e.conn} ${e.dir}: not multiplexed: ${e.text}`);
    const { failures: f } = validateFrame(validators, frame, e.dir === 'send' ? 'client' : 'server');
    if (f.length) failures.push(`conn ${e.conn} ${e.dir}: ${e.text}\n${JSON.stringify(f, null, 2)}`);
    if (e.dir === 'send') sent++;
    else received++;
  }
  console.log(`validated ${sent} frames dcrf-client sent and ${received} it received`);
  assert.deepEqual(failures, []);
  assert.ok(sent >= 15 && received >= 15, `too few frames recorded: ${sent} sent, ${received} received`);
});
