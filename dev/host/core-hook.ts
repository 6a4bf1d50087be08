import Module from 'node:module';
import * as core from './core';

let hooked = false;

/** Answers require('@azure/functions-core') with the local stand-in, as the real worker's hook does. */
export function provideCoreModule(): typeof core {
  if (!hooked) {
    hooked = true;
    const m = Module as unknown as { _load: (request: string, ...rest: unknown[]) => unknown };
    const original = m._load;
    m._load = function (request: string, ...rest: unknown[]) {
      if (request === '@azure/functions-core') return core;
      return original.call(this, request, ...rest);
    };
  }
  return core;
}
