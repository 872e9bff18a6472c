// Node entry.
import { serveOnNodeHttp } from './serve.ts';

serveOnNodeHttp();
