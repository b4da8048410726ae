/**
 * Workarounds that reach past a dependency's public API, each checked against the installed version: these tests
 * fail when the dependency changes under the workaround (it stops applying, or stops being needed).
 */
import { expect } from 'chai';
import yargs from 'yargs';
import { skipHelpCache } from '../../src/cli/main.js';

type Usage = { cacheHelpMessage: () => void };
const usageOf = (y: unknown): Usage => (y as { getInternalMethods: () => { getUsageInstance: () => Usage } }).getInternalMethods().getUsageInstance();

describe('workarounds: yargs help cache (cli/main.ts skipHelpCache)', () => {
  it('still applies: the internal usage instance and its cacheHelpMessage exist', () => {
    const y = yargs([]);
    const before = usageOf(y).cacheHelpMessage;
    expect(skipHelpCache(y)).to.equal(true);
    expect(usageOf(y).cacheHelpMessage).not.to.equal(before);
  });

  it('is still needed: yargs renders the help cache before running a command handler', async () => {
    let cached = 0;
    let ran = false;
    const y = yargs(['go']).exitProcess(false).command('go', 'run it', {}, () => {
      ran = true;
    });
    const usage = usageOf(y);
    const original = usage.cacheHelpMessage.bind(usage);
    usage.cacheHelpMessage = () => {
      cached++;
      original();
    };
    await y.parseAsync();
    expect(ran).to.equal(true);
    expect(cached).to.be.greaterThan(0);
  });

  it('with it, commands run and --help still renders', async () => {
    let ran = false;
    const y = yargs(['go']).exitProcess(false).command('go', 'run it', {}, () => {
      ran = true;
    });
    skipHelpCache(y);
    await y.parseAsync();
    expect(ran).to.equal(true);
    const h = yargs([]).exitProcess(false).command('go', 'run it');
    skipHelpCache(h);
    const out = await h.getHelp();
    expect(out).to.contain('run it');
  });
});
