/**
 * The manual pages in docs/ against the code: every command has a page, every flag a command's --help prints
 * is documented on its page and every flag a page documents exists, examples use only real flags, and the
 * overview page links every command page. Help is produced in-process by the real CLI, so docs and code cannot
 * drift apart unnoticed.
 */
import { expect } from 'chai';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ferry, ROOT } from '../harness/cli.js';

const DOCS = path.join(ROOT, 'docs');

/** What a `--help` output says about flags (long name → short alias or ''), commands and subcommands. */
export interface HelpInfo {
  flags: Map<string, string>;
  /** Other long names of flags (`--public-key-file, --public-key`): they exist, and pages may name them. */
  aliases: Set<string>;
  commands: string[];
  subcommands: string[];
}

/**
 * Parses yargs help text. Flag lines start with `  -x, --name` or six spaces and `--name`; wrapped description
 * lines are indented further, so a `--flag` inside a description is never taken for a definition.
 */
export function parseHelp(text: string): HelpInfo {
  const flags = new Map<string, string>();
  const aliases = new Set<string>();
  for (const m of text.matchAll(/^(?: {2}-([a-zA-Z]), | {6})--([a-z0-9][a-z0-9-]*(?:\.[a-z0-9]+)?)((?:, --[a-z0-9][a-z0-9-]*)*)/gm)) {
    flags.set(m[2]!, m[1] ?? '');
    for (const a of m[3]!.matchAll(/--([a-z0-9][a-z0-9-]*)/g)) aliases.add(a[1]!);
  }
  const commands = [...text.matchAll(/^ {2}ferry ([a-z][a-z-]*)(?= {2}|$)/gm)].map((m) => m[1]!);
  // A command's own subcommands are listed as `  ferry COMMAND SUBCOMMAND [ARGS]  description`.
  const list = /^Commands:\n((?: {2}.*\n?)*)/m.exec(text)?.[1] ?? '';
  const subcommands = [...list.matchAll(/^ {2}ferry [a-z][a-z-]* ([a-z][a-z-]*)(?= |$)/gm)].map((m) => m[1]!);
  return { flags, aliases, commands, subcommands };
}

/** The `## NAME` sections of a page, in order, with their bodies. */
export function sections(md: string): Map<string, string> {
  const out = new Map<string, string>();
  const parts = md.split(/^## (.+)$/m);
  for (let i = 1; i < parts.length; i += 2) out.set(parts[i]!.trim(), parts[i + 1] ?? '');
  return out;
}

/**
 * Option entries of a section: paragraphs of one line starting with `**--name**` or `**-x**, **--name**`
 * (long name → short alias or '').
 */
export function documentedFlags(section: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const para of section.split(/\n\s*\n/)) {
    const lines = para.trim().split('\n');
    if (lines.length !== 1) continue;
    const m = /^(?:\*\*-([a-zA-Z])\*\*, )?\*\*--([a-z0-9][a-z0-9-]*(?:\.[a-z0-9]+)?)\*\*/.exec(lines[0]!);
    if (m) out.set(m[2]!, m[1] ?? '');
  }
  return out;
}

/** Term paragraphs `**name**` of a section (for subcommands). */
export function documentedTerms(section: string): string[] {
  const out: string[] = [];
  for (const para of section.split(/\n\s*\n/)) {
    const m = /^\*\*([a-z][a-z-]*)\*\*/.exec(para.trim());
    if (m && para.trim().split('\n').length === 1) out.push(m[1]!);
  }
  return out;
}

/** Splits a shell line into words, honouring single and double quotes; `|`, `;`, `&&`, `>` end a command. */
export function shellWords(line: string): string[][] {
  const commands: string[][] = [[]];
  const re = /\s*(?:'([^']*)'|"((?:[^"\\]|\\.)*)"|(\|\||&&|[|;>])|([^\s'"|;>]+))/gy;
  let word: string | undefined;
  let glued = false;
  for (let m = re.exec(line); m; m = re.exec(line)) {
    const space = /^\s/.test(m[0]);
    if (m[3] !== undefined) {
      if (word !== undefined) commands.at(-1)!.push(word);
      word = undefined;
      commands.push([]);
      continue;
    }
    const piece = m[1] ?? m[2] ?? m[4] ?? '';
    if (word !== undefined && glued && !space) word += piece;
    else {
      if (word !== undefined) commands.at(-1)!.push(word);
      word = piece;
    }
    glued = true;
  }
  if (word !== undefined) commands.at(-1)!.push(word);
  return commands.filter((c) => c.length > 0);
}

