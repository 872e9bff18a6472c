import { describeConformance } from './conformance/suite.ts';

describeConformance('bun', 'durable');
describeConformance('bun', 'memory');
