// The `stackanetes` command line: one module per command, each exporting `register`.
import { Command } from 'commander';
import { CliError } from './errors.ts';
import { load } from './commands.ts';

// `stackanetes images sbom keystone | head`: when the reader of standard output goes away, stop
// quietly, as other command-line tools do, instead of dying of an unhandled EPIPE.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

const program = new Command('stackanetes')
  .description('OpenStack as a Kubernetes application')
  .showHelpAfterError()
  .configureOutput({ outputError: (str, write) => write(str) });

try {
  for (const register of await load(process.argv.slice(2))) register(program);
} catch (err) {
  process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CliError) {
    process.stderr.write(`error: ${err.message}\n`);
    process.exitCode = err.exitCode;
  } else {
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`error: ${message}\n`);
    if (process.env.STACKANETES_DEBUG && err instanceof Error)
      process.stderr.write(`${err.stack}\n`);
    process.exitCode = 1;
  }
}
