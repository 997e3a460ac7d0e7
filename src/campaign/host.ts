/** The host a result was measured on: it goes with every result, as CPUs may outnumber cores. */
import { availableParallelism } from 'node:os';

export interface HostInfo {
  cores: number;
  node: string;
}

export function hostInfo(): HostInfo {
  return { cores: availableParallelism(), node: process.version };
}
