/** The parts of undici ferry uses, through the package's public API. */
import { setFlagsFromString } from 'node:v8';
export { Agent } from 'undici';
export type { Dispatcher } from 'undici';

// undici parses HTTP with llhttp compiled to WebAssembly. After a few responses V8 re-compiles the parser's main
// function with its optimizing compiler (TurboFan), in a background job that costs more CPU time and memory than the
// rest of a short command, and Node waits for the job before the process exits. V8's baseline code (Liftoff) is fast
// enough for ferry's traffic: bodies are not parsed byte by byte (a declared length is skipped in one step). So the
// budget of work after which V8 tiers a WebAssembly function up is raised far beyond a command's requests. Set here,
// when undici loads and before its first connection compiles the parser, not at start-up: a V8 flag changed there made
// every command slower (docs/performance.md, "Start-up"), including those that never connect.
setFlagsFromString('--wasm-tiering-budget=2000000000');