/** Every `ferry ...` command line in the fenced code blocks of a page (continuation lines joined). */
export function ferryInvocations(md: string): string[][] {
  const out: string[][] = [];
  for (const block of md.matchAll(/^```[^\n]*\n([\s\S]*?)^```/gm)) {
    const text = block[1]!.replace(/\\\n/g, ' ');
    for (const raw of text.split('\n')) {
      const line = raw.replace(/^\s*\$\s+/, '');
      for (const words of shellWords(line)) {
        const i = words.indexOf('ferry');
        if (i === 0 || (i > 0 && /^[A-Z_]+=/.test(words[0]!))) out.push(words.slice(i + 1));
      }
    }
  }
  return out;
}

/** Long flags mentioned anywhere in a text (`--name`, not `--src-` prefixes). */
export function mentionedFlags(md: string): Set<string> {
  return new Set([...md.matchAll(/(?<![\w-])--([a-z0-9]+(?:-[a-z0-9]+)*(?:\.[a-z0-9]+)?)(?![\w-])/g)].map((m) => m[1]!));
}

const read = (name: string) => readFileSync(path.join(DOCS, name), 'utf8');

async function help(args: string[]): Promise<HelpInfo> {
  const r = await ferry([...args, '--help']);
  expect(r.code, `ferry ${args.join(' ')} --help: ${r.stderr}`).to.equal(0);
  return parseHelp(r.stdout);
}

