#!/usr/bin/env node
// Reads feathers-sync messages written by Roost (JSON on stdin, from roost-redis' `vectors`
// test) and feeds each to a Feathers 5 app running the real feathers-sync core, as a Node pod
// receiving it from Redis would ('sync-in' with a Buffer). Checks that each one is emitted
// exactly once and that the listener (what channel publishers get) sees the expected data
// and context fields. Exits 1 on any mismatch, after printing every one.
//
// Input: {messages: [{serializer: "json"|"flatted", text, expect: {event, path, data, method,
//         id, user, provider, result, dispatch}}]}
'use strict';

const assert = require('assert');
const { pod, seen } = require('./common');

const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const failures = [];
let checked = 0;
for (const { serializer, text, expect } of input.messages) {
  try {
    const { app, heard } = pod(serializer);
    app.emit('sync-in', Buffer.from(text));
    assert.strictEqual(heard.length, 1, 'emitted exactly once');
    assert.deepStrictEqual(seen(heard[0]), expect);
    assert.strictEqual(heard[0].context.service, app.service('messages'));
    checked++;
  } catch (error) {
    failures.push(`${serializer} ${text.slice(0, 120)}…: ${error.message}`);
  }
}
for (const f of failures) console.log(`FAIL ${f}`);
console.log(`${checked} passed, ${failures.length} failed`);
process.exit(failures.length ? 1 : 0);
