export interface ProcessResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs a client program to completion (with a deadline) and returns its output. */
export async function runProcess(
  cmd: string[],
  options: { stdin?: string | Uint8Array; timeoutMs?: number; env?: Record<string, string>; cwd?: string } = {},
): Promise<ProcessResult> {
  const child = Bun.spawn(cmd, {
    stdin: options.stdin !== undefined ? new Blob([options.stdin]) : "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, ...options.env },
    cwd: options.cwd,
  });
  const timeoutMs = options.timeoutMs ?? 60_000;
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const [stdout, stderr, exitCode] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  clearTimeout(timer);
  if (child.signalCode === "SIGKILL") {
    throw new Error(`${cmd.join(" ")} did not finish within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`);
  }
  return { exitCode, stdout, stderr };
}

/** Debian's Python, which has python3-confluent-kafka; a bare python3 may be another interpreter. */
export const DEBIAN_PYTHON = "/usr/bin/python3";
