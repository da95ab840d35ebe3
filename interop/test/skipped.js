'use strict'
// @feathersjs/adapter-tests cases that cannot run over a network transport.
// Each one changes the service's options on the server at run time
// (`service.options.multi = …`, `service.options.paginate = …`) or passes
// server-only params (`params.adapter`, `params.paginate`). Over REST the
// client-side service object has no such options and the server never sees
// these params (Feathers transports only transmit query, route and headers),
// so the case would test nothing but the network's inability to carry them.
// Multi and pagination themselves are covered over the wire elsewhere with
// services configured for them.

const SKIPPED = [
  // methods.ts
  '.remove + multi', // sets service.options.multi = ['remove'] mid-test
  '.remove + multi no pagination', // sets options.multi = true and options.paginate; calls find({ paginate: false })
  '.patch multiple', // sets service.options.multi = ['patch'] mid-test
  '.patch multiple no pagination', // sets options.multi = true and options.paginate; calls find({ paginate: false })
  '.patch multi query same', // sets service.options.multi = true
  '.patch multi query changed', // sets service.options.multi = true
  '.create multi', // sets service.options.multi = ['create', 'patch'] mid-test
  // syntax.ts
  'params.adapter + paginate', // passes params.adapter = { paginate } (server-only param)
  'params.adapter + multi', // passes params.adapter = { multi } (server-only param)
  '.find + paginate', // beforeEach sets service.options.paginate = { default: 1, max: 2 }
  '.find + paginate + query', // same paginate beforeEach
  '.find + paginate + $limit + $skip', // same paginate beforeEach
  '.find + paginate + $limit 0', // same paginate beforeEach
  '.find + paginate + params' // same paginate beforeEach, plus params.paginate = { default: 3 } / false
]

module.exports = { SKIPPED }
