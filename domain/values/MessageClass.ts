/** Service alerts (about the customer's own account) and marketing offers: consent is per class. */
export type MessageClass = "service" | "marketing";

export const MESSAGE_CLASSES: readonly MessageClass[] = ["service", "marketing"];

/** The order messages waiting for a provider go in: service alerts before marketing offers. */
export const SENDING_ORDER: readonly MessageClass[] = ["service", "marketing"];
