/**
 * Dispatch for the CLI's client subcommands: finds the command, prints help, parses flags, opens a session to
 * the cluster, and turns failures into a message and an exit code (2 for usage mistakes, 1 for failures).
 */
import { KafkaError } from "../client/connection.ts";
import { UsageError, bootstrapOf, boolFlag, helpText, parseArgs, wantsHelp } from "./args.ts";
import { CLUSTER_COMMANDS } from "./cluster.ts";
import { CONSUME_COMMANDS } from "./consume.ts";
import { GROUP_COMMANDS } from "./groups.ts";
import type { CliCommand } from "./output.ts";
import { PRODUCE_COMMANDS } from "./produce.ts";
import { CliError, Session, describeError } from "./session.ts";
import { TOPIC_COMMANDS } from "./topics.ts";

export const CLI_COMMANDS: readonly CliCommand[] = [...TOPIC_COMMANDS, ...PRODUCE_COMMANDS, ...CONSUME_COMMANDS, ...GROUP_COMMANDS, ...CLUSTER_COMMANDS];

/** First words of the client commands, for main's dispatch. */
export const CLI_COMMAND_WORDS: ReadonlySet<string> = new Set(CLI_COMMANDS.map((c) => c.spec.name.split(" ")[0]!));

/** Lines for `chronik --help`. */
export function cliUsageLines(): string[] {
  return CLI_COMMANDS.map((c) => `  ${c.spec.name.padEnd(22)}${c.spec.summary.split(/(?<=\.) /)[0]}`);
}

function groupHelp(word: string): string {
  const commands = CLI_COMMANDS.filter((c) => c.spec.name.startsWith(`${word} `));
  return [`Usage: chronik ${word} <command> [options]`, "", "Commands:", ...commands.map((c) => `  ${c.spec.name.padEnd(22)}${c.spec.summary}`), "", `Run 'chronik ${word} <command> --help' for a command's options.`].join("\n") + "\n";
}

/** Runs a client command (argv starts at its first word) and resolves with the process exit code. */
export async function runCli(argv: readonly string[], env: Record<string, string | undefined> = process.env): Promise<number> {
  const [first = "", second] = argv;
  const command = CLI_COMMANDS.find((c) => c.spec.name === first) ?? CLI_COMMANDS.find((c) => c.spec.name === `${first} ${second}`);
  if (command === undefined) {
    const isGroup = CLI_COMMANDS.some((c) => c.spec.name.startsWith(`${first} `));
    if (isGroup && (second === undefined || wantsHelp([second]))) {
      process.stdout.write(groupHelp(first));
      return 0;
    }
    process.stderr.write(isGroup ? `chronik ${first}: unknown command ${JSON.stringify(second)}\n\n${groupHelp(first)}` : `chronik: unknown command ${JSON.stringify(first)}\n`);
    return 2;
  }
  const rest = argv.slice(command.spec.name.split(" ").length);
  if (wantsHelp(rest)) {
    process.stdout.write(helpText(command.spec));
    return 0;
  }
  let session: Session | null = null;
  try {
    const args = parseArgs(command.spec, rest);
    const connect = async () => (session ??= await Session.open(bootstrapOf(args, env, command.spec.name)));
    return await command.run({ args, connect, json: boolFlag(args, "json") });
  } catch (error) {
    return report(command.spec.name, error);
  } finally {
    session?.close();
  }
}

function report(name: string, error: unknown): number {
  if (error instanceof UsageError) {
    process.stderr.write(`chronik ${error.command}: ${error.message}\nRun 'chronik ${error.command} --help' for usage.\n`);
    return 2;
  }
  if (error instanceof KafkaError || error instanceof CliError) {
    process.stderr.write(`chronik ${name}: ${error.message}\n`);
    return 1;
  }
  process.stderr.write(`chronik ${name}: ${describeError(error)}\n`);
  return 1;
}
