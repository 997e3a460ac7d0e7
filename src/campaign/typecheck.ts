/*
 * `stress --typecheck`: a scenario file type-checked, before it runs, against the package's own
 * types, as tsc would with the settings below: 'shootdown' is src/index.ts (through `paths`, as the
 * loader's hooks map it at run time: bin/hooks.mjs), strict, ES2022 with Node's types. A misspelt
 * trial option, a call with the wrong arguments or a missing import is then a line with the file,
 * line and column, exit 2, instead of a CPU's runtime error in the middle of a run.
 *
 * Only the user's files are checked (the scenario and what it imports from outside the package's
 * src/): the package's own sources are checked by `npm run typecheck`, and checking only what the
 * user's files use of them keeps --typecheck to a few seconds.
 */
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as TS from 'typescript';
import { UsageError } from '../errors.ts';
import { displayPath } from '../scenario/catalog/index.ts';

const PACKAGE_SRC = fileURLToPath(new URL('../', import.meta.url));
const API = fileURLToPath(new URL('../index.ts', import.meta.url));

/** Where Node's types are, found from this package as the user's file cannot find them itself. */
function typeRoots(): string[] {
  try {
    return [dirname(dirname(createRequire(import.meta.url).resolve('@types/node/package.json')))];
  } catch {
    return [];
  }
}

/** Type errors of the file at `path` (and of the user's files it imports), one line each: file:line:col. */
async function typeErrors(path: string): Promise<string[]> {
  const ts = (await import('typescript')).default;
  const roots = typeRoots();
  const options: TS.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    lib: ['lib.es2022.d.ts'],
    strict: true,
    noEmit: true,
    allowImportingTsExtensions: true,
    skipLibCheck: true,
    types: roots.length > 0 ? ['node'] : [],
    typeRoots: roots,
    paths: { shootdown: [API] },
  };
  const file = resolve(path);
  const program = ts.createProgram([file], options);
  // only the user's files are checked: each checks as much of the package as it uses, no more
  const mine = program.getSourceFiles().filter((sf) => sf.fileName === file || !(resolve(sf.fileName).startsWith(PACKAGE_SRC) || sf.isDeclarationFile));
  const diagnostics = [
    ...program.getOptionsDiagnostics(),
    ...program.getGlobalDiagnostics(),
    ...mine.flatMap((sf) => [...program.getSyntacticDiagnostics(sf), ...program.getSemanticDiagnostics(sf)]),
  ];
  return diagnostics.map((d) => {
    const text = ts.flattenDiagnosticMessageText(d.messageText, ' ');
    if (!d.file || d.start === undefined) return `error TS${d.code}: ${text}`;
    const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
    return `${displayPath(d.file.fileName)}:${line + 1}:${character + 1}: error TS${d.code}: ${text}`;
  });
}

/**
 * Type-checks the file at `path`; a UsageError when it has errors. Its message is one line per
 * error (the only multi-line input error: each line stands for one error, as tsc prints them).
 */
export async function typecheckScenario(path: string): Promise<void> {
  const errors = await typeErrors(path);
  if (errors.length > 0) throw new UsageError(errors.join('\n'));
}
