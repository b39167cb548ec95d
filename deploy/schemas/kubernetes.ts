/**
 * Strict JSON Schemas of Kubernetes API objects for one pinned Kubernetes version, read from the
 * `kubernetes-types` package (its declarations are generated from that version's OpenAPI document;
 * the version is the package's, pinned exactly in deploy/package.json). Every object schema forbids
 * unknown properties and requires what the API requires, as the "-strict" schemas kubeconform uses do.
 *
 * The declarations are read with the TypeScript compiler, so nothing is copied by hand: a field the
 * API lacks, or a value of the wrong type, fails validation.
 */
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import ts from 'typescript';

export type JsonSchema = Record<string, unknown>;

const packageDir = dirname(createRequire(import.meta.url).resolve('kubernetes-types/package.json'));

/** The Kubernetes version the schemas describe. */
export const kubernetesVersion: string = (createRequire(import.meta.url)('kubernetes-types/package.json') as { version: string }).version;

/** The declaration file of an API version: `apps/v1` → apps/v1.d.ts, `v1` (core) → core/v1.d.ts, `networking.k8s.io/v1` → networking/v1.d.ts. */
export function declarationFile(apiVersion: string): string {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') as [string, string] : ['core', apiVersion];
  return join(packageDir, group.split('.')[0]!, `${version}.d.ts`);
}

export class KubernetesSchemas {
  readonly #checker: ts.TypeChecker;
  readonly #program: ts.Program;
  readonly definitions: Record<string, JsonSchema> = {};

  constructor(apiVersions: readonly string[]) {
    this.#program = ts.createProgram([...new Set(apiVersions.map(declarationFile))], { noEmit: true, strict: true, types: [] });
    this.#checker = this.#program.getTypeChecker();
  }

  /**
   * Adds the schema of `kind` in `apiVersion` to `definitions` (apiVersion, kind and metadata
   * required, the first two fixed) and returns its name there.
   */
  defineKind(apiVersion: string, kind: string): string {
    const file = this.#program.getSourceFile(declarationFile(apiVersion));
    const module = file && this.#checker.getSymbolAtLocation(file);
    const symbol = module && this.#checker.getExportsOfModule(module).find((s) => s.name === kind);
    if (!symbol) throw new Error(`Kubernetes ${kubernetesVersion} has no ${kind} in ${apiVersion}`);
    const name = `${apiVersion.replace(/[./]/g, '_')}_${kind}`;
    this.definitions[name] = {
      type: 'object',
      allOf: [this.#schemaOf(this.#checker.getDeclaredTypeOfSymbol(symbol))],
      required: ['apiVersion', 'kind', 'metadata'],
      properties: { apiVersion: { const: apiVersion }, kind: { const: kind }, metadata: { type: 'object' } },
    };
    return name;
  }

  /** One schema document holding every definition, for `ajv.addSchema(document, id)`. */
  document(): JsonSchema {
    return { $schema: 'http://json-schema.org/draft-07/schema#', definitions: this.definitions };
  }

  #schemaOf(type: ts.Type): JsonSchema {
    const checker = this.#checker;
    if (type.flags & (ts.TypeFlags.Any | ts.TypeFlags.Unknown)) return {};
    if (type.flags & ts.TypeFlags.StringLiteral) return { const: (type as ts.StringLiteralType).value };
    if (type.flags & ts.TypeFlags.String) return { type: 'string' };
    if (type.flags & ts.TypeFlags.Number) return { type: 'number' };
    if (type.flags & (ts.TypeFlags.Boolean | ts.TypeFlags.BooleanLiteral)) return { type: 'boolean' };
    if (type.isUnion()) {
      const members = type.types.filter((t) => !(t.flags & ts.TypeFlags.Undefined));
      if (members.every((t) => t.flags & ts.TypeFlags.BooleanLiteral)) return { type: 'boolean' };
      return { anyOf: members.map((t) => this.#schemaOf(t)) };
    }
    if (checker.isArrayType(type)) return { type: 'array', items: this.#schemaOf(checker.getTypeArguments(type as ts.TypeReference)[0]!) };
    const indexed = checker.getIndexInfoOfType(type, ts.IndexKind.String);
    if (indexed) return { type: 'object', additionalProperties: this.#schemaOf(indexed.type) };
    const declaration = type.getSymbol()?.declarations?.[0];
    if (!declaration || !ts.isInterfaceDeclaration(declaration)) throw new Error(`cannot describe the type ${checker.typeToString(type)} as JSON Schema`);
    const name = this.#definitionName(declaration);
    if (!(name in this.definitions)) {
      const properties = checker.getPropertiesOfType(type);
      // An interface without members (RawExtension, FieldsV1) stands for arbitrary JSON.
      this.definitions[name] = {};
      if (properties.length > 0) {
        this.definitions[name] = {
          type: 'object',
          properties: Object.fromEntries(properties.map((p) => [p.name, this.#schemaOf(checker.getTypeOfSymbol(p))])),
          required: properties.filter((p) => !(p.flags & ts.SymbolFlags.Optional)).map((p) => p.name),
          additionalProperties: false,
        };
      }
    }
    return { $ref: `#/definitions/${name}` };
  }

  /** `io.k8s.core.v1.PodSpec`-like names, unique across API groups (autoscaling/v1 and v2 share type names). */
  #definitionName(declaration: ts.InterfaceDeclaration): string {
    const file = relative(packageDir, declaration.getSourceFile().fileName).replace(/\.d\.ts$/, '');
    return `${file.split(/[\\/]/).join('.')}.${declaration.name.text}`;
  }
}
