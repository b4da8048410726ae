/**
 * Shell completion. yargs does the work (`ferry --get-yargs-completions WORDS…` prints the candidates for the last
 * word: commands, options, option choices); ferry adds image names: transports (`docker://`, `oci:`, …) and, for a
 * transport whose names start with a path, the files and folders that path could continue with. The scripts
 * `ferry completion bash|zsh|fish` prints hand the words typed so far to ferry and the candidates to the shell.
 */
import { readdir } from 'node:fs/promises';
import { transportNames, getTransport } from '../transports/registry.js';

/** The commands whose positional arguments are image names. */
const IMAGE_COMMANDS = new Set(['copy', 'delete', 'inspect', 'list-tags']);

/** At most this many file names are offered (a huge folder would only flood the terminal). */
const MAX_PATHS = 500;

/** The shells `ferry completion` writes a script for. */
export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

/**
 * Whether `current` is an image-name argument: the command takes image names and the word is no option and no
 * option's value (yargs parsed it into an option when the word before was one).
 */
export function isImageWord(current: string, argv: Record<string, unknown>): boolean {
  if (current.startsWith('-')) return false;
  const words = ((argv['_'] as unknown[] | undefined) ?? []).map(String);
  if (!words.some((w) => IMAGE_COMMANDS.has(w))) return false;
  for (const [k, v] of Object.entries(argv)) if (k !== '_' && k !== '$0' && v === current) return false;
  return true;
}

/** Candidates for an image-name word: transport prefixes, then paths for a transport that takes one. */
export async function imageNameCompletions(current: string): Promise<string[]> {
  const colon = current.indexOf(':');
  if (colon < 0) {
    return transportNames()
      .map((n) => `${n}:${getTransport(n)!.completion?.prefix ?? ''}`)
      .filter((w) => w.startsWith(current));
  }
  const transport = getTransport(current.slice(0, colon));
  if (!transport?.completion?.paths) return [];
  const prefix = current.slice(0, colon + 1);
  return (await pathCompletions(current.slice(colon + 1))).map((p) => prefix + p);
}

/** Files and folders (with a trailing `/`) whose path starts with `partial`; dot files only when asked for. */
async function pathCompletions(partial: string): Promise<string[]> {
  const slash = partial.lastIndexOf('/');
  const dir = slash < 0 ? '' : partial.slice(0, slash + 1);
  const base = partial.slice(slash + 1);
  let entries;
  try {
    entries = await readdir(dir === '' ? '.' : dir, { withFileTypes: true });
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const e of entries) {
    if (!e.name.startsWith(base) || (e.name.startsWith('.') && !base.startsWith('.'))) continue;
    out.push(dir + e.name + (e.isDirectory() ? '/' : ''));
    if (out.length >= MAX_PATHS) break;
  }
  return out.sort();
}

/**
 * bash: the words come from `COMP_LINE` up to the cursor (bash splits `oci:/tmp` at the colon in `COMP_WORDS`);
 * the part of the current word up to its last `:` or `=`, which bash treats as already typed, is dropped from each
 * candidate; candidates ending in `/` or `:` get no trailing space. With no candidate, bash completes file names.
 */
const BASH = `# bash completion for ferry (ferry completion bash)
_ferry_completions() {
    local line="\${COMP_LINE:0:COMP_POINT}" words cur trim c
    read -r -a words <<< "$line"
    [[ -z "$line" || "$line" == *[[:space:]] ]] && words+=("")
    cur="\${words[\${#words[@]}-1]}"
    trim="\${cur%"\${cur##*[:=]}"}"
    COMPREPLY=()
    while IFS= read -r c; do
        [[ -n "$c" && "$c" == "$cur"* ]] && COMPREPLY+=("\${c#"$trim"}")
    done < <(ferry --get-yargs-completions "\${words[@]}" 2>/dev/null)
    if [[ \${#COMPREPLY[@]} -eq 1 && ( "\${COMPREPLY[0]}" == */ || "\${COMPREPLY[0]}" == *: ) ]]; then
        compopt -o nospace 2>/dev/null
    fi
    return 0
}
complete -o bashdefault -o default -F _ferry_completions ferry
`;

const ZSH = `#compdef ferry
# zsh completion for ferry (ferry completion zsh)
_ferry() {
  local -a cands whole
  local c
  cands=("\${(@f)$(ferry --get-yargs-completions "\${(@)words[1,CURRENT]}" 2>/dev/null)}")
  for c in "\${cands[@]}"; do
    [[ -z "$c" ]] && continue
    if [[ "$c" == */ || "$c" == *: ]]; then compadd -Q -S '' -- "$c"; else whole+=("$c"); fi
  done
  (( \${#whole} )) && compadd -Q -- "\${whole[@]}"
  (( \${#cands} )) || _files
}
if [[ "\${zsh_eval_context[-1]}" == "loadautofunc" ]]; then
  _ferry "$@"
else
  compdef _ferry ferry
fi
`;

const FISH = `# fish completion for ferry (ferry completion fish)
function __ferry_complete
    ferry --get-yargs-completions (commandline -opc) (commandline -ct) 2>/dev/null
end
complete -c ferry -f -a '(__ferry_complete)'
`;

/** The completion script for `shell`. */
export function completionScript(shell: Shell): string {
  return shell === 'bash' ? BASH : shell === 'zsh' ? ZSH : FISH;
}
