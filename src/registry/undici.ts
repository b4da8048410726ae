/** The parts of undici ferry uses, through the package's public API. */
export { Agent } from 'undici';
export type { Dispatcher } from 'undici';
