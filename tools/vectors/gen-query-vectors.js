#!/usr/bin/env node
// Generates crates/roost-core/tests/vectors/query.json by running every case against the real
// @feathersjs/memory 5.0.50 (internal calls through a Feathers app). See README.md for the format.
'use strict'

const fs = require('fs')
const path = require('path')
const { feathers } = require('@feathersjs/feathers')
const { MemoryService } = require('@feathersjs/memory')

const clone = (v) => (v === undefined ? undefined : JSON.parse(JSON.stringify(v)))

// Shared datasets: seeded in order with internal `_create` calls (ids assigned by the adapter
// unless a record carries one).
const datasets = {
  people: [
    { name: 'Alice', age: 30, active: true, tags: ['a', 'b'], address: { city: 'Paris', zip: '75001' }, score: 1.5 },
    { name: 'Bob', age: 25, active: false, tags: ['b'], address: { city: 'Berlin', zip: '10115' }, score: null },
    { name: 'Carol', age: 35, active: true, tags: [], address: { city: 'Paris', zip: '75002' } },
    { name: 'dave', age: '40', active: 'yes', address: null },
    { name: 'Eve', age: 25, active: true, tags: ['c', 'a'], address: { city: 'Rome' }, score: 10 },
    { name: 'Frank', active: false, tags: 'a', nested: { deep: { x: 1 } } },
    { name: 'Émile', age: 28.5, active: true, tags: [['a']], address: { city: 'Zürich' } },
    { name: 'Gus', age: -3, active: true, address: { city: 'paris' }, score: 0 }
  ],
  mixed: [
    { v: 1 }, { v: 'a' }, { v: true }, { v: null }, {}, { v: [1] }, { v: { a: 1 } }, { v: -5 },
    { v: 'B' }, { v: false }, { v: [0, 2] }, { v: {} }, { v: 'ab' }, { v: 1e21 }, { v: [1, 'x'] },
    { v: { b: 0 } }, { v: 0 }, { v: '' }
  ],
  strids: [
    { id: 'b', n: 1 }, { id: 'a', n: 2 }, { id: '10', n: 3 }, { id: 2, n: 4 }, { id: 'x1', n: 5 },
    { id: '01', n: 6 }, { id: 7, n: 7 }, { id: -1, n: 8 }, { id: 1.5, n: 9 }, { id: '4294967295', n: 10 },
    { id: '4294967294', n: 11 }
  ],
  sortable: [
    { a: 2, b: 'x', c: { d: 3 } }, { a: 1, b: 'y', c: { d: 1 } }, { a: 2, b: 'a', c: { d: 2 } },
    { a: 1, b: 'y', c: { d: 0 } }, { a: 3, b: 'b', c: { d: 3 } }, { a: 2, b: 'x', c: { d: 9 } }
  ],
  nulls: [{ v: null, n: 1 }, { n: 2 }, { v: 1, n: 3 }, { v: null, n: 4 }, { n: 5 }, { v: 0, n: 6 }],
  arrays: [
    { t: [1, 2, 3] }, { t: [4] }, { t: [] }, { t: [[1, 2]] }, { t: 2 }, { t: [{ k: 1 }, { k: 2 }] },
    { t: [{ k: 3 }, { j: 1 }] }, { t: ['1', 2] }, { t: [null] }
  ]
}

const cases = []
const add = (c) => cases.push(c)
const find = (name, dataset, query, options = {}, extra = {}) =>
  add({ name, options, data: dataset, method: 'find', query, ...extra })

