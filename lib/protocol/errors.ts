/** A frame's length prefix is malformed or announces more than the limit allows. */
export class FrameTooLargeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FrameTooLargeError";
  }
}

/** A frame's payload is not a valid protobuf message (or holds invalid UTF-8). */
export class MalformedMessageError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "MalformedMessageError";
  }
}
