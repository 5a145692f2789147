/**
 * The engine's internals: one class per algorithm, each a pure function of (stored state, cost,
 * now). Not API: anything here may change between releases. Store implementations in other Viva
 * modules (the Redis store mirrors these classes in Lua) read it; applications should not.
 */
package io.viva.core.internal;
