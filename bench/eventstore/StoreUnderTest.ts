/**
 * What the benchmark needs from an event store, so that both stores run the very same workloads.
 */
export interface StoreUnderTest {
  /**
   * A writer that owns one new stream: its first append creates the stream (expecting none), each
   * later one expects the exact revision the previous append returned.
   */
  openStreamWriter(): StreamWriter;
  /** Reads every event in the log from the start, in global order; returns how many it read. */
  readWholeLog(): Promise<number>;
  close(): Promise<void>;
}

export interface StreamWriter {
  /** Appends `eventCount` sample events in one call (one transaction). */
  append(eventCount: number): Promise<void>;
}
