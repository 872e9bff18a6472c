// Deno entry: the same node:http and `ws` server as Node's, through Deno's Node
// compatibility. Deno.serve with Deno.upgradeWebSocket was the first choice, but it cannot
// refuse an oversized frame while reading it, drops invalid UTF-8 without a 1007, has no
// timeout for an unfinished request, and costed many times Node's CPU per delivery (see
// BENCHMARKS.md). One thing Deno's node:http lacks is mended here: see reopenStalledListener.
import { serveOnNodeHttp } from '../node/serve.ts';
import { reopenStalledListener } from './listener.ts';

reopenStalledListener(serveOnNodeHttp());
