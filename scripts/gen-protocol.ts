/**
 * Generates TypeScript codecs from Kafka's JSON message definitions.
 *
 *   bun scripts/gen-protocol.ts <schema-dir> [out-dir]      (out-dir defaults to src/protocol/generated)
 *
 * One file per API key holds the request and response; headers.ts holds the request and response headers;
 * "data" messages get a file each (the consumer protocol's two share consumer-protocol.ts). Readers and
 * writers are straight-line code with version checks, so the hot paths do no lookups at run time.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface FieldSpec {
  name: string;
  type: string;
  versions: string;
  nullableVersions?: string;
  flexibleVersions?: string;
  taggedVersions?: string;
  tag?: number | string;
  default?: string | number | boolean;
  about?: string;
  fields?: FieldSpec[];
}

export interface MessageSpec {
  apiKey?: number;
  type: "request" | "response" | "header" | "data";
  name: string;
  validVersions: string;
  flexibleVersions: string;
  latestVersionUnstable?: boolean;
  fields: FieldSpec[];
  commonStructs?: { name: string; versions: string; fields: FieldSpec[] }[];
}

/** A closed version interval; empty when min > max. */
export interface Range {
  min: number;
  max: number;
}

const MAX_VERSION = 0x7fff;
const EMPTY: Range = { min: 1, max: 0 };

export function parseRange(text: string | undefined): Range {
  if (text === undefined || text === "none") return EMPTY;
  if (text.endsWith("+")) return { min: Number(text.slice(0, -1)), max: MAX_VERSION };
  const dash = text.indexOf("-");
  if (dash > 0) return { min: Number(text.slice(0, dash)), max: Number(text.slice(dash + 1)) };
  return { min: Number(text), max: Number(text) };
}

export const isEmpty = (r: Range): boolean => r.min > r.max;
export const intersect = (a: Range, b: Range): Range => ({ min: Math.max(a.min, b.min), max: Math.min(a.max, b.max) });

/** A JS condition on `v` that holds for the versions of `sub` within `context`. */
function versionCondition(sub: Range, context: Range): string {
  const within = intersect(sub, context);
  if (isEmpty(within)) return "false";
  const parts: string[] = [];
  if (within.min > context.min) parts.push(`v >= ${within.min}`);
  if (within.max < context.max) parts.push(`v <= ${within.max}`);
  return parts.length === 0 ? "true" : parts.join(" && ");
}

/** Strips // comments outside string literals. */
function stripComments(text: string): string {
  let out = "";
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (inString) {
      out += c;
      if (c === "\\") out += text[++i] ?? "";
      else if (c === '"') inString = false;
    } else if (c === '"') {
      inString = true;
      out += c;
    } else if (c === "/" && text[i + 1] === "/") {
      while (i < text.length && text[i] !== "\n") i++;
      out += "\n";
    } else {
      out += c;
    }
  }
  return out;
}

export function camelCase(name: string): string {
  const match = /^[A-Z]+(?=[A-Z][a-z]|$)|^[A-Z]/.exec(name);
  return match ? match[0].toLowerCase() + name.slice(match[0].length) : name;
}

function kebabCase(name: string): string {
  // "KRaft" is one word in file names.
  name = name.replace(/KRaft/g, "Kraft");
  return name
    .replace(/([a-z0-9])([A-Z])/g, "$1-$2")
    .replace(/([A-Z]+)([A-Z][a-z])/g, "$1-$2")
    .toLowerCase();
}

const PRIMITIVES = new Set(["int8", "int16", "uint16", "int32", "uint32", "int64", "float64", "bool", "string", "uuid", "bytes", "records"]);
const NUMERIC_METHOD: Record<string, string> = {
  int8: "Int8",
  int16: "Int16",
  uint16: "UInt16",
  int32: "Int32",
  uint32: "UInt32",
  int64: "Int64",
  float64: "Float64",
  bool: "Bool",
  uuid: "Uuid",
};

interface StructInfo {
  name: string;
  typeName: string;
  fields: FieldSpec[];
}

/** Code for one message: its interfaces, defaults, readers and writers. */
export class MessageGenerator {
  readonly structs = new Map<string, StructInfo>();
  readonly valid: Range;
  readonly flexible: Range;
  private readonly out: string[] = [];