// ---- equality and operators -------------------------------------------------------------
const P = 'people'
find('empty query returns everything in store order', P, {})
find('equality string', P, { name: 'Alice' })
find('equality number', P, { age: 25 })
find('equality number does not match numeric string', P, { age: 40 })
find('equality string does not match number', P, { age: '25' })
find('equality boolean true', P, { active: true })
find('equality boolean false', P, { active: false })
find('equality null matches null and missing', P, { score: null })
find('equality null on missing nested parent', P, { 'address.city': null })
find('two fields are and-ed', P, { age: 25, active: true })
find('equality with array value matches whole array', P, { tags: ['a', 'b'] })
find('equality with array value order matters', P, { tags: ['b', 'a'] })
find('equality scalar matches array element', P, { tags: 'a' })
find('equality scalar matches nested array element', P, { tags: 'b' })
find('equality with empty array', P, { tags: [] })
find('equality with object value', P, { address: { city: 'Paris', zip: '75001' } })
find('equality with object value key order irrelevant', P, { address: { zip: '75001', city: 'Paris' } })
find('equality with partial object does not match', P, { address: { city: 'Paris' } })
find('dot path equality', P, { 'address.city': 'Paris' })
find('dot path deep', P, { 'nested.deep.x': 1 })
find('dot path on null parent', P, { 'address.city': 'Rome' })
find('unknown field equals value matches nothing', P, { nope: 1 })
find('unknown field equals null matches all', P, { nope: null })
find('equality with empty object', 'mixed', { v: {} })
find('$ne number', P, { age: { $ne: 25 } })
find('$ne null excludes null and missing', P, { score: { $ne: null } })
find('$ne on array field excludes when any element equals', P, { tags: { $ne: 'a' } })
find('$ne string', P, { name: { $ne: 'Bob' } })
find('$in numbers', P, { age: { $in: [25, 35] } })
find('$in mixed types', P, { age: { $in: [30, '40'] } })
find('$in with null matches missing', P, { score: { $in: [null, 10] } })
find('$in on array field', P, { tags: { $in: ['c', 'zzz'] } })
find('$in empty array matches nothing', P, { age: { $in: [] } })
find('$in scalar is wrapped', P, { age: { $in: 25 } })
find('$in with array element value', P, { tags: { $in: [['a']] } })
find('$nin numbers', P, { age: { $nin: [25, 35] } })
find('$nin empty array matches all', P, { age: { $nin: [] } })
find('$nin on array field', P, { tags: { $nin: ['a'] } })
find('$nin null excludes missing', P, { score: { $nin: [null] } })
find('$lt number', P, { age: { $lt: 30 } })
find('$lte number', P, { age: { $lte: 30 } })
find('$gt number', P, { age: { $gt: 28 } })
find('$gte number', P, { age: { $gte: 28.5 } })
find('$gt ignores numeric strings', P, { age: { $gt: 0 } })
find('$lt with string compares strings only', P, { age: { $lt: '5' } })
find('$gt string lexicographic', P, { name: { $gt: 'C' } })
find('$lt string lexicographic case', P, { name: { $lt: 'a' } })
find('$gte string with unicode', P, { name: { $gte: 'E' } })
find('$lt on array field any element', 'arrays', { t: { $lt: 2 } })
find('$gt boolean', P, { active: { $gt: false } })
find('$lte null matches null and missing', P, { score: { $lte: null } })
find('$gte null matches null and missing', P, { score: { $gte: null } })
find('$lt null matches nothing', P, { score: { $lt: null } })
find('range $gt and $lt', P, { age: { $gt: 20, $lt: 31 } })
find('range $gte and $lte and $ne', P, { age: { $gte: 25, $lte: 35, $ne: 30 } })
find('$in and $nin together', P, { age: { $in: [25, 30, 35], $nin: [30] } })
find('operator on dot path', P, { 'address.zip': { $gt: '7' } })
find('operator on missing field', P, { nope: { $gt: 1 } })
find('$ne on missing field', P, { nope: { $ne: 1 } })
find('$lt with array value', 'arrays', { t: { $lt: [2] } })
find('$gt with object value', 'mixed', { v: { $gt: {} } })
find('$gte with object value', 'mixed', { v: { $gte: { a: 1 } } })
find('$lt on negative', P, { age: { $lt: 0 } })
find('$eq number through $in float', P, { age: { $in: [28.5] } })

