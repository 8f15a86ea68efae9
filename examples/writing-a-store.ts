import { test } from 'node:test';
import { memoryStore, type SessionStore } from 'trpc-session';
import { storeContractCases } from 'trpc-session/testing';

// Your store here: a new one per case (each case closes it). memoryStore() stands in for it.
const createStore = (): SessionStore => memoryStore();

for (const { name, run } of storeContractCases(createStore)) test(name, run);
