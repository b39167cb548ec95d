/** What every `poc` command shares: how it reports a usage mistake, and how it prints a result. */

/** A mistake in the command line: reported with the usage text, exit code 2. */
export class UsageError extends Error {}

/** A result as one JSON line (`--json`) or as text for a person. */
export const print = (json: boolean, value: unknown, text: string) => process.stdout.write(`${json ? JSON.stringify(value) : text}\n`);
