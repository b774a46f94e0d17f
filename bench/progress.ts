// What the benches that run against the deployed cloud share: the check that a cluster is
// configured, and progress lines stamped with the clock and the seconds since the start.

/** Exits with a hint when no cluster is configured. */
export function requireKubeconfig(): void {
  if (!process.env.KUBECONFIG) {
    console.error(
      'KUBECONFIG is not set: run `eval "$(npx stackanetes cluster env)"` (after `npx stackanetes up`)',
    );
    process.exit(2);
  }
}

/** A logger whose lines read `[hh:mm:ss +Ns] message`, N counted from this call. */
export function progressLog(): (msg: string) => void {
  const t0 = Date.now();
  return (msg) => {
    const clock = new Date().toISOString().slice(11, 19);
    console.log(`[${clock} +${((Date.now() - t0) / 1000).toFixed(0)}s] ${msg}`);
  };
}
