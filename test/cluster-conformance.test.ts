import { describeConformance } from './conformance/suite.ts';

describeConformance('cluster', 'redis');
