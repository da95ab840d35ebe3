#!/usr/bin/env node
// Runs query strings through the real `qs` (the version @feathersjs/koa 5.0.50 resolves to through
// koa-qs 3.0.0) and writes crates/roost-wire/tests/vectors/qs.json for roost-wire's qs_vectors test.
//
// koa-qs calls `qs.parse(querystring, undefined)`, so the Koa vectors use qs's defaults. Vectors with
// an `options` field exercise the knobs `QsOptions` exposes; `error: true` means qs threw.
'use strict';

const fs = require('fs');
const path = require('path');
const qs = require('qs');

const version = require('qs/package.json').version;

// What the Feathers JS rest-client sends: `qs.stringify(query)` with default options.
const feathersQueries = [
  { $limit: 10 },
  { $limit: 10, $skip: 20 },
  { $sort: { createdAt: -1 } },
  { $sort: { createdAt: -1, name: 1 } },
  { $sort: { 'user.name': 1 } },
  { $select: ['id', 'text'] },
  { $or: [{ name: 'x' }, { name: 'y' }] },
  { $or: [{ roomId: 1 }, { userId: { $in: [1, 2] } }] },
  { id: { $in: [1, 2, 3] } },
  { id: { $nin: ['a', 'b'] } },
  { age: { $lt: 30, $gte: 18 } },
  { age: { $ne: null } },
  { text: null },
  { text: '' },
  { text: undefined, roomId: 4 },
  { done: true, archived: false },
  { $and: [{ $or: [{ a: 1 }, { b: 2 }] }, { c: { $gt: 3 } }] },
  { $and: [{ $or: [{ a: { $in: [1, 2] } }, { b: { $nin: [3] } }] }, { $or: [{ c: 1 }, { d: 2 }] }] },
  { $or: [{ $and: [{ a: 1 }, { b: 2 }] }, { $and: [{ c: 3 }, { d: { $lte: 4 } }] }] },
  { name: { $like: '%ohn%' } },
  { text: 'hello world & more = stuff' },
  { text: 'ünïcödé ✓ 😀' },
  { text: 'a+b c%d' },
  { text: '[brackets]' },
  { 'weird[key]': 'v' },
  { 'a=b': 'c' },
  { $limit: '5', $sort: { createdAt: '-1' }, roomId: 'abc' },
  { userId: { $in: [] } },
  { $select: [] },
  { nested: { deep: { deeper: { deepest: { bottom: { floor: 'x' } } } } } },
  { list: Array.from({ length: 25 }, (_, i) => `v${i}`) },
  { list: Array.from({ length: 21 }, (_, i) => i) },
  { list: Array.from({ length: 20 }, (_, i) => i) },
  { $or: Array.from({ length: 22 }, (_, i) => ({ id: i })) },
  { date: new Date(Date.UTC(2024, 0, 2, 3, 4, 5)) },
  { n: 1.5e-7, m: -0, big: 12345678901234567890 },
];

const stringified = [];
for (const q of feathersQueries) {
  stringified.push(qs.stringify(q));
  // the same query with brackets left readable (what people type by hand)
  stringified.push(qs.stringify(q, { encodeValuesOnly: true }));
}

const many = (n, f) => Array.from({ length: n }, (_, i) => f(i)).join('&');