  constructor(readonly spec: MessageSpec) {
    this.valid = parseRange(spec.validVersions);
    this.flexible = parseRange(spec.flexibleVersions);
    for (const common of spec.commonStructs ?? []) this.register(common.name, common.fields);
    this.register(spec.name, spec.fields);
  }

  private typeNameOf(structName: string): string {
    return structName === this.spec.name || structName.startsWith(this.spec.name) ? structName : this.spec.name + structName;
  }

  private register(name: string, fields: FieldSpec[]): void {
    if (!this.structs.has(name)) this.structs.set(name, { name, typeName: this.typeNameOf(name), fields });
    for (const field of fields) {
      if (field.fields !== undefined) this.register(elementType(field.type), field.fields);
    }
  }

  private struct(name: string): StructInfo {
    const info = this.structs.get(name);
    if (info === undefined) throw new Error(`${this.spec.name}: unknown struct ${name}`);
    return info;
  }

  private isNullableAnywhere(field: FieldSpec): boolean {
    return !isEmpty(intersect(parseRange(field.nullableVersions), intersect(parseRange(field.versions), this.valid)));
  }

  tsType(field: FieldSpec, forElement = false): string {
    const type = forElement ? elementType(field.type) : field.type;
    const nullable = !forElement && this.isNullableAnywhere(field) ? " | null" : "";
    if (!forElement && type.startsWith("[]")) {
      const inner = this.tsType(field, true);
      return `${inner}[]${nullable}`;
    }
    switch (type) {
      case "int8": case "int16": case "uint16": case "int32": case "uint32": case "int64": case "float64":
        return "number";
      case "bool":
        return "boolean";
      case "string": case "uuid":
        return `string${nullable}`;
      case "bytes":
        return `Uint8Array${nullable}`;
      case "records":
        return "RecordsView | null";
      default:
        return `${this.struct(type).typeName}${nullable}`;
    }
  }

  /** The default value expression for a field, per Kafka's rules and the schema's "default". */
  defaultValue(field: FieldSpec): string {
    const given = field.default;
    if (field.type.startsWith("[]")) return given === "null" ? "null" : "[]";
    switch (field.type) {
      case "int8": case "int16": case "uint16": case "int32": case "uint32": case "int64": case "float64":
        return given === undefined || given === "" ? "0" : String(Number(given));
      case "bool":
        return given === true || given === "true" ? "true" : "false";
      case "string":
        return given === "null" ? "null" : JSON.stringify(given ?? "");
      case "uuid":
        return "ZERO_UUID";
      case "bytes":
        return given === "null" ? "null" : "EMPTY_BYTES";
      case "records":
        return "null";
      default:
        return given === "null" ? "null" : `default${this.struct(field.type).typeName}()`;
    }
  }

  /** Read expression for a value of `type`, in the encoding `compact` picks. */
  private readValue(type: string, compact: string, nullable: string): string {
    const pick = (flex: string, classic: string): string =>
      compact === "true" ? flex : compact === "false" ? classic : `(${compact} ? ${flex} : ${classic})`;
    const orNull = (cond: string, yes: string, no: string): string =>
      cond === "true" ? yes : cond === "false" ? no : `(${cond} ? ${yes} : ${no})`;
    switch (type) {
      case "string":
        return orNull(nullable,
          pick("r.readCompactNullableString()", "r.readNullableString()"),
          pick("r.readCompactString()", "r.readString()"));
      case "bytes":
        return orNull(nullable,
          pick("r.readCompactNullableBytes()", "r.readNullableBytes()"),
          pick("r.readCompactBytes()", "r.readBytes()"));
      case "records":
        return `r.readRecords(${compact})`;
      default:
        if (NUMERIC_METHOD[type]) return `r.read${NUMERIC_METHOD[type]}()`;
        {
          const read = `read${this.struct(type).typeName}(r, v)`;
          return orNull(nullable, `(r.readInt8() < 0 ? null : ${read})`, read);
        }
    }
  }

