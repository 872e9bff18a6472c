// A Node script that chats through the client library: `node chat.js <url> <room> <text>`
// posts one message, waits for it to be stored, and prints it.
import { ChatClient } from 'edgechat/client';

const [url = 'http://localhost:8787', room = 'lobby', text = 'hello from a script'] = process.argv.slice(2);
const chat = new ChatClient({ url, room, name: 'script' });
chat.on('status', (status) => {
  if (status.state === 'closed') console.error(`closed: ${status.code} ${status.reason}`);
});
const stored = await chat.send(text);
console.log(JSON.stringify(stored));
chat.close();
