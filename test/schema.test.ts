import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { protocolJsonSchema } from '../scripts/protocol-schema.ts';

describe('schema/protocol.schema.json', () => {
  it('matches the zod schemas (run `npm run schema` after changing src/core/protocol.ts)', () => {
    const committed = readFileSync(new URL('../schema/protocol.schema.json', import.meta.url), 'utf8');
    expect(committed).toBe(protocolJsonSchema());
  });

  it('describes every client and server frame type', () => {
    const schema = JSON.parse(protocolJsonSchema());
    const types = (name: string) => schema.$defs[name].oneOf.map((variant: any) => variant.properties.type.const).sort();
    expect(types('ClientFrame')).toEqual(['delete', 'kick', 'message', 'ping', 'rename', 'typing']);
    expect(types('ServerFrame')).toEqual(['deleted', 'error', 'message', 'pong', 'presence', 'typing', 'welcome']);
  });
});
