// Fast fan-out on Node: each broadcast is framed once (header and UTF-8 payload in one
// Buffer) and that Buffer is written to every member's TCP socket. Sockets are corked on
// their first write in an event-loop turn and uncorked together once the turn is over, so
// everything a member gets in one turn leaves in a single writev instead of one per frame.
import type { Socket } from 'node:net';
import WebSocket from 'ws';
import type { Connection } from '../../core/room.ts';

/** An unmasked, final text frame holding `text` (RFC 6455 §5.2: servers never mask). */
export function textFrame(text: string): Buffer {
  const length = Buffer.byteLength(text);
  const headerLength = length < 126 ? 2 : length < 65536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(headerLength + length);
  frame[0] = 0x81; // FIN + opcode 1 (text)
  if (length < 126) {
    frame[1] = length;
  } else if (length < 65536) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeBigUInt64BE(BigInt(length), 2);
  }
  frame.write(text, headerLength);
  return frame;
}

const corked = new Set<Socket>();
let beforeSending = () => {};

/**
 * `commit` runs before the frames of a turn leave: storage commits the messages they
 * announce first (SqliteOptions.commitPerTurn), so that no member ever receives a message
 * that a crash could still take back.
 */
export function commitBeforeSending(commit: () => void): void {
  beforeSending = commit;
}

function uncorkAll(): void {
  beforeSending();
  for (const socket of corked) socket.uncork();
  corked.clear();
}

/**
 * A member's socket. Frames from the room arrive framed by `textFrame` and go straight to
 * the TCP socket; `ws` keeps its part (reading, pings, the close handshake), and as it
 * writes synchronously too, the order of everything on the wire is the order of the calls.
 */
export class NodeConnection implements Connection {
  private readonly ws: WebSocket;
  private readonly socket: Socket;

  constructor(ws: WebSocket, socket: Socket) {
    this.ws = ws;
    this.socket = socket;
  }

  send(frame: string | Uint8Array): void {
    // Once the close handshake has begun, no data frame may follow.
    if (this.ws.readyState !== WebSocket.OPEN) return;
    if (!this.socket.writableCorked) {
      this.socket.cork();
      if (corked.size === 0) setImmediate(uncorkAll);
      corked.add(this.socket);
    }
    this.socket.write(frame);
  }

  close(code: number, reason: string): void {
    this.ws.close(code, reason);
  }

  /** Includes what is corked, so the slow-consumer check sees it. */
  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }
}
