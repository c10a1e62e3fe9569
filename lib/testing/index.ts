/**
 * meshcache/testing: what users need to test their own services against
 * meshcache without sockets.
 */
export { MemoryNetwork, createMemoryNetwork, type MemoryNetworkOptions, type MemoryNetworkStats } from './memory-network.ts'
export { createTestClock, type TestClock } from './clock.ts'
