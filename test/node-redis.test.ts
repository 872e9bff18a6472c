import { describeConformance } from './conformance/suite.ts';

describeConformance('node', 'redis');
