/** The product version, shown by --version and sent in Welcome and Hello. */
export const VERSION = "0.1.0";
