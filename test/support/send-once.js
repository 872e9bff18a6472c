// Sends one message through the client library and prints it as stored: run by Deno and
// Bun in test/client.test.ts, so that the library is known to work on them as a client.
//   <runtime> test/support/send-once.js <url> <room> <text>
import { ChatClient } from '../../static/client.js';

const [url, room, text] = (globalThis.Deno?.args ?? process.argv.slice(2)).slice(-3);
const chat = new ChatClient({ url, room, name: 'runtime' });
const stored = await chat.send(text);
console.log(JSON.stringify(stored));
chat.close();
