import { startSandbox } from './server';

/** `node dist/dev/sandbox/cli.js [port]`: the sandbox tenant alone. */
startSandbox({ port: Number(process.argv[2] ?? process.env.SANDBOX_PORT ?? 7072), log: process.env.SANDBOX_LOG ? console.log : undefined })
  .then((s) =>
    console.log(
      `Sandbox on ${s.origin} (https) and ${s.controlUrl} (http); demo at ${s.controlUrl}/_sandbox/demo; trust ${s.certPath} with NODE_EXTRA_CA_CERTS.`,
    ),
  )
  .catch((e) => {
    console.error(e);
    process.exit(1);
  });