// ---- paths through arrays ------------------------------------------------------------------
const A = 'arrays'
find('dot path through array of objects', A, { 't.k': 1 })
find('dot path through array $ne', A, { 't.k': { $ne: 1 } })
find('dot path through array equals null', A, { 't.k': null })
find('dot path through array $ne null', A, { 't.k': { $ne: null } })
find('dot path through array $in', A, { 't.k': { $in: [3, 2] } })
find('dot path through array $nin', A, { 't.k': { $nin: [1] } })
find('dot path through array $gt', A, { 't.k': { $gt: 1 } })
find('numeric path segment indexes arrays', A, { 't.0': 1 })
find('numeric path segment out of range $ne null', A, { 't.5': { $ne: null } })
find('length path on arrays', A, { 't.length': 1 })
find('nested array element equality', A, { t: [1, 2] })
find('$in with array candidates', A, { t: { $in: [[4], 3] } })
find('$gte with numeric string element', A, { t: { $gte: '1' } })
find('equality null with array of null', A, { t: null })

// ---- $or / $and ---------------------------------------------------------------------------
find('$or two branches', P, { $or: [{ name: 'Alice' }, { age: 25 }] })
find('$or with operators', P, { $or: [{ age: { $lt: 26 } }, { 'address.city': 'Paris' }] })
find('$or and field are and-ed', P, { active: true, $or: [{ age: 25 }, { age: 30 }] })
find('$or single branch', P, { $or: [{ active: false }] })
find('$or with empty branch matches all', P, { $or: [{}, { name: 'x' }] })
find('$or empty array is an error', P, { $or: [] })
find('$or non array object is an error', P, { $or: { name: 'Alice' } })
find('$or string is an error', P, { $or: 'abc' })
find('$or null is an error', P, { $or: null })
find('$or nested $or', P, { $or: [{ $or: [{ name: 'Alice' }, { name: 'Bob' }] }, { age: 35 }] })
find('$or nested $and rejected', P, { $or: [{ $and: [{ name: 'Alice' }] }] })
find('$or with non-object branch never matches', P, { $or: [5, { name: 'Bob' }] })
find('$or with null branch', P, { $or: [null, { name: 'Bob' }] })
find('$and two branches', P, { $and: [{ active: true }, { age: { $gte: 30 } }] })
find('$and with $or inside', P, { $and: [{ $or: [{ age: 25 }, { age: 30 }] }, { active: true }] })
find('$and with two $or', P, { $and: [{ $or: [{ age: 25 }, { age: 35 }] }, { $or: [{ name: 'Eve' }, { name: 'Carol' }] }] })
find('$and empty array is an error', P, { $and: [] })
find('$and non array is an error', P, { $and: { name: 'Alice' } })
find('$and nested $and rejected', P, { $and: [{ $and: [{ name: 'Alice' }] }] })
find('$and with unknown nested operator', P, { $and: [{ age: { $foo: 1 } }] })
find('$or with unknown nested operator', P, { $or: [{ age: { $bar: 1 } }] })
find('$or branch with top-level $ne matches all', P, { $or: [{ $ne: 1 }] })
find('$or branch with top-level $in', P, { $or: [{ $in: [1] }, { name: 'Gus' }] })
find('$or as field operator is malformed', P, { name: { $or: [{ $ne: 'x' }] } })
find('$or inside field empty array', P, { name: { $or: [] } })
find('$and and $or together', P, { $and: [{ active: true }], $or: [{ age: 25 }, { name: 'Gus' }] })
find('$or array branch indexes fields', P, { $or: [['x']] })

