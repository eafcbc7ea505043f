export interface ConnectErrorOptions extends ErrorOptions {
  /** Trying again cannot help (the program may not use the network). @default false */
  final?: boolean;
}

/** The server cannot be reached. The message says why in plain words. */
export class ConnectError extends Error {
  readonly final: boolean;

  constructor(message: string, options?: ConnectErrorOptions) {
    super(message, options);
    this.name = "ConnectError";
    this.final = options?.final ?? false;
  }
}