describe('docs: manual pages', () => {
  let global: HelpInfo;
  const perCommand = new Map<string, HelpInfo>();

  before(async () => {
    global = await help([]);
    for (const c of global.commands) {
      const h = await help([c]);
      // A command with subcommands has the flags of all of them (each lists its own in its --help).
      for (const sub of h.subcommands) {
        const s = await help([c, sub]);
        for (const [f, short] of s.flags) h.flags.set(f, short);
        for (const a of s.aliases) h.aliases.add(a);
      }
      perCommand.set(c, h);
    }
  });

  describe('helpers', () => {
    it('parseHelp takes definitions, not flags quoted in wrapped descriptions', () => {
      const h = parseHelp(
        [
          'Commands:',
          '  ferry copy             Copy',
          '  ferry list-tags        List',
          '',
          'Options:',
          '      --debug             enable debug output                               [boolean]',
          '  -a, --all               copy all images (same as',
          '                          --multi-arch all)                                 [boolean]',
          '',
        ].join('\n'),
      );
      expect([...h.flags]).to.deep.equal([['debug', ''], ['all', 'a']]);
      expect(h.commands).to.deep.equal(['copy', 'list-tags']);
      expect(h.subcommands).to.deep.equal([]);
      const store = parseHelp(
        [
          'Commands:',
          '  ferry store images             list images',
          '  ferry store rm <CONTAINER..>   remove containers',
          '',
          'Examples:',
          '  ferry store images --root /tmp/r   list the images of a store',
        ].join('\n'),
      );
      expect(store.subcommands).to.deep.equal(['images', 'rm']);
    });

    it('documentedFlags takes one-line term paragraphs only', () => {
      const f = documentedFlags('**--raw**\n\nPrint it.\nSee **--config** too.\n\n**-n**, **--no-tags**\n\nx\n\n**--tls-verify**=_bool_\n\ny');
      expect([...f]).to.deep.equal([['raw', ''], ['no-tags', 'n'], ['tls-verify', '']]);
    });

    it('ferryInvocations finds command lines in code blocks, through pipes, quotes and continuations', () => {
      const md = [
        'text ferry --not-this',
        '```sh',
        "$ printf '%s' \"$P\" | ferry login -u me --password-stdin r.example.com",
        "$ ferry inspect --format '{{.Digest}} --fake' \\",
        '    docker://x/y',
        '{"not": "ferry --json"}',
        '```',
      ].join('\n');
      expect(ferryInvocations(md)).to.deep.equal([
        ['login', '-u', 'me', '--password-stdin', 'r.example.com'],
        ['inspect', '--format', '{{.Digest}} --fake', 'docker://x/y'],
      ]);
    });

    it('mentionedFlags ignores prefixes like --src- and table rules', () => {
      expect([...mentionedFlags('use `--src-` or **--dest-creds**, |---|---|, --tls-verify=false')]).to.deep.equal(['dest-creds', 'tls-verify']);
    });
  });

  it('ferry --help lists the commands', () => {
    expect(global.commands).to.include.members(['copy', 'delete', 'inspect', 'list-tags', 'login', 'logout', 'manifest-digest']);
    expect(global.flags.has('debug')).to.equal(true);
  });

  it('every command has a page, and every page a command', () => {
    for (const c of global.commands) expect(existsSync(path.join(DOCS, `ferry-${c}.1.md`)), `docs/ferry-${c}.1.md`).to.equal(true);
    const pages = readdirSync(DOCS).filter((f) => /^ferry-.*\.1\.md$/.test(f));
    for (const p of pages) expect(global.commands, `${p} documents a command that does not exist`).to.include(p.slice('ferry-'.length, -'.1.md'.length));
  });

  it('every command page has the manual sections, its title and its synopsis', () => {
    for (const c of global.commands) {
      const md = read(`ferry-${c}.1.md`);
      expect(md.split('\n')[0], c).to.equal(`% ferry-${c}(1)`);
      const s = sections(md);
      for (const name of ['NAME', 'SYNOPSIS', 'DESCRIPTION', 'OPTIONS', 'EXAMPLES', 'EXIT STATUS', 'SEE ALSO']) {
        expect(s.has(name), `ferry-${c}.1.md lacks ## ${name}`).to.equal(true);
      }
      expect(s.get('NAME'), c).to.contain(`ferry-${c} - `);
      expect(s.get('SYNOPSIS'), c).to.contain(`**ferry ${c}**`);
      expect(s.get('EXIT STATUS'), c).to.contain('**0**').and.contain('**1**');
      expect(s.get('SEE ALSO'), c).to.contain('(ferry.1.md)');
      expect(ferryInvocations(s.get('EXAMPLES')!).filter((w) => w.includes(c)), `ferry-${c}.1.md has no example running ferry ${c}`).to.not.be.empty;
    }
  });

  it("every flag of a command's --help is documented on its page, and nothing else", () => {
    for (const c of global.commands) {
      const own = new Map([...perCommand.get(c)!.flags].filter(([f]) => !global.flags.has(f)));
      const documented = documentedFlags(sections(read(`ferry-${c}.1.md`)).get('OPTIONS')!);
      const missing = [...own.keys()].filter((f) => !documented.has(f));
      const invented = [...documented.keys()].filter((f) => !own.has(f));
      expect(missing, `ferry-${c}.1.md does not document`).to.deep.equal([]);
      expect(invented, `ferry-${c}.1.md documents flags ferry ${c} --help does not have`).to.deep.equal([]);
      for (const [f, short] of own) expect(documented.get(f), `ferry-${c}.1.md: short form of --${f}`).to.equal(short);
    }
  });

  it('ferry.1.md documents exactly the global flags, and links every command page', () => {
    const md = read('ferry.1.md');
    expect(md.split('\n')[0]).to.equal('% ferry(1)');
    const s = sections(md);
    for (const name of ['NAME', 'SYNOPSIS', 'DESCRIPTION', 'GLOBAL OPTIONS', 'IMAGE NAMES', 'COMMANDS', 'EXIT STATUS', 'ENVIRONMENT', 'FILES', 'SEE ALSO']) {
      expect(s.has(name), `ferry.1.md lacks ## ${name}`).to.equal(true);
    }
    const documented = documentedFlags(s.get('GLOBAL OPTIONS')!);
    expect([...documented.keys()].sort()).to.deep.equal([...global.flags.keys()].sort());
    for (const [f, short] of global.flags) expect(documented.get(f), `short form of --${f}`).to.equal(short);
    for (const c of global.commands) expect(s.get('COMMANDS'), `COMMANDS links ferry-${c}.1.md`).to.contain(`](ferry-${c}.1.md)`);
    for (const t of ['docker', 'oci', 'oci-archive', 'dir', 'docker-archive', 'containers-storage']) {
      expect(s.get('IMAGE NAMES'), `transport ${t}`).to.contain(`| \`${t}\` |`);
    }
    for (const v of ['REGISTRY_AUTH_FILE', 'XDG_RUNTIME_DIR', 'CONTAINERS_REGISTRIES_CONF', 'CONTAINERS_STORAGE_CONF', 'XDG_CACHE_HOME']) {
      expect(s.get('ENVIRONMENT'), v).to.contain(`**${v}**`);
    }
  });

  it('examples use only flags the command has', () => {
    const pages = readdirSync(DOCS).filter((f) => /^ferry(-.*)?\.1\.md$/.test(f));
    let checked = 0;
    for (const p of pages) {
      for (const words of ferryInvocations(read(p))) {
        const c = words.find((w) => perCommand.has(w));
        const allowed = c ? perCommand.get(c)!.flags : global.flags;
        const shorts = new Set([...allowed.values()].filter(Boolean));
        const commandAt = c ? words.indexOf(c) : words.length;
        words.forEach((w, i) => {
          const where = `${p}: ferry ${words.join(' ')}`;
          if (w.startsWith('--')) {
            const name = w.slice(2).split('=')[0]!;
            expect(i < commandAt ? global.flags.has(name) : allowed.has(name), `${where}: --${name}`).to.equal(true);
            checked++;
          } else if (/^-[a-zA-Z]$/.test(w)) {
            expect(shorts.has(w.slice(1)), `${where}: ${w}`).to.equal(true);
          }
        });
        const sub = c ? perCommand.get(c)!.subcommands : [];
        if (sub.length > 0) {
          const rest = words.slice(commandAt + 1).filter((w) => !w.startsWith('-'));
          expect(rest.some((w) => sub.includes(w)), `${p}: ferry ${words.join(' ')} names no ${c} subcommand`).to.equal(true);
        }
      }
    }
    expect(checked).to.be.greaterThan(20);
  });

  it('every --flag mentioned anywhere in the pages exists', () => {
    const all = new Set<string>([...global.flags.keys()]);
    for (const h of perCommand.values()) for (const f of [...h.flags.keys(), ...h.aliases]) all.add(f);
    for (const p of readdirSync(DOCS).filter((f) => f.endsWith('.1.md'))) {
      const unknown = [...mentionedFlags(read(p))].filter((f) => !all.has(f));
      expect(unknown, `${p} mentions flags no command has`).to.deep.equal([]);
    }
  });

  it('subcommands in --help are documented on the page, and only those', () => {
    for (const [c, h] of perCommand) {
      if (h.subcommands.length === 0) continue;
      const s = sections(read(`ferry-${c}.1.md`));
      expect(s.has('SUBCOMMANDS'), `ferry-${c}.1.md lacks ## SUBCOMMANDS`).to.equal(true);
      expect(documentedTerms(s.get('SUBCOMMANDS')!).sort()).to.deep.equal([...h.subcommands].sort());
    }
  });

  it('links between pages resolve', () => {
    for (const p of readdirSync(DOCS).filter((f) => f.endsWith('.md'))) {
      for (const m of read(p).matchAll(/\]\(([^)#\s]+\.md)(?:#[^)]*)?\)/g)) {
        if (/^[a-z]+:/.test(m[1]!)) continue;
        expect(existsSync(path.join(DOCS, m[1]!)), `${p} links ${m[1]}`).to.equal(true);
      }
    }
  });
});