  /** Statements that read `field` into local `target`. */
  private readField(field: FieldSpec, target: string, context: Range, compactOverride?: string): string[] {
    const present = intersect(parseRange(field.versions), context);
    const compact = compactOverride ?? this.compactCondition(field, present);
    const nullable = versionCondition(parseRange(field.nullableVersions), present);
    if (!field.type.startsWith("[]")) return [`${target} = ${this.readValue(field.type, compact, nullable)};`];
    const element = elementType(field.type);
    const elementRead = this.readValue(element, compact, "false");
    const onNull = nullable === "true" ? `${target} = null;`
      : nullable === "false" ? `throw new ProtocolError("null for non-nullable array ${this.spec.name}.${field.name}");`
      : `if (${nullable}) ${target} = null; else throw new ProtocolError("null for non-nullable array ${this.spec.name}.${field.name}");`;
    return [
      "{",
      `  const count = r.readArrayCount(${compact});`,
      `  if (count < 0) { ${onNull} }`,
      "  else {",
      `    const items: ${this.tsType(field, true)}[] = [];`,
      `    for (let i = 0; i < count; i++) items.push(${elementRead});`,
      `    ${target} = items;`,
      "  }",
      "}",
    ];
  }

  private compactCondition(field: FieldSpec, present: Range): string {
    const flexible = field.flexibleVersions !== undefined ? parseRange(field.flexibleVersions) : this.flexible;
    return versionCondition(flexible, present);
  }

  /** Statements that write value expression `value` for `field`. */
  private writeField(field: FieldSpec, value: string, context: Range, compactOverride?: string): string[] {
    const present = intersect(parseRange(field.versions), context);
    const compact = compactOverride ?? this.compactCondition(field, present);
    const nullable = versionCondition(parseRange(field.nullableVersions), present);
    const canBeNull = this.isNullableAnywhere(field) || field.type === "records";
    const lines: string[] = [];
    if (canBeNull && field.type !== "records" && nullable !== "true") {
      const guard = nullable === "false" ? `${value} === null` : `${value} === null && !(${nullable})`;
      lines.push(`if (${guard}) throw new Error(\`${this.spec.name}.${field.name} is not nullable in version \${v}\`);`);
    }
    if (field.type.startsWith("[]")) {
      const element = elementType(field.type);
      const body = [
        `w.writeArrayCount(${value}.length, ${compact});`,
        `for (const item of ${value}) { ${this.writeValue(element, "item", compact, "false", false)} }`,
      ];
      if (canBeNull) lines.push(`if (${value} === null) w.writeArrayCount(-1, ${compact});`, "else {", ...body.map((l) => "  " + l), "}");
      else lines.push(...body);
      return lines;
    }
    lines.push(this.writeValue(field.type, value, compact, nullable, canBeNull));
    return lines;
  }

  private writeValue(type: string, value: string, compact: string, nullable: string, canBeNull: boolean): string {
    const pick = (flex: string, classic: string): string =>
      compact === "true" ? flex : compact === "false" ? classic : `if (${compact}) ${flex} else ${classic}`;
    const nullableMethods = canBeNull && nullable !== "false";
    switch (type) {
      case "string":
        return nullableMethods
          ? pick(`w.writeCompactNullableString(${value});`, `w.writeNullableString(${value});`)
          : pick(`w.writeCompactString(${value}${canBeNull ? " as string" : ""});`, `w.writeString(${value}${canBeNull ? " as string" : ""});`);
      case "bytes":
        return nullableMethods
          ? pick(`w.writeCompactNullableBytes(${value});`, `w.writeNullableBytes(${value});`)
          : pick(`w.writeCompactBytes(${value}${canBeNull ? " as Uint8Array" : ""});`, `w.writeBytes(${value}${canBeNull ? " as Uint8Array" : ""});`);
      case "records":
        return `w.writeRecords(${value}, ${compact});`;
      default: {
        if (NUMERIC_METHOD[type]) return `w.write${NUMERIC_METHOD[type]}(${value});`;
        const write = `write${this.struct(type).typeName}(w, v, ${value});`;
        if (!nullableMethods) return write;
        return `if (${value} === null) w.writeInt8(-1); else { w.writeInt8(1); ${write} }`;
      }
    }
  }

  /** Expression for `m.x`, or the field's default when the caller left it out. */
  private valueOrDefault(field: FieldSpec, access: string): string {
    const fallback = this.defaultValue(field);
    const defaultExpr = field.type.startsWith("[]") && fallback === "[]" ? "EMPTY_ARRAY"
      : !PRIMITIVES.has(field.type) && !field.type.startsWith("[]") && fallback !== "null" ? "EMPTY_OBJECT"
      : fallback;
    return `(${access} === undefined ? ${defaultExpr} : ${access})`;
  }

