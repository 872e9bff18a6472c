import { describeConformance } from './conformance/suite.ts';

describeConformance('deno', 'durable');
describeConformance('deno', 'memory');
