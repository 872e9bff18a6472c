// The JSON Schema of every frame, generated from the zod schemas so the two cannot drift.
import { z } from 'zod';
import { BackendPost, ClientFrame, HttpError, RoomInfo, RoomMessages, ServerFrame } from '../src/core/protocol.ts';

/** Without its own `$schema` line: the document states the dialect once, at the top. */
function definition(schema: z.ZodType, io: 'input' | 'output') {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io });
  return rest;
}

export function protocolJsonSchema(): string {
  const document = {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'edgechat protocol v1.1 frames',
    description: 'Generated from src/core/protocol.ts by `npm run schema`; do not edit.',
    $defs: {
      // What a client may send: unknown extra fields are ignored, so they are allowed.
      ClientFrame: definition(ClientFrame, 'input'),
      // What the server sends.
      ServerFrame: definition(ServerFrame, 'output'),
      // The HTTP answers: refusals before an upgrade and the room API.
      HttpError: definition(HttpError, 'output'),
      RoomInfo: definition(RoomInfo, 'output'),
      RoomMessages: definition(RoomMessages, 'output'),
      // The body of the backend's publish (POST /api/rooms/:room/messages).
      BackendPost: definition(BackendPost, 'input'),
    },
  };
  return `${JSON.stringify(document, null, 2)}\n`;
}
