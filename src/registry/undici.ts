/**
 * The parts of undici ferry uses, loaded without undici's index.js. The index pulls in fetch, WebSocket,
 * cookies, mocks and Node's own bundled copy of undici, about 40 ms of start-up for a CLI that needs only
 * an Agent with `request()`. undici's index does the same `Object.assign` to give dispatchers their API.
 */
import DispatcherBase from 'undici/lib/dispatcher/dispatcher.js';
import api from 'undici/lib/api/index.js';
import AgentImpl from 'undici/lib/dispatcher/agent.js';
import type { Agent as AgentType } from 'undici';

Object.assign(DispatcherBase.prototype, api);

export const Agent: typeof AgentType = AgentImpl;
export type Agent = AgentType;
export type { Dispatcher } from 'undici';