// ---- validation errors --------------------------------------------------------------------
find('unknown top-level filter', P, { $foo: 1 })
find('unknown top-level filter $eq', P, { $eq: 1 })
find('top-level $in is a filter error', P, { $in: [1] })
find('unknown nested operator', P, { age: { $foo: 1 } })
find('unknown nested operator data is the object', P, { age: { $gt: 1, $exists: true } })
find('$like rejected by memory', P, { name: { $like: 'A%' } })
find('$ilike rejected by memory', P, { name: { $ilike: 'a%' } })
find('$notlike rejected by memory', P, { name: { $notlike: 'A%' } })
find('$regex rejected', P, { name: { $regex: '^A' } })
find('$exists rejected', P, { name: { $exists: true } })
find('$eq rejected nested', P, { name: { $eq: 'Alice' } })
find('$and nested under a field rejected', P, { name: { $and: [] } })
find('nested unknown operator deep in object', P, { address: { city: { $foo: 1 } } })
find('unknown operator inside array value', P, { tags: [{ $foo: 1 }] })
find('unknown operator inside $in array', P, { tags: { $in: [{ $foo: 1 }] } })
find('allowed operator inside $in value is a matcher error', P, { tags: { $in: [{ $ne: 1 }] } })
find('allowed operator inside $nin value is a matcher error', P, { tags: { $nin: [{ $gt: 1 }] } })
find('operators mixed with fields is a matcher error', P, { address: { $ne: 1, city: 'Paris' } })
find('unknown operator in $sort value', P, { $sort: { name: { $foo: 1 } } })
find('unknown operator in $select object', P, { $select: { name: { $foo: 1 } } })
find('filter error before query error', P, { age: { $foo: 1 }, $bar: 1 })
find('query error order follows keys', P, { $bar: 1, age: { $foo: 1 } })
find('validation error data hoists errors key', P, { a: { $x: 1, errors: 'e' } })
find('$ne with operator object value is fine', P, { name: { $ne: { $in: [1] } } })
find('$sort null crashes', P, { $sort: null })

// ---- $sort ---------------------------------------------------------------------------------
const S = 'sortable'
find('$sort ascending', S, { $sort: { a: 1 } })
find('$sort descending', S, { $sort: { a: -1 } })
find('$sort string directions', S, { $sort: { a: '-1' } })
find('$sort string direction 1', S, { $sort: { b: '1' } })
find('$sort multi key', S, { $sort: { a: 1, b: -1 } })
find('$sort multi key reversed priority', S, { $sort: { b: 1, a: -1 } })
find('$sort dot path', S, { $sort: { 'c.d': 1 } })
find('$sort dot path descending', S, { $sort: { 'c.d': -1 } })
find('$sort direction 0 skips key', S, { $sort: { a: 0, b: 1 } })
find('$sort garbage direction halts', S, { $sort: { a: 'up', b: 1 } })
find('$sort direction 2 acts as 1', S, { $sort: { b: 2 } })
find('$sort direction -7 acts as -1', S, { $sort: { b: -7 } })
find('$sort direction with trailing text', S, { $sort: { a: '-1abc' } })
find('$sort direction array', S, { $sort: { a: [-1] } })
find('$sort direction true halts', S, { $sort: { a: true, b: 1 } })
find('$sort direction null halts', S, { $sort: { a: null, b: 1 } })
find('$sort empty object keeps order', S, { $sort: {} })
find('$sort on missing field keeps order', S, { $sort: { nope: 1 } })
find('$sort string value', S, { $sort: 'a' })
find('$sort numeric string value sorts by field 0', S, { $sort: '1' })
find('$sort number value', S, { $sort: 5 })
find('$sort array value', S, { $sort: [1] })
find('$sort with filter', S, { a: { $gte: 2 }, $sort: { b: 1 } })
find('$sort stable for ties', S, { $sort: { a: 1 } })
find('$sort mixed types ascending', 'mixed', { $sort: { v: 1 } })
find('$sort mixed types descending', 'mixed', { $sort: { v: -1 } })
find('$sort null and missing ascending', 'nulls', { $sort: { v: 1 } })
find('$sort null and missing descending', 'nulls', { $sort: { v: -1 } })
find('$sort null and missing then n', 'nulls', { $sort: { v: 1, n: -1 } })
find('$sort people by age', P, { $sort: { age: 1 } })
find('$sort people by name desc', P, { $sort: { name: -1 } })
find('$sort people by age then name', P, { $sort: { age: -1, name: 1 } })
find('$sort people by tags (arrays)', P, { $sort: { tags: 1 } })
find('$sort arrays dataset', 'arrays', { $sort: { t: 1 } })
find('$sort arrays dataset desc', 'arrays', { $sort: { t: -1 } })
find('$sort by id desc', 'strids', { $sort: { id: -1 } })
find('$sort by id asc', 'strids', { $sort: { id: 1 } })

