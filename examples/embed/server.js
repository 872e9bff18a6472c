// An app of its own with edgechat mounted in it: the chat page at /, the rooms at /ws and
// /api, and the app's own routes beside them. Started with `node server.js`.
import { serve, upgradeWebSocket } from '@hono/node-server';
import { getConnInfo } from '@hono/node-server/conninfo';
import { serveStatic } from '@hono/node-server/serve-static';
import { Hono } from 'hono';
import { WebSocketServer } from 'ws';
import { createChatApp } from 'edgechat';

const chat = createChatApp({ env: process.env, upgradeWebSocket, getConnInfo, serveStatic });

const app = new Hono();
app.get('/hello', (c) => c.text('hello from the app around the chat'));
app.route('/', chat.app);

// Frames over MAX_FRAME_BYTES are refused while they are read.
const wss = new WebSocketServer({ noServer: true, maxPayload: chat.config.maxFrameBytes });
const server = serve({ fetch: app.fetch, port: chat.config.port, hostname: chat.config.host, websocket: { server: wss } }, (info) =>
  console.log(`listening on ${info.port}`),
);

process.on('SIGTERM', async () => {
  await chat.close(); // members are closed with 1001 and resume elsewhere
  server.close(() => process.exit(0));
});
