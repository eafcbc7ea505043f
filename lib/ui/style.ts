/** Colours for the terminal; all identity functions when colour is off. */
export interface Style {
  echo(text: string): string;
  broadcast(text: string): string;
  /** A private message, sent or received. */
  private(text: string): string;
  /** A message shown from history (replayed on a join or a resume, or asked for): dimmed. */
  history(text: string): string;
  notice(text: string): string;
  error(text: string): string;
  prompt(text: string): string;
}

const plain = (text: string) => text;
const ansi = (code: number | string) => (text: string) => `\x1b[${code}m${text}\x1b[0m`;

/** Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org). */
export function createStyle(colour: boolean): Style {
  if (!colour) {
    return {
      echo: plain,
      broadcast: plain,
      private: plain,
      history: plain,
      notice: plain,
      error: plain,
      prompt: plain,
    };
  }
  return {
    echo: ansi(36),
    broadcast: ansi(32),
    private: ansi(35),
    history: ansi(2),
    notice: ansi(2),
    error: ansi(31),
    prompt: ansi(1),
  };
}
