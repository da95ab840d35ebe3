'use strict'
// Authentication of the chat app (CHAT-APP.md) over Primus with the official
// @feathersjs/authentication-client 5.0.50 on lib/primus-feathers.js
// (primus-client 7.3.4): the cases of lib/auth-suite.js. Over Primus a login
// is `create` on `authentication`; the server keeps the authentication on the
// connection, so later calls carry no token.

const { authSuite } = require('../lib/auth-suite')
const { primusChatClient } = require('../lib/chat-client')

authSuite({ transport: 'Primus', connect: (url) => primusChatClient(url) })
