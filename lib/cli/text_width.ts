import { glyphs } from "./glyphs.ts";

/** How many terminal columns printable `text` (see ../ui/printable.ts) takes, counted as glyphs.ts explains. */
export function textWidth(text: string): number {
  let width = 0;
  for (const glyph of glyphs(text)) width += glyph.width;
  return width;
}
