/** Template text by id: what a rule's notification is written from. */
export type Templates = ReadonlyMap<string, string>;