const handWritten = [
  // basics
  '', 'a', 'a=', '=', '==', '=x', 'a=b', 'a=b=c', 'a==b', 'a=b&c=d', 'a=1&a=2', 'a=1&a=2&a=3',
  '&&', '&a=1&&b=2&', 'a&b', 'a&a', 'a&a=', 'a=&a', '&', '&=&', 'a=1;b=2', '?a=1', '#a=1', ' a = b ',
  'a+b=c+d', 'a%20b=c%20d', 'a=%2B', 'a=+%2B+',
  // percent-decoding
  'a=%', 'a=%2', 'a=%zz', 'a=%41', 'a=%4a%4A', 'a=100%', 'a=50%25', 'a=%E2%9C%93', 'a=%e2%9c%93',
  'a=%E2%9C', 'a=%E2%9C%93%', 'a=%FF', 'a=%C3%A9&b=%C3', 'a=%C0%80', 'a=%ED%A0%80', 'a=%F4%90%80%80',
  'a=%F0%9F%98%80', '%FF=1', '%E2%9C%93=check', 'a=%00', 'a=%0A%0D', 'a=%26&b=%3D', 'a%3Db=c', 'a%26b=c',
  'a=é', 'é=ü', '😀[😀]=😀', 'a=%E2%9C%93+%zz', 'a%2=1', 'a%=1',
  // brackets
  'a[b]=c', 'a[b][c]=d', 'a[b]=c&a[d]=e', 'a[b]=c&a[b]=d', 'a[]=x', 'a[]=x&a[]=y', 'a[]=', 'a[]',
  'a[][]=x', 'a[][]=x&a[][]=y', 'a[]=x&a=y', 'a=x&a[]=y', 'a[b][]=c&a[b][]=d', 'a[][b]=c', 'a[][b]=c&a[][b]=d',
  'a[', 'a[=1', 'a]', 'a]=1', 'a[b=1', 'a[[b]=1', 'a[b]]=1', 'a[b][=1', 'a[b[c]]=1', 'a[b[c]d]=1',
  '[a]=1', '[]=1', '[]=1&[]=2', '[=1', ']=1', '[[]]=1', 'a[]b=1', 'a[b]c=1', 'a[b]c[d]=1', 'a[ b ]=1',
  'a[b=c]=d', 'a=b]=c', 'a[b]=c]=d', 'a[]=b=c', 'a%5Bb%5D=c', 'a%5bb%5d=c', 'a%5B%5D=x&a%5B%5D=y',
  'a%255Bb%255D=c', 'a[%5B]=1', 'a[b%5D=1', 'a[b]%5B=1',
  // depth
  'a[b][c][d][e][f]=x', 'a[b][c][d][e][f][g]=x', 'a[b][c][d][e][f][g][h][i]=x', 'a[b][c][d][e][f][g]=x&a[b][c][d][e][f][h]=y',
  'a[0][1][2][3][4][5]=x', 'a[b][c][d][e][f][g=x', 'a[][][][][][][]=x', 'a[b][c][d][e][f]g[h]=x',
  // indices and arrays
  'a[0]=x', 'a[1]=x', 'a[0]=x&a[1]=y', 'a[1]=y&a[0]=x', 'a[1]=x&a[1]=y', 'a[0]=x&a[0]=y', 'a[2]=x&a[0]=y',
  'a[19]=x', 'a[20]=x', 'a[21]=x', 'a[0]=a&a[25]=b', 'a[25]=b&a[0]=a', 'a[0]=x&a[b]=y', 'a[b]=y&a[0]=x',
  'a[0]=x&a[]=y', 'a[]=y&a[0]=x', 'a[00]=x', 'a[01]=x', 'a[-1]=x', 'a[+1]=x', 'a[1.0]=x', 'a[1e2]=x',
  'a[ 1]=x', 'a[0x1]=x', 'a[999999999]=x', 'a[4294967294]=x', 'a[4294967295]=x', 'a[9007199254740993]=x',
  'a[100000000000000000000]=x', 'a[1000000000000000000000]=x', 'a[99999999999999999999999999]=x',
  'a[999999999]=x&a[]=y', 'a[25]=x&a[25]=y', 'a[25]=x&a=y', 'a=y&a[25]=x', 'a[25]=x&a[b]=y', 'a[25]=x&a[3]=y',
  'a[0][b]=1&a[0][c]=2', 'a[0][b]=1&a[1][b]=2', 'a[1][b]=1&a[0][b]=2', 'a[0]=1&a[0][b]=2', 'a[0][b]=2&a[0]=1',
  'a[0][0]=x&a[0][1]=y', 'a[1][0]=x&a[0][0]=y', 'a[][0]=x', 'a[0][]=x&a[0][]=y',
  // a scalar met by an object at the same key becomes [scalar, object]: one more level each time
  'a=&a[b]=&a[b][b]=&a[b][b][b]=&a[b][b][b][b]=&a[b][b][b][b][b]=',
  'r[][g]=&r[][g][r][][g][1[f=&r[][g][r][][g][1[f=', 'a[1]=&a[b][0][0][][b][b]=&a[b][1][1][1][1]=&a[1][b][1][0][1][0]=&a[][1][1][][0]=&a[][]=&a[0][1][0][0]=',
  '0=a', '0=a&1=b', '1=b&0=a', 'b=1&0=2&a=3', '0[x]=1&0=2', '0=2&0[x]=1', '5=x&5[a]=y', '4294967295=a&1=b&z=c',
  'a=x&a[19]=y', 'a=x&a[18]=y', 'a[]=x&a[19]=y', 'a=x&a[b]=y', 'a[b]=y&a=x', 'a=&a[b]=x', 'a[b]=x&a=',
  'a=x&a[b]=y&a=z', 'a[b]=y&a=x&a=z', 'a[b]=1&a=x&a=y&a=z', 'a=x&a=y&a[b]=z', 'a[b]=c&a[b][d]=e', 'a[b][d]=e&a[b]=c',
  'a[b]=c&a[b]=d&a[b][e]=f', 'a[0]=x&a[b]=y&a[]=z', 'a[0]=x&a[b]=y&a=z',
  // long arrays through repeated keys
  many(20, (i) => `a=${i}`), many(21, (i) => `a=${i}`), many(25, (i) => `a=${i}`),
  many(21, (i) => `a[]=${i}`), many(22, (i) => `a[]=${i}`), many(25, (i) => `a[${i}]=${i}`),
  many(21, (i) => `a[${20 - i}]=${i}`), many(21, (i) => `a=${i}`) + '&a[b]=x', many(21, (i) => `a=${i}`) + '&a[]=x',
  'a[b]=x&' + many(21, (i) => `a=${i}`), many(21, (i) => `a[]=${i}`) + '&a=z', many(21, (i) => `a[x][]=${i}`),
  many(19, (i) => `a[]=${i}`) + '&a[b]=c&a=d&a=e', many(21, (i) => `a[0][b]=${i}`),
  many(21, (i) => `a[${i}][b]=${i}`), many(3, (i) => `a[${i * 20}]=${i}`),
  // parameter limit (1000)
  many(1000, (i) => `k${i}=${i}`), many(1001, (i) => `k${i}=${i}`), many(1005, () => 'a=1'),
  many(999, () => '') + '&a=1&b=2',
  // prototype keys
  '__proto__=x', '__proto__[a]=x', 'a[__proto__]=x', 'a[__proto__][b]=x', 'a[b][__proto__]=x',
  'toString=x', 'a[toString]=x', 'hasOwnProperty=x', 'constructor[prototype][x]=1', 'a[constructor]=1',
  'valueOf=1&b=2', 'a[b]=1&a[hasOwnProperty]=2', '[__proto__]=1', '[toString]=1', 'prototype=1', 'a[prototype]=1',
  '__proto__%5Ba%5D=1', 'a[b][c][d][e][f][toString]=1', 'a[toString=1', 'a=1&a[toString]=2', 'a[b]=1&a=toString',
  'a[b]=1&a=hasOwnProperty', 'a[]=1&a=toString',
  // strings the shell and browsers produce
  'q=hello+world', 'q=hello%20world', 'q=100%25+sure', 'redirect=https%3A%2F%2Fexample.com%2F%3Fx%3D1%26y%3D2',
  'filter[name][$regex]=^a.*$', 'a.b=c', 'a.b.c=d', 'a[b.c]=d', '$limit=5&$skip=0', '$sort=createdAt',
  'k=' + 'x'.repeat(5000), 'x'.repeat(3000) + '=1', 'a[' + 'b'.repeat(100) + ']=1', '['.repeat(50) + '=1',
  ']'.repeat(50) + '=1', '[]'.repeat(50) + '=1', 'a' + '[b]'.repeat(40) + '=1', '%'.repeat(20) + '=%',
];

