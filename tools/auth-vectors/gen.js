#!/usr/bin/env node
// Writes crates/roost-auth/tests/vectors/auth.json: bcrypt hashes made by bcryptjs and JWTs
// signed by jsonwebtoken, at the versions @feathersjs/authentication-local 5.0.50 (bcryptjs
// ^3.0.3) and @feathersjs/authentication 5.0.50 (jsonwebtoken ^9.0.3) resolve to, each with
// the outcome the real packages give. roost-auth's `vectors` test checks Roost agrees.
//
// Verification uses the options Feathers passes (`algorithms: [algorithm]`, `audience`,
// `issuer`) and a fixed `clockTimestamp`, and errors are recorded the way Feathers turns them
// into a NotAuthenticated: the message, and `data` = the error's own enumerable properties
// without `message` (so `{name}`, plus `expiredAt`/`date` as JSON dates).
'use strict';

const fs = require('fs');
const path = require('path');
const bcrypt = require('bcryptjs');
const jwt = require('jsonwebtoken');
const jws = require('jws');

const OUT = path.join(__dirname, '..', '..', 'crates', 'roost-auth', 'tests', 'vectors', 'auth.json');
const SECRET = 'roost-vector-secret-7f3a';
const NOW = 1700000000; // the fixed "now" of every verification
const AUD = 'https://yourdomain.com';

// ---------------------------------------------------------------- bcrypt
const passwords = [
  'alice-pw',
  '',
  'pässwörd ✓ 😀',
  'パスワード',
  'x'.repeat(71),
  'x'.repeat(72),
  'x'.repeat(73),
  'y'.repeat(100),
  // 70 ASCII bytes then a 4-byte emoji: the 72-byte cut falls inside the character.
  'z'.repeat(70) + '😀tail',
  'ü'.repeat(40), // 80 UTF-8 bytes
];

function withPrefix(hash, minor) {
  return '$2' + minor + hash.slice(3);
}

const hashes = [];
for (const password of passwords) {
  for (const cost of [4, 10]) {
    // Cost 10 (Feathers' default) for two passwords only: each check costs ~60 ms.
    if (cost === 10 && !['alice-pw', 'pässwörd ✓ 😀'].includes(password)) continue;
    const salt = bcrypt.genSaltSync(cost);
    for (const minor of ['a', 'b', 'y']) {
      // bcryptjs 3 makes $2b$ salts; $2a$/$2y$ hash identically and keep their prefix.
      const hash = bcrypt.hashSync(password, withPrefix(salt, minor));
      // Cut by code points: a lone surrogate is not valid JSON text for Rust.
      const chars = Array.from(password);
      const checks = [password, password + '!', chars.slice(0, -1).join(''), 'wrong'];
      if (Buffer.byteLength(password) > 72) checks.push(chars.slice(0, 72).join('') + 'different tail');
      hashes.push({
        password,
        hash,
        checks: [...new Set(checks)].map((candidate) => ({
          password: candidate,
          matches: bcrypt.compareSync(candidate, hash),
        })),
      });
    }
  }
}

// ---------------------------------------------------------------- JWT
// Feathers' createAccessToken: its default jwtOptions merged with overrides; an override of
// `undefined` removes the option (as a configured jwtOptions without it does).
function feathersSign(payload, options = {}, secret = SECRET) {
  const merged = {
    header: { typ: 'access' },
    audience: AUD,
    algorithm: 'HS256',
    expiresIn: '1d',
    jwtid: '3b1f5a5e-1b7c-4c41-9a8e-9c0f2b7d6e11',
    ...options,
  };
  for (const key of Object.keys(merged)) if (merged[key] === undefined) delete merged[key];
  return jwt.sign(payload, secret, merged);
}

const raw = (header, payload, secret = SECRET) =>
  jws.sign({ header, payload: JSON.stringify(payload), secret });

const b64 = (s) => Buffer.from(s).toString('base64url');

const far = NOW + 100 * 365 * 86400;
const valid = feathersSign({ iat: NOW - 10 }, { subject: '1', expiresIn: '100y' });
const [vh, vp, vs] = valid.split('.');
const tamperedPayload = b64(JSON.stringify({ ...JSON.parse(Buffer.from(vp, 'base64url')), sub: '2' }));

const defaults = { algorithm: 'HS256', audience: AUD, issuer: null };
const withIssuer = { ...defaults, issuer: 'feathers' };

