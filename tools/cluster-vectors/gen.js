#!/usr/bin/env node
// Writes crates/roost-redis/tests/vectors/cluster.json from the real npm packages:
// - `flatted`: values and `flatted.stringify(value)`, plus flatted texts with shared and
//   circular references and the tree roost-redis must read from them;
// - `feathers-sync`: the exact messages a Node pod publishes (JSON and flatted serializers)
//   for creates (one and multi), patches, removes and a custom event, with what the receiving
//   pod's publishers see after 'sync-in'.
'use strict';

const fs = require('fs');
const path = require('path');
const { pod, seen, flatted } = require('./common');

// The tree roost-redis reads from a value with shared/circular references: shared objects
// copied, a reference back to an enclosing object replaced by null.
function tree(value, ancestors = []) {
  if (value === null || typeof value !== 'object') return value;
  if (ancestors.includes(value)) return null;
  const next = [...ancestors, value];
  if (Array.isArray(value)) return value.map((v) => (v === undefined ? null : tree(v, next)));
  const out = {};
  for (const k of Object.keys(value)) {
    if (value[k] !== undefined) out[k] = tree(value[k], next);
  }
  return out;
}

const plain = [
  null, true, 0, -1.5, 'just a string', '', [], {}, [1, 'a', 'a', null],
  { a: 'b', n: 1 },
  { text: 'hi', user: { id: 7, name: 'Ann', tags: ['x', 'y', 'x'] }, list: [{ a: 1 }, { a: 1 }] },
  { 2: 'two', 1: 'one', b: 'bee', a: 'ay', 10: 'ten' },
  { quote: 'a "q" \\ / \n\t\u0001 \u2028 ü ✓ 😀', '': 'empty key', '0': '0' },
  { same: 'v', again: 'v', nested: { deep: { deeper: ['v', { v: 'v' }] } } },
  ['0', '1', '2', { '0': '0' }],
  { big: 12345678901234, neg: -7, f: 0.25, e: 1e-7 },
];

const shared = { id: 1, name: 'shared' };
const circular = { name: 'loop', list: [] };
circular.self = circular;
circular.list.push(circular, { back: circular, shared }, shared);
const cyclicArray = [1];
cyclicArray.push(cyclicArray);
const referenced = [
  { a: shared, b: shared, c: [shared] },
  circular,
  cyclicArray,
  { user: { id: 7 }, connection: { user: null } },
];
referenced[3].connection.user = referenced[3].user;
referenced[3].connection.self = referenced[3].connection;

const flattedVectors = [
  ...plain.map((value) => ({ value, flatted: flatted.stringify(value) })),
  ...referenced.map((value) => ({ flatted: flatted.stringify(value), tree: tree(value) })),
];

async function messages(serializer) {
  const { app, sent } = pod(serializer);
  const messages = app.service('messages');
  const user = { id: 7, email: 'ann@example.com', password: '$2b$10$hash' };
  const connection = { provider: 'socketio', headers: { host: 'example.com' }, user };
  const socketParams = () => {
    const params = { query: {}, route: {}, connection, provider: 'socketio', user, authentication: { strategy: 'jwt', accessToken: 'token' } };
    if (serializer === 'flatted') {
      // The circular bit flatted exists for (JSON.stringify would throw here).
      params.connection = { ...connection, self: null };
      params.connection.self = params.connection;
    }
    return params;
  };
  const cases = [];
  const run = async (name, call) => {
    const before = sent.length;
    await call();
    for (const text of sent.slice(before)) cases.push({ name, text });
  };
  await run('create', () => messages.create({ text: 'hi' }, socketParams()));
  await run('create multi', () => messages.create([{ text: 'a' }, { text: 'b' }], socketParams()));
  await run('patch', () => messages.patch(3, { text: 'edited' }, socketParams()));
  await run('remove internal', () => messages.remove(4));
  await run('custom event without context', () => messages.emit('typing', { user: 7 }));
  messages.hooks({ after: { create: [(ctx) => { ctx.dispatch = { id: ctx.result.id, hidden: true }; }] } });
  await run('create with dispatch', () => messages.create({ text: 'secret' }, socketParams()));

  // What the receiving pod's publishers see for each message.
  const receiver = pod(serializer);
  for (const c of cases) {
    const before = receiver.heard.length;
    receiver.app.emit('sync-in', Buffer.from(c.text));
    c.heard = receiver.heard.slice(before).map(seen);
    c.serializer = serializer;
  }
  return cases;
}

(async () => {
  const out = {
    versions: {
      flatted: require('flatted/package.json').version,
      'feathers-sync': require('feathers-sync/package.json').version,
      '@feathersjs/feathers': require('@feathersjs/feathers/package.json').version,
    },
    flatted: flattedVectors,
    feathersSync: [...(await messages('json')), ...(await messages('flatted'))],
  };
  const file = path.join(__dirname, '../../crates/roost-redis/tests/vectors/cluster.json');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(out, null, 1) + '\n');
  console.log(`wrote ${out.flatted.length} flatted and ${out.feathersSync.length} feathers-sync vectors to ${file}`);
})().catch((e) => { console.error(e); process.exit(1); });
