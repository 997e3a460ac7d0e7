// The CPU worker's entry point: registers the TypeScript loader, then loads the CPU.
import { register } from 'tsx/esm/api';

register();
const cpu = await import('./cpu.ts');
export default cpu.default;
