// Writes schema/protocol.schema.json from the zod schemas in src/core/protocol.ts.
// `npm run schema` regenerates it; test/schema.test.ts fails when it is stale.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { protocolJsonSchema } from './protocol-schema.ts';

const target = fileURLToPath(new URL('../schema/protocol.schema.json', import.meta.url));
writeFileSync(target, protocolJsonSchema());
console.log(`wrote ${target}`);
