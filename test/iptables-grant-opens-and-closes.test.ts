import { describeGrantOpensAndCloses } from './support/gate-scenarios.js';
import { NFT_BACKEND, iptablesFactory } from './iptables-lab.js';

describeGrantOpensAndCloses('iptables gate (nf_tables back-end) opens a protected port for a granted source, and only for as long as granted', iptablesFactory(NFT_BACKEND));