const tokens = [
  ['valid, far-future exp', valid, defaults],
  ['valid, issuer checked', feathersSign({ iat: NOW }, { subject: '1', issuer: 'feathers' }), withIssuer],
  ['valid, extra payload and unicode', feathersSign({ iat: NOW, name: 'ünï ✓ 😀', roles: ['a'] }, { subject: '42' }), defaults],
  ['valid, typ JWT header', jwt.sign({ iat: NOW, aud: AUD }, SECRET, { expiresIn: 60 }), defaults],
  ['valid, aud array', raw({ alg: 'HS256', typ: 'access' }, { iat: NOW, exp: far, aud: ['x', AUD] }), defaults],
  ['valid, no exp', feathersSign({ iat: NOW }, { expiresIn: undefined }), defaults],
  ['valid, HS384 when configured', feathersSign({ iat: NOW }, { algorithm: 'HS384' }), { ...defaults, algorithm: 'HS384' }],
  ['valid, HS512 when configured', feathersSign({ iat: NOW }, { algorithm: 'HS512' }), { ...defaults, algorithm: 'HS512' }],
  ['valid, no audience configured', feathersSign({ iat: NOW }, { audience: undefined }), { ...defaults, audience: null }],
  ['expired', feathersSign({ iat: NOW - 90000 }), defaults],
  ['expired exactly now', raw({ alg: 'HS256', typ: 'access' }, { exp: NOW, aud: AUD }), defaults],
  ['expired, fractional exp', raw({ alg: 'HS256', typ: 'access' }, { exp: NOW - 0.25, aud: AUD }), defaults],
  ['wrong secret', feathersSign({ iat: NOW }, {}, 'another-secret'), defaults],
  ['alg none', jwt.sign({ iat: NOW, aud: AUD }, null, { algorithm: 'none' }), defaults],
  ['alg none with a signature', `${b64('{"alg":"none","typ":"JWT"}')}.${vp}.${vs}`, defaults],
  ['HS512 when HS256 is configured', feathersSign({ iat: NOW }, { algorithm: 'HS512' }), defaults],
  ['HS256 when HS384 is configured', valid, { ...defaults, algorithm: 'HS384' }],
  ['wrong audience', feathersSign({ iat: NOW }, { audience: 'https://evil.example' }), defaults],
  ['no audience claim', feathersSign({ iat: NOW }, { audience: undefined }), defaults],
  ['wrong issuer', feathersSign({ iat: NOW }, { issuer: 'someone' }), withIssuer],
  ['no issuer claim', valid, withIssuer],
  ['tampered payload', `${vh}.${tamperedPayload}.${vs}`, defaults],
  ['signature with padding', `${valid}=`, defaults],
  ['signature in standard base64', `${vh}.${vp}.${vs.replace(/-/g, '+').replace(/_/g, '/')}+`, defaults],
  ['not active yet', raw({ alg: 'HS256', typ: 'access' }, { nbf: NOW + 60, aud: AUD }), defaults],
  ['exp not a number', raw({ alg: 'HS256', typ: 'access' }, { exp: 'tomorrow', aud: AUD }), defaults],
  ['nbf not a number', raw({ alg: 'HS256', typ: 'access' }, { nbf: 'now', aud: AUD }), defaults],
  ['malformed, one part', 'garbage', defaults],
  ['malformed, two parts', `${vh}.${vp}`, defaults],
  ['malformed, four parts', `${valid}.x`, defaults],
  ['three garbage parts', 'a.b.c', defaults],
  ['empty parts', '..', defaults],
  ['header not JSON', `${b64('nope')}.${vp}.${vs}`, defaults],
  ['header null', `${b64('null')}.${vp}.${vs}`, defaults],
  ['header a number', `${b64('1')}.${vp}.${vs}`, defaults],
  ['leading space', ` ${valid}`, defaults],
  ['empty', '', defaults],
];

function feathersError(error) {
  const { message, errors, ...rest } = error;
  return { message, data: JSON.parse(JSON.stringify(rest)) };
}

const jwtVectors = tokens.map(([name, token, options]) => {
  const verifyOptions = { algorithms: [options.algorithm], clockTimestamp: NOW };
  if (options.audience) verifyOptions.audience = options.audience;
  if (options.issuer) verifyOptions.issuer = options.issuer;
  let outcome;
  try {
    outcome = { ok: true, payload: jwt.verify(token, SECRET, verifyOptions) };
  } catch (error) {
    outcome = { ok: false, error: feathersError(error) };
  }
  return { name, token, options, ...outcome };
});

// bcryptjs' `exports` hides its package.json from require().
const version = (name) =>
  JSON.parse(fs.readFileSync(path.join(__dirname, 'node_modules', name, 'package.json'), 'utf8')).version;

const out = {
  generator: 'tools/auth-vectors/gen.js',
  versions: {
    bcryptjs: version('bcryptjs'),
    jsonwebtoken: version('jsonwebtoken'),
    node: process.version,
  },
  secret: SECRET,
  now: NOW,
  bcrypt: hashes,
  jwt: jwtVectors,
};
fs.mkdirSync(path.dirname(OUT), { recursive: true });
fs.writeFileSync(OUT, JSON.stringify(out, null, 2) + '\n');
console.log(`wrote ${hashes.length} bcrypt and ${jwtVectors.length} jwt vectors to ${path.relative(process.cwd(), OUT)}`);