// ---- $select -------------------------------------------------------------------------------
find('$select one field keeps id', P, { $select: ['name'] })
find('$select unknown field', P, { $select: ['nope'] })
find('$select empty array keeps only id', P, { $select: [] })
find('$select with dot path does not pick nested', P, { $select: ['address.city'] })
find('$select with filter', P, { $select: ['age'], age: { $gt: 26 } })
find('$select number items are stringified', 'strids', { $select: [1, 'n'] })
find('$select string picks characters', P, { $select: 'name' })
find('$select null means all', P, { $select: null })
find('$select object crashes with results', P, { $select: { name: 1 } })
find('$select object without results', P, { $select: { name: 1 }, name: 'nobody' })
find('$select includes id when listed twice', P, { $select: ['id', 'name', 'id'] })
find('$select custom id field', 'people', { $select: ['age'] }, { id: 'name' })

// ---- $limit / $skip without pagination ----------------------------------------------------
find('$limit', P, { $limit: 2 })
find('$limit string', P, { $limit: '3' })
find('$limit 0', P, { $limit: 0 })
find('$limit negative ignored', P, { $limit: -1 })
find('$limit garbage ignored', P, { $limit: 'abc' })
find('$limit float is truncated', P, { $limit: 2.9 })
find('$limit string with suffix', P, { $limit: '2px' })
find('$limit exponent string', P, { $limit: '1e3' })
find('$limit large', P, { $limit: 1e30 })
find('$limit boolean ignored', P, { $limit: true })
find('$limit array parsed', P, { $limit: [2] })
find('$skip', P, { $skip: 2 })
find('$skip string', P, { $skip: '5' })
find('$skip garbage ignored', P, { $skip: 'x' })
find('$skip negative ignored', P, { $skip: -2 })
find('$skip beyond end', P, { $skip: 100 })
find('$skip and $limit', P, { $skip: 1, $limit: 2 })
find('$skip and $limit with sort', P, { $skip: 1, $limit: 3, $sort: { name: 1 } })
find('$skip and $limit with filter', P, { active: true, $skip: 1, $limit: 2 })
find('$limit 0 with filter error still errors', P, { $limit: 0, $or: [] })

// ---- pagination ------------------------------------------------------------------------------
const pg = (paginate) => ({ paginate })
find('paginate default', P, {}, pg({ default: 3, max: 5 }))
find('paginate $limit under max', P, { $limit: 4 }, pg({ default: 3, max: 5 }))
find('paginate $limit over max is capped', P, { $limit: 50 }, pg({ default: 3, max: 5 }))
find('paginate $limit string', P, { $limit: '2' }, pg({ default: 3, max: 5 }))
find('paginate $limit 0 gives total only', P, { $limit: 0 }, pg({ default: 3, max: 5 }))
find('paginate $limit negative falls back to default', P, { $limit: -5 }, pg({ default: 3, max: 5 }))
find('paginate $limit garbage falls back to default', P, { $limit: 'lots' }, pg({ default: 3, max: 5 }))
find('paginate $skip', P, { $skip: 2 }, pg({ default: 3, max: 5 }))
find('paginate $skip string', P, { $skip: '6' }, pg({ default: 3, max: 5 }))
find('paginate $skip beyond total', P, { $skip: 50 }, pg({ default: 3, max: 5 }))
find('paginate $skip garbage', P, { $skip: 'x' }, pg({ default: 3, max: 5 }))
find('paginate $skip negative slices from end', P, { $skip: -2 }, pg({ default: 10 }))
find('paginate total ignores limit and skip', P, { active: true, $skip: 1, $limit: 2 }, pg({ default: 3, max: 5 }))
find('paginate with sort', P, { $sort: { age: -1 }, $limit: 3 }, pg({ default: 3, max: 5 }))
find('paginate max only without $limit', P, {}, pg({ max: 4 }))
find('paginate max only with $limit', P, { $limit: 2 }, pg({ max: 4 }))
find('paginate default only', P, {}, pg({ default: 2 }))
find('paginate default only big $limit', P, { $limit: 1000 }, pg({ default: 2 }))
find('paginate empty object passes $limit through', P, { $limit: 2 }, pg({}))
find('paginate empty object without $limit', P, {}, pg({}))
find('paginate empty object garbage $limit', P, { $limit: 'x' }, pg({}))
find('paginate empty object negative $limit', P, { $limit: -2 }, pg({}))
find('paginate with $select', P, { $select: ['name'], $limit: 2 }, pg({ default: 3 }))
find('paginate with no match', P, { name: 'nobody' }, pg({ default: 3 }))
find('params.paginate false disables pagination', P, { $limit: 2 }, pg({ default: 3, max: 5 }), { paginate: false })
find('params.paginate object enables pagination', P, {}, {}, { paginate: { default: 2, max: 3 } })
find('params.paginate object overrides', P, { $limit: 10 }, pg({ default: 3, max: 5 }), { paginate: { default: 1, max: 6 } })
find('paginate $or error', P, { $or: [] }, pg({ default: 3 }))

