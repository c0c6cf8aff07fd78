import { join } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const index = join(root, 'src', 'client', 'index.ts');

/**
 * Every public export of the SDK (src/client/index.ts), followed to its declaration, and whether
 * that declaration's TSDoc carries an `@example` (STYLE.md §14). Read with the TypeScript compiler,
 * so a re-export, an alias or a const beside its type is followed as tsc follows it.
 */
type Sdk = {
  checker: ts.TypeChecker;
  exports: { name: string; symbol: ts.Symbol }[];
  resolve: (s: ts.Symbol) => ts.Symbol;
};
let loaded: Sdk | undefined;
/** The SDK's exports as tsc sees them, each followed through its re-exports (read once). */
function sdk(): Sdk {
  if (loaded !== undefined) return loaded;
  const program = ts.createProgram([index], {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    noEmit: true,
  });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(index);
  if (source === undefined) throw new Error('src/client/index.ts not found');
  const moduleSymbol = checker.getSymbolAtLocation(source);
  if (moduleSymbol === undefined) throw new Error('src/client/index.ts is not a module');
  const resolve = (s: ts.Symbol) => (s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s);
  const exports = checker.getExportsOfModule(moduleSymbol).map((e) => ({ name: e.name, symbol: resolve(e) }));
  loaded = { checker, exports, resolve };
  return loaded;
}

function exportsWithoutExample(): string[] {
  const missing: string[] = [];
  for (const { name, symbol } of sdk().exports) {
    const declarations = symbol.declarations ?? [];
    const hasExample = declarations.some((d) =>
      ts.getJSDocTags(d).some((tag) => tag.tagName.text === 'example'),
    );
    if (!hasExample) missing.push(name);
  }
  return missing.sort();
}

/**
 * Types of this project named in the declared signatures of the SDK's exports (parameters, return
 * types, members of exported classes and interfaces, exported type aliases) that the SDK does not
 * export: a user could not name them. Private members (`#x`, `private`) are not public.
 */
function unexportedTypesInSignatures(): string[] {
  const { checker, exports, resolve } = sdk();
  const exported = new Set(exports.map((e) => e.symbol));
  const found = new Set<string>();
  const visit = (node: ts.Node): void => {
    if (ts.isTypeReferenceNode(node) || ts.isExpressionWithTypeArguments(node)) {
      const at = ts.isTypeReferenceNode(node) ? node.typeName : node.expression;
      const symbol = checker.getSymbolAtLocation(at);
      const target = symbol === undefined ? undefined : resolve(symbol);
      const decl = target?.declarations?.[0];
      if (
        target !== undefined &&
        decl?.getSourceFile().fileName.startsWith(join(root, 'src')) &&
        !(target.flags & ts.SymbolFlags.TypeParameter) &&
        !exported.has(target)
      ) {
        found.add(`${target.name} (${decl!.getSourceFile().fileName.slice(root.length + 1)})`);
      }
    }
    if (ts.isTypeQueryNode(node)) return; // `typeof X` names a value, whose schema is not the API
    ts.forEachChild(node, visit);
  };
  const isPrivate = (m: ts.Node) =>
    (ts.canHaveModifiers(m) && ts.getModifiers(m)?.some((x) => x.kind === ts.SyntaxKind.PrivateKeyword)) ||
    ((ts.isPropertyDeclaration(m) || ts.isMethodDeclaration(m)) && ts.isPrivateIdentifier(m.name));
  for (const { symbol } of exports) {
    for (const d of symbol.declarations ?? []) {
      if (ts.isFunctionDeclaration(d)) {
        for (const p of d.parameters) if (p.type) visit(p.type);
        if (d.type) visit(d.type);
      } else if (ts.isClassDeclaration(d) || ts.isInterfaceDeclaration(d)) {
        for (const m of d.members as ts.NodeArray<ts.Node>) {
          if (isPrivate(m)) continue;
          if (ts.isMethodDeclaration(m) || ts.isConstructorDeclaration(m) || ts.isMethodSignature(m)) {
            for (const p of m.parameters) if (p.type) visit(p.type);
            if (m.type) visit(m.type);
          } else if (
            (ts.isPropertyDeclaration(m) || ts.isPropertySignature(m) || ts.isGetAccessor(m)) &&
            m.type
          ) {
            visit(m.type);
          }
        }
      } else if (ts.isTypeAliasDeclaration(d)) {
        visit(d.type);
      }
    }
  }
  return [...found].sort();
}

describe('the SDK surface (STYLE.md §14)', () => {
  it('every public export of src/client/index.ts has an @example in its TSDoc', () => {
    expect(exportsWithoutExample()).toEqual([]);
  }, 60_000);

  it('every type a public signature names is exported from src/client/index.ts', () => {
    expect(unexportedTypesInSignatures()).toEqual([]);
  }, 60_000);
});
