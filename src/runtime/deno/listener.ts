// Deno's node:net listener stops accepting for good once accept() has failed with "Too many
// open files" (Deno 2.9: no error event, and no accept() is tried again after descriptors
// free up), where Node's libuv backs off and carries on. So the listener is checked here
// with a connection of its own, and listened again when it no longer takes connections.
// Connections waiting in the old listener's queue are reset then: their clients retry.
import { connect, type Server } from 'node:net';
import { logEvent } from '../../core/log.ts';

/** How often the listener is checked. */
const PROBE_INTERVAL_MS = 1000;
/** How long an accepted probe may take to show up as a connection. */
const PROBE_TIMEOUT_MS = 500;
/** A check whose timer fired this late says that the event loop was busy, not the listener stuck. */
const LATE_MS = 100;

export function reopenStalledListener(server: Server): void {
  // Whether any connection was accepted while the probe waited.
  let acceptedAny = false;
  const noteAccepted = () => {
    acceptedAny = true;
  };
  let probing = false;
  const probe = () => {
    const address = server.address();
    if (probing || !server.listening || address === null || typeof address === 'string') return;
    probing = true;
    acceptedAny = false;
    server.on('connection', noteAccepted);
    const host = address.address === '0.0.0.0' ? '127.0.0.1' : address.address === '::' ? '::1' : address.address;
    const client = connect(address.port, host);
    const finish = () => {
      server.off('connection', noteAccepted);
      client.destroy();
      probing = false;
    };
    // At the descriptor limit the probe cannot connect either: a later one will.
    client.once('error', finish);
    client.once('connect', () => {
      const due = Date.now() + PROBE_TIMEOUT_MS;
      setTimeout(() => {
        if (!acceptedAny && server.listening && Date.now() - due < LATE_MS) {
          logEvent('listener_reopened', { port: address.port });
          server.close();
          server.listen(address.port, address.address);
        }
        finish();
      }, PROBE_TIMEOUT_MS);
    });
  };
  setInterval(probe, PROBE_INTERVAL_MS).unref();
}