  /** Condition under which a tagged field differs from its default and so is written. */
  private differsFromDefault(field: FieldSpec, local: string): string {
    const fallback = this.defaultValue(field);
    if (field.type.startsWith("[]")) return fallback === "null" ? `${local} !== null` : `${local}.length > 0`;
    if (field.type === "bytes") return fallback === "null" ? `${local} !== null` : `(${local} === null || ${local}.length > 0)`;
    if (PRIMITIVES.has(field.type)) return `${local} !== ${fallback}`;
    return fallback === "null" ? `${local} !== null` : `!isDefault${this.struct(field.type).typeName}(${local})`;
  }

  private emitStruct(info: StructInfo): void {
    const { typeName, fields } = info;
    const context = this.valid;
    const live = fields.filter((f) => !isEmpty(intersect(parseRange(f.versions), context)));
    const flexCondition = versionCondition(this.flexible, context);
    // Tagged sections exist only in flexible versions, so their conditions are relative to those.
    const flexContext = intersect(context, this.flexible);

    this.out.push(`export interface ${typeName} {`);
    for (const field of fields) {
      if (field.about) this.out.push(`  /** ${field.about.replace(/\*\//g, "*\\/")} */`);
      this.out.push(`  ${camelCase(field.name)}: ${this.tsType(field)};`);
    }
    this.out.push("}", "");

    this.out.push(`export function default${typeName}(): ${typeName} {`, "  return {");
    for (const field of fields) this.out.push(`    ${camelCase(field.name)}: ${this.defaultValue(field)},`);
    this.out.push("  };", "}", "");

    const untagged = (f: FieldSpec): Range => {
      const present = intersect(parseRange(f.versions), context);
      const tagged = parseRange(f.taggedVersions);
      if (isEmpty(tagged)) return present;
      // Tagged fields stay tagged from their first tagged version on; before it they are ordinary fields.
      return intersect(present, { min: 0, max: tagged.min - 1 });
    };
    const taggedRange = (f: FieldSpec): Range => intersect(intersect(parseRange(f.versions), context), parseRange(f.taggedVersions));
    const taggedFields = live.filter((f) => f.tag !== undefined && !isEmpty(taggedRange(f)))
      .sort((a, b) => Number(a.tag) - Number(b.tag));

    // Reader
    this.out.push(`export function read${typeName}(r: Reader, v: number): ${typeName} {`);
    for (const field of fields) {
      const local = "_" + camelCase(field.name);
      const alwaysRead = versionCondition(untagged(field), context) === "true";
      this.out.push(alwaysRead ? `  let ${local}: ${this.tsType(field)};` : `  let ${local}: ${this.tsType(field)} = ${this.defaultValue(field)};`);
    }
    for (const field of live) {
      const range = untagged(field);
      const cond = versionCondition(range, context);
      if (cond === "false") continue;
      const body = this.readField(field, "_" + camelCase(field.name), range);
      this.emitGuarded(cond, body, "  ");
    }
    if (flexCondition !== "false") {
      const body: string[] = [];
      if (taggedFields.length === 0) {
        body.push("r.skipTaggedFields();");
      } else {
        body.push(
          "const tagCount = r.readUnsignedVarint();",
          "for (let t = 0; t < tagCount; t++) {",
          "  const tag = r.readUnsignedVarint();",
          "  const size = r.readUnsignedVarint();",
          "  const tagEnd = r.pos + size;",
          "  if (size > r.remaining()) throw new ProtocolError(`tagged field ${tag} of ${size} bytes overruns the frame`);",
          "  switch (tag) {",
        );
        for (const field of taggedFields) {
          const range = taggedRange(field);
          const cond = versionCondition(range, flexContext);
          const read = this.readField(field, "_" + camelCase(field.name), range, "true");
          body.push(`    case ${Number(field.tag)}:`);
          if (cond === "true") body.push(...read.map((l) => "      " + l));
          else body.push(`      if (${cond}) {`, ...read.map((l) => "        " + l), "      } else r.pos = tagEnd;");
          body.push("      break;");
        }
        body.push(
          "    default:",
          "      r.pos = tagEnd;",
          "  }",
          "  if (r.pos !== tagEnd) throw new ProtocolError(`tagged field ${tag} did not match its size`);",
          "}",
        );
      }
      this.emitGuarded(flexCondition, body, "  ");
    }
    this.out.push("  return {");
    for (const field of fields) this.out.push(`    ${camelCase(field.name)}: _${camelCase(field.name)},`);
    this.out.push("  };", "}", "");

    // Writer
    this.out.push(`export function write${typeName}(w: Writer, v: number, m: Encodable<${typeName}>): void {`);
    for (const field of live) {
      const range = untagged(field);
      const cond = versionCondition(range, context);
      if (cond === "false") continue;
      const body = [
        `const value = ${this.valueOrDefault(field, "m." + camelCase(field.name))};`,
        ...this.writeField(field, "value", range),
      ];
      this.emitGuarded(cond, ["{", ...body.map((l) => "  " + l), "}"], "  ", true);
    }
    if (flexCondition !== "false") {
      const body: string[] = [];
      if (taggedFields.length === 0) {
        body.push("w.writeUnsignedVarint(0);");
      } else {
        body.push("let tagCount = 0;");
        taggedFields.forEach((field, i) => {
          const cond = versionCondition(taggedRange(field), flexContext);
          body.push(`const tagged${i} = ${this.valueOrDefault(field, "m." + camelCase(field.name))};`);
          const differs = this.differsFromDefault(field, `tagged${i}`);
          body.push(`const write${i} = ${cond === "true" ? "" : `(${cond}) && `}${differs};`, `if (write${i}) tagCount++;`);
        });
        body.push("w.writeUnsignedVarint(tagCount);");
        taggedFields.forEach((field, i) => {
          body.push(
            `if (write${i}) {`,
            "  const tw = new Writer(64);",
            ...this.writeField(field, `tagged${i}`, taggedRange(field), "true").map((l) => "  " + l.replace(/\bw\./g, "tw.").replace(/\(w, v,/g, "(tw, v,")),
            `  w.writeTaggedField(${Number(field.tag)}, tw);`,
            "}",
          );
        });
      }
      this.emitGuarded(flexCondition, body, "  ");
    }
    this.out.push("}", "");
  }

  private emitGuarded(cond: string, body: string[], indent: string, bodyIsBlock = false): void {
    if (cond === "true") {
      this.out.push(...body.map((l) => indent + l));
      return;
    }
    if (bodyIsBlock) {
      this.out.push(`${indent}if (${cond}) ${body[0]}`, ...body.slice(1).map((l) => indent + l));
      return;
    }
    this.out.push(`${indent}if (${cond}) {`, ...body.map((l) => indent + "  " + l), `${indent}}`);
  }

  generate(): string {
    this.out.length = 0;
    // Nested structs first would read better, but any order compiles: functions are hoisted.
    const ordered = [...this.structs.values()].reverse();
    for (const info of ordered) this.emitStruct(info);
    for (const info of this.structsCheckedForDefault()) this.emitIsDefault(info);
    return this.out.join("\n");
  }

  /** Structs held by tagged fields, and the structs inside them: a tagged struct is written only when not default. */
  private structsCheckedForDefault(): StructInfo[] {
    const found = new Map<string, StructInfo>();
    const add = (name: string): void => {
      if (found.has(name)) return;
      const info = this.struct(name);
      found.set(name, info);
      for (const field of info.fields) {
        const type = elementType(field.type);
        if (!PRIMITIVES.has(type) && !field.type.startsWith("[]")) add(type);
      }
    };
    for (const info of this.structs.values()) {
      for (const field of info.fields) {
        if (field.tag !== undefined && !field.type.startsWith("[]") && !PRIMITIVES.has(field.type)) add(field.type);
      }
    }
    return [...found.values()];
  }

  private emitIsDefault(info: StructInfo): void {
    const checks = info.fields.map((field) => {
      const access = `m.${camelCase(field.name)}`;
      const fallback = this.defaultValue(field);
      let equal: string;
      if (fallback === "null") equal = `${access} === null`;
      else if (field.type.startsWith("[]") || field.type === "bytes") equal = `(${access} !== null && ${access}.length === 0)`;
      else if (PRIMITIVES.has(field.type)) equal = `${access} === ${fallback}`;
      else equal = `(${access} !== null && isDefault${this.struct(field.type).typeName}(${access}))`;
      return `(${access} === undefined || ${equal})`;
    });
    this.out.push(
      `function isDefault${info.typeName}(m: Encodable<${info.typeName}>): boolean {`,
      `  return ${checks.length === 0 ? "true" : checks.join(" &&\n    ")};`,
      "}",
      "",
    );
  }
}

export function elementType(type: string): string {
  return type.startsWith("[]") ? type.slice(2) : type;
}

function fileHeader(specs: MessageSpec[], body: string): string {
  const needs = (word: string): boolean => new RegExp(`\\b${word}\\b`).test(body);
  const readerImports = ["ProtocolError", "Reader", "ZERO_UUID"].filter(needs);
  const lines = [
    `// Generated by scripts/gen-protocol.ts from ${specs.map((s) => s.name + ".json").join(", ")}. Do not edit.`,
    "/* eslint-disable */",
  ];
  const typeImports = ["Encodable", "RecordsView"].filter(needs);
  if (typeImports.length > 0) lines.push(`import type { ${typeImports.join(", ")} } from "../encodable.ts";`);
  lines.push(`import { ${readerImports.join(", ")} } from "../reader.ts";`);
  lines.push(`import { Writer } from "../writer.ts";`, "");
  if (needs("EMPTY_BYTES")) lines.push("const EMPTY_BYTES = new Uint8Array(0);");
  if (needs("EMPTY_ARRAY")) lines.push("const EMPTY_ARRAY: readonly never[] = [];");
  if (needs("EMPTY_OBJECT")) lines.push("const EMPTY_OBJECT = {};");
  lines.push("");
  return lines.join("\n");
}

function generateFile(specs: MessageSpec[]): string {
  const body = specs.map((spec) => new MessageGenerator(spec).generate()).join("\n");
  return fileHeader(specs, body) + body;
}

interface ApiEntry {
  apiKey: number;
  name: string;
  file: string;
  request: MessageGenerator;
  response: MessageGenerator;
}

function generateIndex(apis: ApiEntry[], others: { file: string }[]): string {
  const lines = [
    "// Generated by scripts/gen-protocol.ts. Do not edit.",
    'import type { Reader } from "../reader.ts";',
    'import type { Writer } from "../writer.ts";',
  ];
  for (const api of apis) {
    const req = api.request.spec.name;
    const res = api.response.spec.name;
    lines.push(`import { read${req}, write${req}, read${res}, write${res} } from "./${api.file}";`);
  }
  lines.push(`export { readRequestHeader, writeRequestHeader, readResponseHeader, writeResponseHeader } from "./headers.ts";`);
  for (const api of apis) lines.push(`export * from "./${api.file}";`);
  for (const other of others) lines.push(`export * from "./${other.file}";`);
  lines.push("", "export const ApiKey = {");
  for (const api of apis) lines.push(`  ${api.name}: ${api.apiKey},`);
  lines.push("} as const;", "");
  lines.push(
    "export interface ApiSchema {",
    "  apiKey: number;",
    "  name: string;",
    "  minVersion: number;",
    "  maxVersion: number;",
    "  /** First flexible version, -1 if the API has none. */",
    "  flexibleMinVersion: number;",
    "  /** The newest version is still under development in Kafka (latestVersionUnstable). */",
    "  latestVersionUnstable: boolean;",
    "  readRequest(r: Reader, version: number): unknown;",
    "  writeRequest(w: Writer, version: number, m: unknown): void;",
    "  readResponse(r: Reader, version: number): unknown;",
    "  writeResponse(w: Writer, version: number, m: unknown): void;",
    "  requestHeaderVersion(version: number): number;",
    "  responseHeaderVersion(version: number): number;",
    "}",
    "",
    "export const API_SCHEMAS: ReadonlyMap<number, ApiSchema> = new Map<number, ApiSchema>([",
  );
  for (const api of apis) {
    const req = api.request.spec.name;
    const res = api.response.spec.name;
    const flexMin = isEmpty(intersect(api.request.flexible, api.request.valid)) ? -1 : Math.max(api.request.flexible.min, api.request.valid.min);
    const resFlexMin = isEmpty(intersect(api.response.flexible, api.response.valid)) ? -1 : Math.max(api.response.flexible.min, api.response.valid.min);
    const flexibleCheck = (min: number): string => (min < 0 ? "false" : `version >= ${min}`);
    // ControlledShutdown v0 predates the client id; ApiVersions responses keep header v0 so any client can read them.
    const requestHeader = api.apiKey === 7
      ? `version === 0 ? 0 : ${flexibleCheck(flexMin)} ? 2 : 1`
      : `${flexibleCheck(flexMin)} ? 2 : 1`;
    const responseHeader = api.apiKey === 18 ? "0" : `${flexibleCheck(resFlexMin)} ? 1 : 0`;
    lines.push(
      `  [${api.apiKey}, {`,
      `    apiKey: ${api.apiKey},`,
      `    name: ${JSON.stringify(api.name)},`,
      `    minVersion: ${api.request.valid.min},`,
      `    maxVersion: ${api.request.valid.max},`,
      `    flexibleMinVersion: ${flexMin},`,
      `    latestVersionUnstable: ${api.request.spec.latestVersionUnstable === true},`,
      `    readRequest: read${req},`,
      `    writeRequest: write${req} as ApiSchema["writeRequest"],`,
      `    readResponse: read${res},`,
      `    writeResponse: write${res} as ApiSchema["writeResponse"],`,
      `    requestHeaderVersion: (version: number): number => (${requestHeader}),`,
      `    responseHeaderVersion: (${api.apiKey === 18 ? "_version" : "version"}: number): number => ${responseHeader === "0" ? "0" : `(${responseHeader})`},`,
      "  }],",
    );
  }
  lines.push("]);", "");
  return lines.join("\n");
}

export function loadSpecs(schemaDir: string): MessageSpec[] {
  return readdirSync(schemaDir)
    .filter((f) => f.endsWith(".json"))
    .sort()
    .map((f) => JSON.parse(stripComments(readFileSync(join(schemaDir, f), "utf8"))) as MessageSpec);
}

/** Every generated file, by name, for the schemas in `schemaDir`. */
export function generate(schemaDir: string): Map<string, string> {
  const specs = loadSpecs(schemaDir);
  const files = new Map<string, string>();
  const byKey = new Map<number, { request?: MessageSpec; response?: MessageSpec }>();
  const dataGroups = new Map<string, MessageSpec[]>();
  const headers: MessageSpec[] = [];
  for (const spec of specs) {
    if (spec.type === "request" || spec.type === "response") {
      const entry = byKey.get(spec.apiKey!) ?? {};
      entry[spec.type] = spec;
      byKey.set(spec.apiKey!, entry);
    } else if (spec.type === "header") {
      headers.push(spec);
    } else {
      const group = spec.name.startsWith("ConsumerProtocol") ? "consumer-protocol" : kebabCase(spec.name);
      dataGroups.set(group, [...(dataGroups.get(group) ?? []), spec]);
    }
  }
  const apis: ApiEntry[] = [];
  for (const [apiKey, entry] of [...byKey].sort((a, b) => a[0] - b[0])) {
    if (!entry.request || !entry.response) throw new Error(`api key ${apiKey} lacks a request or a response`);
    const name = entry.request.name.replace(/Request$/, "");
    const file = `${String(apiKey).padStart(2, "0")}-${kebabCase(name)}.ts`;
    files.set(file, generateFile([entry.request, entry.response]));
    apis.push({ apiKey, name, file, request: new MessageGenerator(entry.request), response: new MessageGenerator(entry.response) });
  }
  files.set("headers.ts", generateFile(headers));
  const others: { file: string }[] = [];
  for (const [group, groupSpecs] of [...dataGroups].sort()) {
    files.set(`${group}.ts`, generateFile(groupSpecs));
    others.push({ file: `${group}.ts` });
  }
  files.set("index.ts", generateIndex(apis, others));
  return files;
}

if (import.meta.main) {
  const [schemaDir, outDir = "src/protocol/generated"] = process.argv.slice(2);
  if (!schemaDir) {
    process.stderr.write("usage: bun scripts/gen-protocol.ts <schema-dir> [out-dir]\n");
    process.exit(2);
  }
  const files = generate(schemaDir);
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  for (const [name, text] of files) writeFileSync(join(outDir, name), text);
  process.stdout.write(`wrote ${files.size} files to ${outDir}\n`);
}
