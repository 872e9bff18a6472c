import { describeConformance, type Capabilities } from './conformance/suite.ts';

const deno: Partial<Capabilities> = {
  // Deno drops the connection when a frame arrives after it has sent its close frame
  // (a flooding client is still sending), so such a client may see 1006 instead of 1008.
  closeCodeWhileSending: false,
  // Deno.upgradeWebSocket drops a connection whose text frame is not valid UTF-8 (1006)
  // instead of closing it with 1007.
  invalidUtf8Close: false,
  // Deno.serve has no timeout for a request that never completes.
  handshakeTimeout: false,
  // Deno.serve ends the process when accept fails with "Too many open files".
  survivesDescriptorLimit: false,
};

describeConformance('deno', 'durable', deno);
describeConformance('deno', 'memory', deno);
