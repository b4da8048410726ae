/**
 * Display width of terminal text, for yargs' help layout (the bundle aliases the `string-width` package to this
 * module). The real package builds an `Intl.Segmenter` and Unicode property regexes when it loads, a measurable
 * part of every ferry start-up (docs/performance.md), for help text that is plain ASCII. This counts code points, skips ANSI escapes and
 * combining marks, and counts East Asian wide and fullwidth characters as two columns.
 */
const ANSI = /\u001b\[[0-9;?]*[ -/]*[@-~]|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)/g;

function isWide(cp: number): boolean {
  return (
    (cp >= 0x1100 && cp <= 0x115f) ||
    (cp >= 0x2e80 && cp <= 0xa4cf && cp !== 0x303f) ||
    (cp >= 0xac00 && cp <= 0xd7a3) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0xfe30 && cp <= 0xfe4f) ||
    (cp >= 0xff00 && cp <= 0xff60) ||
    (cp >= 0xffe0 && cp <= 0xffe6) ||
    (cp >= 0x1f300 && cp <= 0x1faff) ||
    (cp >= 0x20000 && cp <= 0x3fffd)
  );
}

function isZeroWidth(cp: number): boolean {
  return cp < 0x20 || (cp >= 0x7f && cp < 0xa0) || (cp >= 0x300 && cp <= 0x36f) || cp === 0x200b || cp === 0x200d || (cp >= 0xfe00 && cp <= 0xfe0f);
}

/** Printable ASCII only: one column a character. */
const PLAIN = /^[\x20-\x7e]*$/;

/** Number of terminal columns `text` takes. */
export default function stringWidth(text: string): number {
  if (typeof text !== 'string' || text.length === 0) return 0;
  // yargs measures every line of a command's help (it builds that help whenever a command runs): nearly all plain
  if (PLAIN.test(text)) return text.length;
  let width = 0;
  for (const ch of text.replace(ANSI, '')) {
    const cp = ch.codePointAt(0)!;
    if (!isZeroWidth(cp)) width += isWide(cp) ? 2 : 1;
  }
  return width;
}
