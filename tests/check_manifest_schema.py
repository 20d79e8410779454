#!/usr/bin/env python3
"""Validates the golden manifest against golden/manifest.schema.json, then
checks what a JSON Schema cannot say (numberOfTests, tcId order, unique ids,
flags named in notes).

Python's standard library has no JSON Schema validator, so this file holds a
small one for the subset of draft 2020-12 the schema uses; a schema keyword
outside that subset is an error, never silently ignored.

usage: check_manifest_schema.py SCHEMA MANIFEST
       check_manifest_schema.py --self-test SCHEMA MANIFEST
The self-test writes broken copies of MANIFEST into a temporary folder and
fails unless every one of them is rejected (and MANIFEST itself accepted).
"""
import copy
import json
import os
import re
import sys
import tempfile

# Keywords that only annotate.
ANNOTATIONS = {"$schema", "$id", "$defs", "$comment", "title", "description"}
SUPPORTED = ANNOTATIONS | {
    "$ref", "type", "const", "enum", "required", "properties", "additionalProperties", "items",
    "minItems", "maxItems", "uniqueItems", "minLength", "pattern", "minimum", "maximum",
    "allOf", "anyOf", "oneOf", "not", "if", "then", "else"}


def type_of(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


def same(a, b):
    """JSON equality: true is not 1, key order does not matter."""
    if type_of(a) != type_of(b) and not {type_of(a), type_of(b)} <= {"integer", "number"}:
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


class Validator:
    def __init__(self, root):
        self.root = root
        self.check_keywords(root, "#")

    def check_keywords(self, schema, where):
        if isinstance(schema, bool):
            return
        if not isinstance(schema, dict):
            raise ValueError(f"{where}: a schema must be an object or a boolean")
        unknown = set(schema) - SUPPORTED
        if unknown:
            raise ValueError(f"{where}: unsupported keywords {sorted(unknown)}")
        for k in ("items", "additionalProperties", "not", "if", "then", "else"):
            if k in schema:
                self.check_keywords(schema[k], f"{where}/{k}")
        for k in ("properties", "$defs"):
            for name, sub in schema.get(k, {}).items():
                self.check_keywords(sub, f"{where}/{k}/{name}")
        for k in ("allOf", "anyOf", "oneOf"):
            for i, sub in enumerate(schema.get(k, [])):
                self.check_keywords(sub, f"{where}/{k}/{i}")

    def resolve(self, ref):
        if not ref.startswith("#/"):
            raise ValueError(f"only local $ref is supported: {ref}")
        node = self.root
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def errors(self, schema, v, path="$"):
        """Every way `v` fails `schema`, as "path: reason" strings."""
        if schema is True:
            return []
        if schema is False:
            return [f"{path}: not allowed"]
        out = []
        if "$ref" in schema:
            out += self.errors(self.resolve(schema["$ref"]), v, path)
        t = type_of(v)
        if "type" in schema:
            allowed = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
            ok = t in allowed or (t == "integer" and "number" in allowed)
            if not ok:
                return out + [f"{path}: is {t}, expected {' or '.join(allowed)}"]
        if "const" in schema and not same(schema["const"], v):
            out.append(f"{path}: must be {json.dumps(schema['const'])}")
        if "enum" in schema and not any(same(e, v) for e in schema["enum"]):
            out.append(f"{path}: {json.dumps(v)[:60]} is not one of {json.dumps(schema['enum'])[:120]}")
        if t in ("integer", "number"):
            if "minimum" in schema and v < schema["minimum"]:
                out.append(f"{path}: {v} is below {schema['minimum']}")
            if "maximum" in schema and v > schema["maximum"]:
                out.append(f"{path}: {v} is above {schema['maximum']}")
        if t == "string":
            if "minLength" in schema and len(v) < schema["minLength"]:
                out.append(f"{path}: shorter than {schema['minLength']}")
            if "pattern" in schema and not re.search(schema["pattern"], v):
                out.append(f"{path}: {v!r} does not match {schema['pattern']}")
        if t == "array":
            if "minItems" in schema and len(v) < schema["minItems"]:
                out.append(f"{path}: fewer than {schema['minItems']} items")
            if "maxItems" in schema and len(v) > schema["maxItems"]:
                out.append(f"{path}: more than {schema['maxItems']} items")
            if schema.get("uniqueItems"):
                for i in range(len(v)):
                    if any(same(v[i], v[j]) for j in range(i)):
                        out.append(f"{path}[{i}]: repeats an earlier item")
            if "items" in schema:
                for i, item in enumerate(v):
                    out += self.errors(schema["items"], item, f"{path}[{i}]")
        if t == "object":
            for name in schema.get("required", []):
                if name not in v:
                    out.append(f"{path}: lacks {name!r}")
            props = schema.get("properties", {})
            for name, item in v.items():
                if name in props:
                    out += self.errors(props[name], item, f"{path}.{name}")
                elif "additionalProperties" in schema:
                    out += self.errors(schema["additionalProperties"], item, f"{path}.{name}")
        for sub in schema.get("allOf", []):
            out += self.errors(sub, v, path)
        if "anyOf" in schema and not any(not self.errors(s, v, path) for s in schema["anyOf"]):
            out.append(f"{path}: matches none of anyOf")
        if "oneOf" in schema:
            n = sum(1 for s in schema["oneOf"] if not self.errors(s, v, path))
            if n != 1:
                out.append(f"{path}: matches {n} of oneOf's {len(schema['oneOf'])} branches, not exactly one")
        if "not" in schema and not self.errors(schema["not"], v, path):
            out.append(f"{path}: matches what 'not' forbids")
        if "if" in schema:
            branch = "then" if not self.errors(schema["if"], v, path) else "else"
            if branch in schema:
                out += self.errors(schema[branch], v, path)
        return out


def semantic_errors(m):
    """What the schema cannot express."""
    out = []
    tests = [t for g in m.get("testGroups", []) for t in g.get("tests", [])]
    if m.get("numberOfTests") != len(tests):
        out.append(f"numberOfTests is {m.get('numberOfTests')}, the groups hold {len(tests)} cases")
    ids = [t.get("tcId") for t in tests]
    if ids != list(range(1, len(tests) + 1)):
        out.append("tcId is not 1, 2, 3, ... in order")
    names = [t.get("id") for t in tests]
    if len(set(names)) != len(names):
        out.append("duplicate case ids")
    notes = m.get("notes", {})
    for t in tests:
        for f in t.get("flags", []):
            if f not in notes:
                out.append(f"{t.get('id')}: flag {f} is not described in notes")
    for g in m.get("testGroups", []):
        for t in g.get("tests", []):
            if g.get("kind") != "errors" and (t.get("kind") != g.get("kind") or t.get("result") != "valid"):
                out.append(f"{t.get('id')}: a {g.get('kind')} group holds only valid {g.get('kind')} cases")
            if g.get("kind") == "errors" and t.get("result") != "invalid":
                out.append(f"{t.get('id')}: the errors group holds only invalid cases")
    return out


def check(schema_path, manifest_path):
    with open(schema_path, encoding="utf-8") as f:
        validator = Validator(json.load(f))
    try:
        with open(manifest_path, encoding="utf-8") as f:
            manifest = json.load(f)
    except (OSError, ValueError) as e:
        return [f"cannot read {manifest_path}: {e}"]
    return validator.errors(validator.root, manifest) + semantic_errors(manifest)


def first(m, kind, pred=lambda t: True):
    """The first case of `kind` in `m` for which pred holds."""
    for g in m["testGroups"]:
        for t in g["tests"]:
            if t["kind"] == kind and pred(t):
                return t
    raise AssertionError(f"no {kind} case to break")


# (name, change): each change breaks a copy of the manifest in place, and the
# broken copy must be rejected.
MUTATIONS = [
    ("wrong schema id", lambda m: m.update(schema="lmcache-kit/golden-manifest/v2")),
    ("old objectForm", lambda m: m.update(objectForm="../shared/spec/wire-json.md")),
    ("missing protocol", lambda m: m.pop("protocol")),
    ("extra top-level field", lambda m: m.update(extra=1)),
    ("numberOfTests off by one", lambda m: m.update(numberOfTests=m["numberOfTests"] + 1)),
    ("bad sha256", lambda m: first(m, "client").update(sha256="00")),
    ("valid case without file", lambda m: first(m, "server").pop("file")),
    ("shape of 3", lambda m: first(m, "client")["object"].update(shape=[1, 2, 3])),
    ("int32 overflow in a valid case", lambda m: first(m, "server")["object"].update(length=2**31)),
    ("string for an integer", lambda m: first(m, "metadata")["object"].update(fmt="1")),
    ("boolean for an integer", lambda m: first(m, "metadata")["object"].update(fmt=True)),
    ("unknown result", lambda m: first(m, "key").update(result="maybe")),
    ("non-canonical hash", lambda m: first(m, "key")["object"].update(chunk_hash="0x1")),
    ("unknown key dtype", lambda m: first(m, "key")["object"].update(dtype="fp16")),
    ("invalid decode case without direction",
     lambda m: first(m, "client", lambda t: t["result"] == "invalid").pop("direction")),
    ("invalid encode case with a file",
     lambda m: first(m, "client", lambda t: t.get("direction") == "encode").update(
         file="errors/001-x.bin", sha256="0" * 64)),
    ("flag not in notes", lambda m: first(m, "client")["flags"].append("NoSuchFlag")),
    ("repeated flag", lambda m: first(m, "client")["flags"].extend(["SpecVector", "SpecVector"])),
    ("canonicalSha256 without canonicalFile", lambda m: first(m, "client").update(canonicalSha256="0" * 64)),
    ("duplicate tcId", lambda m: first(m, "server").update(tcId=1)),
]


def self_test(schema_path, manifest_path):
    bad = 0
    errs = check(schema_path, manifest_path)
    if errs:
        print(f"FAIL the real manifest is rejected: {errs[:5]}")
        bad += 1
    with open(manifest_path, encoding="utf-8") as f:
        manifest = json.load(f)
    with tempfile.TemporaryDirectory() as tmp:
        broken_text = os.path.join(tmp, "not-json.json")
        with open(broken_text, "w", encoding="utf-8") as f:
            f.write("{\"schema\": ")
        cases = [("truncated JSON", broken_text)]
        for i, (name, change) in enumerate(MUTATIONS):
            m = copy.deepcopy(manifest)
            change(m)
            path = os.path.join(tmp, f"broken-{i:02d}.json")
            with open(path, "w", encoding="utf-8") as f:
                json.dump(m, f, ensure_ascii=False, indent=1)
            cases.append((name, path))
        for name, path in cases:
            errs = check(schema_path, path)
            if errs:
                print(f"rejected as it must be: {name}: {errs[0]}")
            else:
                print(f"FAIL accepted a broken manifest: {name}")
                bad += 1
    print(f"{len(cases) + 1 - bad} passed, {bad} failed")
    return 1 if bad else 0


def main():
    args = sys.argv[1:]
    if args and args[0] == "--self-test":
        return self_test(args[1], args[2])
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    errs = check(args[0], args[1])
    for e in errs[:50]:
        print(f"FAIL {e}")
    print(f"{args[1]}: " + (f"{len(errs)} problems" if errs else "valid against the schema"))
    return 1 if errs else 0


if __name__ == "__main__":
    sys.exit(main())