const koaInputs = [...new Set([...stringified, ...handWritten])];

const optionSets = [
  { parameterLimit: 3 },
  { depth: 0 },
  { depth: 1 },
  { depth: 2 },
  { depth: 10 },
  { arrayLimit: 0 },
  { arrayLimit: 1 },
  { arrayLimit: 3 },
  { arrayLimit: 100 },
  { strictDepth: true },
  { throwOnLimitExceeded: true },
  { throwOnLimitExceeded: true, parameterLimit: 3 },
  { throwOnLimitExceeded: true, arrayLimit: 3 },
  { throwOnLimitExceeded: true, arrayLimit: 1 },
];
const optionInputs = [
  'a=1&b=2&c=3', 'a=1&b=2&c=3&d=4', 'a=1&&&b=2', 'a[b][c][d]=x', 'a[b][c][d][e][f][g][h]=x', '[a][b]=x', '[toString]=1',
  '[a]=1', 'a[b][c=x', 'a[0]=x', 'a[2]=x', 'a[3]=x', 'a[0]=x&a[5]=y', 'a=1&a=2', 'a=1&a=2&a=3', 'a=1&a=2&a=3&a=4',
  'a[]=1&a[]=2&a[]=3&a[]=4', 'a[]=1', 'a[][]=1', 'a=1&a[b]=2&a=3&a=4', 'a[b]=2&a=1&a=3&a=4', 'a=1&a[1]=2',
  'a[0]=1&a[1]=2&a[2]=3&a[3]=4', 'a[3]=1&a=2', 'a=2&a[3]=1', 'a[0][b]=1&a[1][b]=2', many(5, (i) => `a[]=${i}`),
];

const run = (input, options) => {
  try {
    return { expected: qs.parse(input, options) };
  } catch (err) {
    return { error: err.constructor.name + ': ' + err.message };
  }
};

const vectors = [];
for (const input of koaInputs) {
  vectors.push({ input, ...run(input, undefined) });
}
for (const options of optionSets) {
  for (const input of optionInputs) {
    vectors.push({ input, options, ...run(input, options) });
  }
}

const out = path.join(__dirname, '..', '..', 'crates', 'roost-wire', 'tests', 'vectors', 'qs.json');
fs.mkdirSync(path.dirname(out), { recursive: true });
fs.writeFileSync(out, JSON.stringify(vectors, null, 1) + '\n');
console.log(`qs ${version}: wrote ${vectors.length} vectors to ${path.relative(process.cwd(), out)}`);
