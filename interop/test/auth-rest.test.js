'use strict'
// Authentication of the chat app (CHAT-APP.md) over REST with the official
// @feathersjs/authentication-client 5.0.50 on @feathersjs/rest-client (fetch):
// the cases of lib/auth-suite.js. Over REST the client sends
// `Authorization: Bearer <token>` on every call once logged in.

const { authSuite } = require('../lib/auth-suite')
const { restChatClient } = require('../lib/chat-client')

authSuite({ transport: 'REST', connect: async (url) => restChatClient(url) })
