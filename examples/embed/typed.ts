// The client's types, as a TypeScript app sees them (`npx tsc` checks this file).
import { ChatClient, type Status } from 'edgechat/client';
import type { ChatMessage } from 'edgechat';

const chat = new ChatClient({ url: 'https://chat.example.com', room: 'lobby', token: async () => 'a token' });
chat.on('message', (message: ChatMessage) => console.log(message.seq, message.from.name, message.text));
chat.on('status', (status: Status) => {
  if (status.state === 'reconnecting') console.log(`again in ${status.inMs} ms`);
});
const stored: Promise<ChatMessage> = chat.send('typed');
void stored;
// @ts-expect-error: a message is text (this line fails to compile once the types are lost)
void chat.send(42);
