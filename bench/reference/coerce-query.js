'use strict'
// REST query strings carry every value as a string (koa-qs). A generated
// Feathers app converts them through its query schema (Ajv `coerceTypes`);
// Roost does the same from a declared service's `schema`. This hook is the
// reference's equivalent: it converts string values of fields declared as
// integer/number/boolean, both bare (`age=32`) and under the property
// operators (`age[$lt]=30`, `age[$in][]=1`), also inside `$or`/`$and`.
// Values that do not convert are left alone (no validation here), and so are
// fields the schema does not declare.

const OPERATORS = ['$in', '$nin', '$lt', '$lte', '$gt', '$gte', '$ne']

function coerceScalar(type, value) {
  if (typeof value !== 'string') return value
  switch (type) {
    case 'integer':
      return /^[-+]?\d+$/.test(value) ? Number(value) : value
    case 'number':
      return value.trim() !== '' && Number.isFinite(Number(value)) ? Number(value) : value
    case 'boolean':
      return value === 'true' ? true : value === 'false' ? false : value
    default:
      return value
  }
}

function coerceValue(type, value) {
  if (Array.isArray(value)) return value.map((v) => coerceScalar(type, v))
  if (value !== null && typeof value === 'object') {
    const out = { ...value }
    for (const op of OPERATORS) {
      if (op in out) out[op] = coerceValue(type, out[op])
    }
    return out
  }
  return coerceScalar(type, value)
}

function coerceQuery(schema, query) {
  if (query === null || typeof query !== 'object' || Array.isArray(query)) return query
  const out = { ...query }
  for (const [key, value] of Object.entries(out)) {
    if ((key === '$or' || key === '$and') && Array.isArray(value)) {
      out[key] = value.map((q) => coerceQuery(schema, q))
    } else if (Object.prototype.hasOwnProperty.call(schema, key)) {
      out[key] = coerceValue(schema[key], value)
    }
  }
  return out
}

/** Before hook: coerce `params.query` by a `{field: type}` schema. */
const coerceQueryHook = (schema) => async (context) => {
  if (context.params && context.params.query) {
    context.params = { ...context.params, query: coerceQuery(schema, context.params.query) }
  }
}

module.exports = { coerceQuery, coerceQueryHook }