// ---- ids ---------------------------------------------------------------------------------------
find('store order of mixed ids', 'strids', {})
find('find by string id', 'strids', { id: 'a' })
find('find by numeric id does not match string', 'strids', { id: '2' })
find('find by $in ids', 'strids', { id: { $in: [2, '10', 'zz'] } })
find('custom id field store order', P, {}, { id: 'name' })

const one = (name, dataset, method, args, options = {}) => add({ name, options, data: dataset, method, ...args })
one('get by id', P, 'get', { id: 1 })
one('get by string id matches number', P, 'get', { id: '1' })
one('get id 0', P, 'get', { id: 0 })
one('get missing id', P, 'get', { id: 99 })
one('get with matching query', P, 'get', { id: 1, query: { name: 'Bob' } })
one('get with non matching query', P, 'get', { id: 1, query: { name: 'Alice' } })
one('get with $select', P, 'get', { id: 2, query: { $select: ['age'] } })
one('get with invalid filter', P, 'get', { id: 1, query: { $foo: 1 } })
one('get with invalid operator', P, 'get', { id: 99, query: { age: { $foo: 1 } } })
one('get missing id with matcher error', P, 'get', { id: 99, query: { $or: [] } })
one('get existing id with matcher error', P, 'get', { id: 1, query: { $or: [] } })
one('get string id', 'strids', 'get', { id: 'x1' })
one('get numeric string id', 'strids', 'get', { id: '10' })
one('get number id for string key 10', 'strids', 'get', { id: 10 })
one('get float id', 'strids', 'get', { id: 1.5 })
one('get negative id', 'strids', 'get', { id: -1 })
one('get with $or query', P, 'get', { id: 4, query: { $or: [{ age: 1 }, { name: 'Eve' }] } })
one('get custom id', P, 'get', { id: 'Carol' }, { id: 'name' })
one('get null id', P, 'get', { id: null })

one('create assigns sequential id', P, 'create', { body: { name: 'New' } })
one('create keeps truthy id', P, 'create', { body: { id: 'custom', name: 'New' } })
one('create with id 0 assigns id', P, 'create', { body: { id: 0, name: 'New' } })
one('create with empty string id assigns id', P, 'create', { body: { id: '', name: 'New' } })
one('create with existing id overwrites', P, 'create', { body: { id: 2, name: 'Over' } })
one('create with $select', P, 'create', { body: { name: 'New', age: 1 }, query: { $select: ['name'] } })
one('create ignores invalid query', P, 'create', { body: { name: 'New' }, query: { $foo: 1 } })
one('create multi not allowed', P, 'create', { body: [{ name: 'A' }, { name: 'B' }] })
one('create multi allowed', P, 'create', { body: [{ name: 'A' }, { id: 'k', name: 'B' }, { name: 'C' }] }, { multi: true })
one('create multi allowed by list', P, 'create', { body: [{ name: 'A' }] }, { multi: ['create'] })
one('create multi not in list', P, 'create', { body: [{ name: 'A' }] }, { multi: ['patch'] })
one('create multi empty array', P, 'create', { body: [] }, { multi: true })
one('create with startId', P, 'create', { body: { name: 'New' } }, { startId: 100 })
one('create in empty store with startId', [], 'create', { body: { name: 'New' } }, { startId: 5 })
one('create custom id field', [], 'create', { body: { name: 'New' } }, { id: '_id' })
one('create with integer-like string key orders first', [{ id: 'z' }], 'create', { body: { id: '3' } })

