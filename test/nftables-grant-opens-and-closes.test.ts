import { describeGrantOpensAndCloses } from './support/gate-scenarios.js';
import { makeGate } from './nftables-lab.js';

describeGrantOpensAndCloses('nftables gate opens a protected port for a granted source, and only for as long as granted', (lab, opts = {}) =>
  makeGate(lab, opts.onStop ? { onStop: opts.onStop } : {}, opts.protectedPorts ? { protectedPorts: opts.protectedPorts } : {}),
);
