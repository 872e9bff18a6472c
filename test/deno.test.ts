import { describeConformance } from './conformance/suite.ts';

describeConformance('deno', {
  // Deno drops the connection when a frame arrives after it has sent its close frame
  // (a flooding client is still sending), so such a client may see 1006 instead of 1008.
  closeCodeWhileSending: false,
});
