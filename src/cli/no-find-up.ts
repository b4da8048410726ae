/**
 * Stands in for the `escalade/sync` package in the esbuild bundle (Makefile: `--alias:escalade/sync=…`). yargs uses
 * it for one thing: when yargs() is called it looks for a package.json in the working directory and each parent,
 * listing every directory on the way and reading and parsing the first package.json it finds, whatever its size, to
 * guess a version that ferry then replaces with its own (`.version(…)` in main.ts). Finding nothing is what yargs
 * does outside any package: the version guess is "unknown". So ferry's start-up reads no directory and no file of the
 * user's working directory.
 */
export default function findUp(_start: string, _test: (dir: string, names: string[]) => string | false | undefined): string | undefined {
  return undefined;
}