one('update replaces record', P, 'update', { id: 1, body: { name: 'Bobby' } })
one('update keeps stored id type', P, 'update', { id: '1', body: { name: 'Bobby' } })
one('update ignores id in data', P, 'update', { id: 1, body: { id: 99, name: 'Bobby' } })
one('update missing id', P, 'update', { id: 99, body: { name: 'x' } })
one('update null id', P, 'update', { id: null, body: { name: 'x' } })
one('update with array data', P, 'update', { id: 1, body: [{ name: 'x' }] })
one('update null id with multi', P, 'update', { id: null, body: { name: 'x' } }, { multi: true })
one('update with matching query', P, 'update', { id: 1, body: { name: 'Bobby' }, query: { name: 'Bob' } })
one('update with non matching query writes nothing', P, 'update', { id: 1, body: { name: 'Bobby' }, query: { name: 'Alice' } })
one('update result no longer matching query', P, 'update', { id: 1, body: { name: 'Bobby' }, query: { name: 'Bob' } })
one('update new data stops matching query', P, 'update', { id: 1, body: { name: 'Bobby' }, query: { age: 25 } })
one('update with $select', P, 'update', { id: 1, body: { name: 'Bobby', age: 3 }, query: { $select: ['age'] } })
one('update invalid query before null check', P, 'update', { id: null, body: {}, query: { $foo: 1 } })
one('update string id record', 'strids', 'update', { id: 'a', body: { n: 0 } })

one('patch merges', P, 'patch', { id: 1, body: { age: 26, extra: 'x' } })
one('patch by string id', P, 'patch', { id: '1', body: { age: 26 } })
one('patch never changes id', P, 'patch', { id: 1, body: { id: 50, age: 26 } })
one('patch missing id', P, 'patch', { id: 99, body: { age: 1 } })
one('patch with non matching query', P, 'patch', { id: 1, body: { age: 1 }, query: { name: 'Alice' } })
one('patch with matching query', P, 'patch', { id: 1, body: { age: 1 }, query: { name: 'Bob' } })
one('patch with $select', P, 'patch', { id: 1, body: { age: 1 }, query: { $select: ['name'] } })
one('patch null not allowed', P, 'patch', { id: null, body: { x: 1 } })
one('patch null not allowed by list', P, 'patch', { id: null, body: { x: 1 } }, { multi: ['remove'] })
one('patch null invalid query first', P, 'patch', { id: null, body: { x: 1 }, query: { $foo: 1 } })
one('patch null all', P, 'patch', { id: null, body: { x: 1 } }, { multi: true })
one('patch null with query', P, 'patch', { id: null, body: { x: 1 }, query: { active: true } }, { multi: true })
one('patch null ignores $limit', P, 'patch', { id: null, body: { x: 1 }, query: { active: true, $limit: 1 } }, { multi: ['patch'] })
one('patch null with $sort and $skip', P, 'patch', { id: null, body: { x: 1 }, query: { $sort: { name: 1 }, $skip: 2 } }, { multi: true })
one('patch null with $select', P, 'patch', { id: null, body: { x: 1 }, query: { active: false, $select: ['x'] } }, { multi: true })
one('patch null no match', P, 'patch', { id: null, body: { x: 1 }, query: { name: 'nobody' } }, { multi: true })
one('patch null ignores pagination', P, 'patch', { id: null, body: { x: 1 }, query: { active: true } }, { multi: true, paginate: { default: 1, max: 2 } })
one('patch null with matcher error', P, 'patch', { id: null, body: { x: 1 }, query: { $or: [] } }, { multi: true })
one('patch null multi denied before matcher error', P, 'patch', { id: null, body: { x: 1 }, query: { $or: [] } })

