#!/usr/bin/env node
// One Node pod of a mixed cluster: a Feathers 5 app with the real npm feathers-sync on Redis.
//
//   node mixed.js REDIS_URL KEY json|flatted
//
// Prints one JSON line per fact: {"ready":true} once subscribed, then {"heard": {...}} for
// every service event its listeners (the input of channel publishers) receive. Reads one JSON
// command per line on stdin: {"create": DATA, "params": PARAMS} creates a message (feathers-sync
// publishes the event on Redis; this pod hears it back from Redis, as feathers-sync works);
// {"exit": true} quits. roost-redis' `mixed` test drives it next to two Roost nodes.
'use strict';

const { feathers } = require('@feathersjs/feathers');
const sync = require('feathers-sync');
const readline = require('readline');
const { seen, serializers } = require('./common');

const [url, key, serializer] = process.argv.slice(2);
const print = (fact) => process.stdout.write(JSON.stringify(fact) + '\n');

class Messages {
  async create(data) {
    return { id: 1, ...data };
  }
}

(async () => {
  const app = feathers();
  app.configure(sync({ uri: url, key, ...serializers[serializer] }));
  app.use('messages', new Messages(), { methods: ['create'], events: ['typing'] });
  for (const event of ['created', 'patched', 'removed', 'typing']) {
    app.service('messages').on(event, (data, context) => print({ heard: seen({ event, data, context }) }));
  }
  await app.sync.ready;
  print({ ready: true });
  const lines = readline.createInterface({ input: process.stdin });
  for await (const line of lines) {
    const command = JSON.parse(line);
    if (command.exit) break;
    if (command.create) await app.service('messages').create(command.create, command.params || {});
  }
  await app.sync.pub.quit();
  await app.sync.sub.quit();
  process.exit(0);
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
