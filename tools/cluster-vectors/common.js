// A Feathers 5 app with feathers-sync's core (no adapter: this file stands in for Redis by
// capturing 'sync-out' and feeding 'sync-in' by hand), shared by gen.js and verify-roost.js.
'use strict';

const { feathers } = require('@feathersjs/feathers');
const sync = require('feathers-sync');
const flatted = require('flatted');

const serializers = {
  json: { serialize: JSON.stringify, deserialize: JSON.parse },
  flatted: { serialize: flatted.stringify, deserialize: flatted.parse },
};

class Messages {
  constructor() {
    this.events = ['typing'];
  }
  async create(data) {
    return Array.isArray(data) ? data.map((d, i) => ({ id: i + 1, ...d })) : { id: 1, ...data };
  }
  async patch(id, data) {
    return { id, ...data };
  }
  async remove(id) {
    return { id, text: 'gone' };
  }
}

// The app of one Node pod. `sent` collects what it publishes on the key; `heard` what its
// service listeners (the input of channel publishers) receive, one entry per emit.
function pod(serializer) {
  const app = feathers();
  app.configure(sync.core);
  app.sync = { ...serializers[serializer], type: 'test' };
  const sent = [];
  app.on('sync-out', (text) => sent.push(text));
  app.use('messages', new Messages(), { methods: ['create', 'patch', 'remove'], events: ['typing'] });
  const heard = [];
  for (const event of ['created', 'patched', 'removed', 'typing']) {
    app.service('messages').on(event, (data, context) => heard.push({ event, data, context }));
  }
  return { app, sent, heard };
}

// What a publisher reads from an emitted event, as JSON (undefined fields dropped).
function seen({ event, data, context }) {
  const c = context || {};
  const p = c.params || {};
  return JSON.parse(JSON.stringify({
    event, path: c.path, data, method: c.method, id: c.id, user: p.user, provider: p.provider,
    result: c.result, dispatch: c.dispatch,
  }));
}

module.exports = { pod, seen, serializers, flatted };
