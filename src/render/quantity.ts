// Memory quantities as Kubernetes writes them (`512Mi`, `1Gi`, `1G`, `1e9`, `1048576`), in bytes:
// enough to compare a request with a limit and to tell RabbitMQ its limit. (@kubernetes/client-node
// has quantityToScalar, but importing it costs the pure renderer about a second of start-up.)
const suffixes: Readonly<Record<string, number>> = {
  '': 1,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** Bytes in a memory quantity; throws, naming the value, when it is not one. */
export function memoryBytes(q: string | number): number {
  if (typeof q === 'number') return q;
  const m =
    /^\+?((?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|[mkMGTPE])?$/.exec(
      q.trim(),
    );
  if (!m) throw new Error(`${JSON.stringify(q)} is not a memory quantity (e.g. 512Mi, 1Gi)`);
  return Math.ceil(Number(m[1]) * suffixes[m[2] ?? '']!);
}
