import { describeRestartAndStop } from './support/gate-scenarios.js';
import { NFT_BACKEND, iptablesFactory, resetIptables } from './iptables-lab.js';

describeRestartAndStop('iptables gate (nf_tables back-end): kernel-side expiry, restart, and each on-stop choice', iptablesFactory(NFT_BACKEND), resetIptables);
