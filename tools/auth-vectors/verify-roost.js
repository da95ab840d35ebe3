#!/usr/bin/env node
// Reads hashes and tokens made by Roost (JSON on stdin, written by roost-auth's `vectors`
// test) and checks them with bcryptjs and jsonwebtoken, the packages Feathers 5.0.50 uses.
// Exits 1 on any mismatch, after printing every one.
//
// Input: {hashes: [{password, hash, matches}],
//         tokens: [{name, token, payload, verify: {secret, algorithm, audience, issuer, typ}}]}
'use strict';

const bcrypt = require('bcryptjs');
const jwt = require('jsonwebtoken');
const assert = require('assert');

const failures = [];
const check = (what, fn) => {
  try {
    fn();
  } catch (error) {
    failures.push(`${what}: ${error.message}`);
  }
};

const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));

for (const { password, hash, matches } of input.hashes) {
  check(`bcrypt ${hash} with ${JSON.stringify(password)}`, () => {
    assert.match(hash, /^\$2b\$\d\d\$/);
    assert.strictEqual(bcrypt.compareSync(password, hash), matches);
  });
}

for (const { name, token, payload, verify } of input.tokens) {
  check(`jwt ${name}`, () => {
    const options = { algorithms: [verify.algorithm] };
    if (verify.audience) options.audience = verify.audience;
    if (verify.issuer) options.issuer = verify.issuer;
    const verified = jwt.verify(token, verify.secret, options);
    assert.deepStrictEqual(verified, payload);
    const { header } = jwt.decode(token, { complete: true });
    assert.deepStrictEqual(header, { alg: verify.algorithm, typ: verify.typ });
    const keys = Object.keys(verified).filter((k) => ['iat', 'exp', 'aud', 'iss', 'sub', 'jti'].includes(k));
    const order = ['iat', 'exp', 'aud', 'iss', 'sub', 'jti'].filter((k) => k in verified);
    assert.deepStrictEqual(keys, order, 'claim order');
    assert.match(verified.jti, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.strictEqual(typeof verified.sub, 'string');
    // A wrong secret must fail the same way it does for Feathers' own tokens.
    assert.throws(() => jwt.verify(token, verify.secret + 'x', options), /invalid signature/);
  });
}

const total = input.hashes.length + input.tokens.length;
if (failures.length) {
  for (const f of failures) console.log('MISMATCH', f);
  console.log(`${total - failures.length} passed, ${failures.length} failed`);
  process.exit(1);
}
console.log(`verify-roost: ${input.hashes.length} Roost hashes and ${input.tokens.length} Roost tokens accepted by bcryptjs ${version('bcryptjs')} and jsonwebtoken ${version('jsonwebtoken')}`);

function version(name) {
  const path = require('path');
  return JSON.parse(require('fs').readFileSync(path.join(__dirname, 'node_modules', name, 'package.json'), 'utf8')).version;
}
