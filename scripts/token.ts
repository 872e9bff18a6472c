// npm run token -- --sub ann [--name Ann] [--rooms lobby,team-*] [--role moderator] [--ttl 3600]
// Prints a token signed with AUTH_SECRET (HS256), for trying identity out and for tests;
// a real deployment signs its tokens in its own backend, the same way.
import { sign } from 'hono/jwt';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    sub: { type: 'string' },
    name: { type: 'string' },
    rooms: { type: 'string' },
    role: { type: 'string' },
    ttl: { type: 'string', default: '3600' },
  },
});
const secret = process.env.AUTH_SECRET;
if (!secret || !values.sub) {
  console.error('usage: AUTH_SECRET=… npm run token -- --sub <id> [--name N] [--rooms a,b-*] [--role moderator] [--ttl seconds]');
  process.exit(1);
}
if (values.role !== undefined && values.role !== 'moderator') {
  console.error('--role can only be moderator');
  process.exit(1);
}
const now = Math.floor(Date.now() / 1000);
const claims = {
  sub: values.sub,
  ...(values.name !== undefined && { name: values.name }),
  ...(values.rooms !== undefined && {
    rooms: values.rooms
      .split(',')
      .map((room) => room.trim())
      .filter(Boolean),
  }),
  ...(values.role !== undefined && { role: values.role }),
  iat: now,
  exp: now + Number(values.ttl),
};
console.log(await sign(claims, secret, 'HS256'));
