// Cloudflare Workers entry: the shared app, with each room in its own Durable Object
// (RoomObject, one per normalised room name) and static/ from the ASSETS binding, so the
// page gets the same security headers as on every other runtime. There is no /metrics:
// a Worker has no process to measure.
import type { Hono } from 'hono';
import { getConnInfo } from 'hono/cloudflare-workers';
import { createApp, type AppEnv, type RoomBackend } from '../../core/app.ts';
import { readConfig } from '../../core/config.ts';
import { roomDirectory, RoomDirectory } from './directory.ts';
import { roomCallUrl, RoomObject, type Env, type RoomCall } from './room-object.ts';

export { RoomDirectory, RoomObject };

/** Rooms held by Durable Objects; createApp has checked every request before it gets here. */
function durableRooms(env: Env): RoomBackend {
  const directory = roomDirectory(env.DIRECTORY);
  const call = (room: string, what: RoomCall, init?: RequestInit) =>
    env.ROOMS.get(env.ROOMS.idFromName(room)).fetch(roomCallUrl(what), init);
  /** A reader's call, made only for a room the directory knows; null means no such room. */
  const read = async <T>(room: string, what: RoomCall): Promise<T | undefined> =>
    (await directory.has(room)) ? (((await (await call(room, what)).json()) as T | null) ?? undefined) : undefined;
  return {
    info: (room) => read(room, { op: 'info' }),
    messages: (room, query) => read(room, { op: 'messages', query }),
    // The upgrade request itself goes on to the object, which accepts the socket.
    connect: (c, room, join) => call(room, { op: 'connect', join }, c.req.raw),
    publish: async (room, draft) => (await call(room, { op: 'publish', draft })).json(),
    remove: async (room, seq, by) => (await directory.has(room)) && (await (await call(room, { op: 'remove', seq, by })).json()),
  };
}

let app: Hono<AppEnv> | undefined;

export default {
  fetch(request: Request, env: Env): Response | Promise<Response> {
    // The bindings are the same for every request, so one app serves the whole isolate.
    app ??= createApp({
      config: readConfig(env),
      rooms: durableRooms(env),
      // CF-Connecting-IP, which Cloudflare's edge sets. Open sockets are not counted: they
      // are spread over the rooms' objects, and no isolate sees them all.
      connInfo: getConnInfo,
      assets: async (c, next) => {
        const asset = await env.ASSETS.fetch(c.req.raw);
        // Like serveStatic elsewhere: a missing file falls through to the JSON 404.
        if (asset.status === 404) return next();
        // A copy: the platform's response headers are immutable, and the app adds its own.
        return new Response(asset.body, asset);
      },
    });
    return app.fetch(request);
  },
};
