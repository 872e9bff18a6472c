#!/usr/bin/env node
// Node entry.
import { serveOnNodeHttp } from './serve.ts';

serveOnNodeHttp();