one('remove by id', P, 'remove', { id: 1 })
one('remove by string id', P, 'remove', { id: '2' })
one('remove missing id', P, 'remove', { id: 99 })
one('remove with non matching query', P, 'remove', { id: 1, query: { name: 'Alice' } })
one('remove with $select', P, 'remove', { id: 1, query: { $select: ['name'] } })
one('remove null not allowed', P, 'remove', { id: null })
one('remove null all', P, 'remove', { id: null }, { multi: true })
one('remove null with query', P, 'remove', { id: null, query: { age: { $lt: 30 } } }, { multi: ['remove'] })
one('remove null ignores $limit', P, 'remove', { id: null, query: { $limit: 1, active: true } }, { multi: true })
one('remove null with $sort', P, 'remove', { id: null, query: { $sort: { age: 1 }, active: true } }, { multi: true })
one('remove null ignores pagination', P, 'remove', { id: null, query: { active: true } }, { multi: true, paginate: { default: 1 } })
one('remove null no match', P, 'remove', { id: null, query: { name: 'nobody' } }, { multi: true })
one('remove string id record', 'strids', 'remove', { id: '01' })

// ---- execution --------------------------------------------------------------------------------
function errorJson(e) {
  if (e && typeof e.toJSON === 'function' && e.className) {
    const j = e.toJSON()
    const out = { name: j.name, code: j.code, message: j.message }
    if (j.data !== undefined) out.data = j.data
    if (j.errors !== undefined) out.errors = j.errors
    return out
  }
  return { name: e.name, message: e.message }
}

async function runCase(c) {
  const o = c.options
  const serviceOptions = { id: o.id || 'id', paginate: o.paginate || false, multi: o.multi || false }
  if (o.startId !== undefined) serviceOptions.startId = o.startId
  const app = feathers()
  app.use('items', new MemoryService(serviceOptions))
  const service = app.service('items')
  const records = typeof c.data === 'string' ? datasets[c.data] : c.data
  for (const record of records) await service._create(clone(record))
  const params = { query: clone(c.query || {}) }
  if (c.paginate !== undefined) params.paginate = c.paginate
  let expected
  try {
    let result
    switch (c.method) {
      case 'find': result = await service.find(params); break
      case 'get': result = await service.get(c.id, params); break
      case 'create': result = await service.create(clone(c.body), params); break
      case 'update': result = await service.update(c.id, clone(c.body), params); break
      case 'patch': result = await service.patch(c.id, clone(c.body), params); break
      case 'remove': result = await service.remove(c.id, params); break
      default: throw new Error(`unknown method ${c.method}`)
    }
    expected = { result: clone(result) }
  } catch (e) {
    expected = { error: errorJson(e) }
  }
  if (c.method !== 'find' && c.method !== 'get') {
    expected.store = clone(Object.values(service.store))
  }
  return expected
}

async function main() {
  const out = []
  const names = new Set()
  for (const c of cases) {
    if (names.has(c.name)) throw new Error(`duplicate case name ${c.name}`)
    names.add(c.name)
    const expected = await runCase(c)
    const entry = { name: c.name, options: c.options, data: c.data, method: c.method }
    if ('id' in c) entry.id = c.id
    if ('body' in c) entry.body = c.body
    entry.query = c.query || {}
    if ('paginate' in c) entry.paginate = c.paginate
    entry.expected = expected
    out.push(entry)
  }
  const file = {
    generator: 'tools/vectors/gen-query-vectors.js',
    feathers: require('@feathersjs/memory/package.json').version,
    sift: require('sift/package.json').version,
    datasets,
    cases: out
  }
  const target = path.join(__dirname, '../../crates/roost-core/tests/vectors/query.json')
  fs.writeFileSync(target, JSON.stringify(file, null, 1) + '\n')
  console.log(`wrote ${out.length} cases to ${path.relative(process.cwd(), target)}`)
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
