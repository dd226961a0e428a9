/** Service alerts (about the customer's own account) and marketing offers: consent is per class. */
export type MessageClass = "service" | "marketing";

export const MESSAGE_CLASSES: readonly MessageClass[] = ["service", "marketing"];
