import type { CommandSpec } from '../command.js';
import { write } from '../io.js';
import { completionScript, SHELLS, type Shell } from '../completion.js';

const spec: CommandSpec = {
  command: 'completion SHELL',
  describe: 'Print the shell completion script for bash, zsh or fish',
  builder: (y) =>
    y
      .positional('SHELL', { type: 'string', choices: SHELLS, describe: 'the shell to complete for' })
      .example('source <(ferry completion bash)', 'complete ferry in this bash session')
      .example('ferry completion zsh > "${fpath[1]}/_ferry"', 'install for zsh')
      .example('ferry completion fish > ~/.config/fish/completions/ferry.fish', 'install for fish'),
  async handler(args, cli) {
    await write(cli.io.stdout, completionScript(args['SHELL'] as Shell));
  },
};
export default spec;
