// A cluster worker's entry (runPrimary forks this file): SIGHUP's default ends a process, and a SIGHUP to
// the process group (a reload) may come while the worker still loads its modules. Ignored until the CLI
// installs its own handler.
process.on('SIGHUP', () => undefined);
await import('./cli.js');
