// The `stackanetes` command line: one module per command, each exporting `register`.
import { Command } from 'commander';
import { CliError } from './errors.ts';
import { commands } from './commands.ts';

const program = new Command('stackanetes')
  .description('OpenStack as a Kubernetes application')
  .showHelpAfterError()
  .configureOutput({ outputError: (str, write) => write(str) });

for (const register of commands) register(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CliError) {
    process.stderr.write(`error: ${err.message}\n`);
    process.exitCode = err.exitCode;
  } else {
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`error: ${message}\n`);
    if (process.env.STACKANETES_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
    process.exitCode = 1;
  }
}
