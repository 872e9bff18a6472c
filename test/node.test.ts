import { describeConformance } from './conformance/suite.ts';

describeConformance('node', 'durable');
describeConformance('node', 'memory');
