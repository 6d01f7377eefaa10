"""Drift check of api/openapi.yaml against the real server (stdlib only).

usage: openapi_check.py MICRORM_BINARY

1. Static: api/openapi.yaml parses (a small loader for the YAML subset the
   file declares at its top; cross-checked against PyYAML when present), every
   $ref resolves, every schema keyword is one the validator below implements;
   the route table of api/routes.c (method, path, public, takes a body) equals
   the spec's operations; every (status, error code) that api/ and server/
   can answer is documented, and every documented code is answered somewhere.
2. Live: starts `microrm serve` (tests/e2e/harness.py), drives every operation
   and every documented status that can be provoked from outside, and checks
   each answer's status, headers, content type and body against the spec;
   requests the server accepted must also satisfy the spec's request schemas.
   Every documented (operation, status) must have been seen, except the few
   listed in NOT_DRIVEN with the reason.
3. Mutation: the recorded answers are re-checked against deliberately broken
   copies of the spec, each of which must fail; so this check cannot pass
   vacuously.
"""
import copy
import glob
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import DEMO_MODEL, SOURCE_ROOT, Server, b64_f32  # noqa: E402

SPEC_PATH = os.path.join(SOURCE_ROOT, "api", "openapi.yaml")
ROUTES_C = os.path.join(SOURCE_ROOT, "api", "routes.c")
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")

# (METHOD, path template, status) documented but not provoked here, and why.
NOT_DRIVEN = {
    ("POST", "/score", 500): "needs an allocation failure",
    ("POST", "/route/update", 500): "needs an allocation failure",
    ("GET", "/route/{user}", 500): "needs an allocation failure",
    ("DELETE", "/route/{user}", 500): "needs an allocation failure",
    ("GET", "/model", 500): "needs an allocation failure",
}


class Failure(AssertionError):
    pass


def require(cond, msg):
    if not cond:
        raise Failure(msg)


# ---------------------------------------------------------------- YAML subset

class YamlError(ValueError):
    pass


_INT = re.compile(r"^-?(0|[1-9][0-9]*)$")
_FLOAT = re.compile(r"^-?[0-9]+\.[0-9]+$")
_YAML11_WORDS = {"yes", "no", "on", "off", "y", "n", "true", "false", "null", "~"}


def _quoted(s, no):
    """A double-quoted scalar at the start of s: (value, rest of s)."""
    try:
        val, end = json.JSONDecoder().raw_decode(s)
    except ValueError as e:
        raise YamlError("line %d: bad double-quoted string: %s" % (no, e))
    require_str = isinstance(val, str)
    if not require_str:
        raise YamlError("line %d: expected a string" % no)
    return val, s[end:]


def _scalar(s, no):
    if s.startswith('"'):
        val, rest = _quoted(s, no)
        if rest:
            raise YamlError("line %d: text after a quoted string" % no)
        return val
    if s.startswith("["):
        if not s.endswith("]"):
            raise YamlError("line %d: a flow sequence must end on its line" % no)
        inner = s[1:-1].strip()
        if not inner:
            return []
        items, cur, i = [], "", 0
        while i < len(inner):
            c = inner[i]
            if c == '"':
                val, rest = _quoted(inner[i:], no)
                cur += inner[i:len(inner) - len(rest)]
                i = len(inner) - len(rest)
                continue
            if c in "[]{}":
                raise YamlError("line %d: nested flow collections are outside the subset" % no)
            if c == ",":
                items.append(cur.strip())
                cur = ""
            else:
                cur += c
            i += 1
        items.append(cur.strip())
        return [_scalar(x, no) for x in items]
    if s == "{}":
        return {}
    if s in ("true", "false"):
        return s == "true"
    if s in ("null", "~"):
        return None
    if _INT.match(s):
        return int(s)
    if _FLOAT.match(s):
        return float(s)
    if s[0] in "!&*|>%@`{}[],#'?:-" or ": " in s or " #" in s or s.endswith(":") or s.lower() in _YAML11_WORDS:
        raise YamlError("line %d: plain scalar %r is outside the subset: quote it" % (no, s))
    return s


def _split_key(content, no):
    """'key: value' -> (key, value or '')."""
    if content.startswith('"'):
        key, rest = _quoted(content, no)
        if not rest.startswith(":") or (len(rest) > 1 and rest[1] != " "):
            raise YamlError("line %d: expected ': ' after the key" % no)
        return key, rest[1:].strip()
    if content.endswith(":") and ": " not in content:
        key, rest = content[:-1], ""
    elif ": " in content:
        key, rest = content.split(": ", 1)
    else:
        raise YamlError("line %d: expected 'key: value'" % no)
    if not key or key[0] in "!&*|>%@`{}[],#'?-\"" or " #" in key:
        raise YamlError("line %d: key %r is outside the subset" % (no, key))
    return key, rest.strip()


def _is_entry(content):
    if content.startswith('"'):
        try:
            _, end = json.JSONDecoder().raw_decode(content)
        except ValueError:
            return False
        return content[end:].startswith(":")
    if content.startswith("["):
        return False
    return ": " in content or content.endswith(":")


def load_yaml(text):
    lines = []
    for no, raw in enumerate(text.split("\n"), 1):
        if "\t" in raw:
            raise YamlError("line %d: tab" % no)
        body = raw.strip()
        if not body or body.startswith("#"):
            continue
        if body != "---" and body.startswith(("---", "...")):
            raise YamlError("line %d: several documents" % no)
        indent = len(raw) - len(raw.lstrip(" "))
        lines.append([indent, raw[indent:].rstrip(), no])
    if not lines:
        return None
    value, i = _block(lines, 0, lines[0][0])
    if i != len(lines):
        raise YamlError("line %d: unexpected indentation" % lines[i][2])
    return value


def _block(lines, i, indent):
    c = lines[i][1]
    if c == "-" or c.startswith("- "):
        return _seq(lines, i, indent)
    return _map(lines, i, indent)


def _nested(lines, i, indent):
    if i < len(lines) and lines[i][0] > indent:
        return _block(lines, i, lines[i][0])
    return None, i


def _map(lines, i, indent):
    out = {}
    while i < len(lines) and lines[i][0] == indent:
        _, content, no = lines[i]
        if content == "-" or content.startswith("- "):
            raise YamlError("line %d: a sequence item among mapping keys" % no)
        key, rest = _split_key(content, no)
        if key in out:
            raise YamlError("line %d: duplicate key %r" % (no, key))
        i += 1
        if rest:
            out[key] = _scalar(rest, no)
        else:
            out[key], i = _nested(lines, i, indent)
    if i < len(lines) and lines[i][0] > indent:
        raise YamlError("line %d: unexpected indentation" % lines[i][2])
    return out, i


def _seq(lines, i, indent):
    out = []
    while i < len(lines) and lines[i][0] == indent and (lines[i][1] == "-" or lines[i][1].startswith("- ")):
        _, content, no = lines[i]
        rest = content[2:].strip() if content != "-" else ""
        if not rest:
            val, i = _nested(lines, i + 1, indent)
        elif _is_entry(rest):
            # "- key: v" opens a mapping whose keys sit two columns in
            lines[i] = [indent + 2, rest, no]
            val, i = _map(lines, i, indent + 2)
        else:
            val, i = _scalar(rest, no), i + 1
        out.append(val)
    if i < len(lines) and lines[i][0] > indent:
        raise YamlError("line %d: unexpected indentation" % lines[i][2])
    return out, i


# ------------------------------------------------------- JSON Schema (subset)

ANNOTATIONS = {"description", "title", "summary", "example", "examples", "contentEncoding", "format", "default"}
KEYWORDS = {"$ref", "type", "enum", "const", "properties", "required", "additionalProperties", "items",
            "minItems", "maxItems", "minLength", "maxLength", "pattern", "minimum", "maximum",
            "oneOf", "anyOf", "allOf"} | ANNOTATIONS
TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "null": lambda v: v is None,
}


def resolve(spec, ref):
    require(ref.startswith("#/"), "only local $ref are supported: %r" % ref)
    node = spec
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        require(isinstance(node, dict) and part in node, "$ref %r does not resolve" % ref)
        node = node[part]
    return node


def deref(spec, node):
    seen = 0
    while isinstance(node, dict) and "$ref" in node:
        node = resolve(spec, node["$ref"])
        seen += 1
        require(seen < 20, "$ref loop")
    return node


def check_schema_keywords(spec, schema, where):
    """Every keyword is one validate() implements: an unknown one would be ignored silently."""
    if isinstance(schema, bool):
        return
    require(isinstance(schema, dict), "%s: a schema must be an object" % where)
    unknown = set(schema) - KEYWORDS
    require(not unknown, "%s: schema keywords the check does not implement: %s" % (where, sorted(unknown)))
    if "$ref" in schema:
        resolve(spec, schema["$ref"])
    for t in ([schema["type"]] if isinstance(schema.get("type"), str) else schema.get("type", [])):
        require(t in TYPES, "%s: unknown type %r" % (where, t))
    for k, sub in schema.get("properties", {}).items():
        check_schema_keywords(spec, sub, "%s.%s" % (where, k))
    for key in ("items", "additionalProperties"):
        if key in schema:
            check_schema_keywords(spec, schema[key], "%s[%s]" % (where, key))
    for key in ("oneOf", "anyOf", "allOf"):
        for n, sub in enumerate(schema.get(key, [])):
            check_schema_keywords(spec, sub, "%s.%s[%d]" % (where, key, n))


def validate(spec, schema, v, path="$"):
    """Errors (strings) of value v against schema."""
    if schema is True:
        return []
    if schema is False:
        return ["%s: no value is allowed here" % path]
    errs = []
    if "$ref" in schema:
        errs += validate(spec, resolve(spec, schema["$ref"]), v, path)
    if "type" in schema:
        types = [schema["type"]] if isinstance(schema["type"], str) else schema["type"]
        if not any(TYPES[t](v) for t in types):
            return errs + ["%s: expected %s, got %s" % (path, "/".join(types), type(v).__name__)]
    if "const" in schema and not (v == schema["const"] and type(v) is type(schema["const"])):
        errs.append("%s: expected %r, got %r" % (path, schema["const"], v))
    if "enum" in schema and v not in schema["enum"]:
        errs.append("%s: %r is not one of %s" % (path, v, schema["enum"]))
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        if "minimum" in schema and v < schema["minimum"]:
            errs.append("%s: %r < minimum %r" % (path, v, schema["minimum"]))
        if "maximum" in schema and v > schema["maximum"]:
            errs.append("%s: %r > maximum %r" % (path, v, schema["maximum"]))
    if isinstance(v, str):
        if len(v) < schema.get("minLength", 0) or len(v) > schema.get("maxLength", len(v)):
            errs.append("%s: length %d outside [%s, %s]" % (path, len(v), schema.get("minLength"), schema.get("maxLength")))
        if "pattern" in schema and not re.search(schema["pattern"], v):
            errs.append("%s: %r does not match %s" % (path, v, schema["pattern"]))
    if isinstance(v, list):
        if len(v) < schema.get("minItems", 0) or len(v) > schema.get("maxItems", len(v)):
            errs.append("%s: %d items outside [%s, %s]" % (path, len(v), schema.get("minItems"), schema.get("maxItems")))
        if "items" in schema:
            for n, x in enumerate(v):
                errs += validate(spec, schema["items"], x, "%s[%d]" % (path, n))
    if isinstance(v, dict):
        props = schema.get("properties", {})
        for k in schema.get("required", []):
            if k not in v:
                errs.append("%s: missing required %r" % (path, k))
        for k, x in v.items():
            if k in props:
                errs += validate(spec, props[k], x, "%s.%s" % (path, k))
            elif "additionalProperties" in schema:
                errs += validate(spec, schema["additionalProperties"], x, "%s.%s" % (path, k))
    for sub in schema.get("allOf", []):
        errs += validate(spec, sub, v, path)
    if "anyOf" in schema:
        branch = [validate(spec, sub, v, path) for sub in schema["anyOf"]]
        if all(branch):
            errs.append("%s: matches none of anyOf: %s" % (path, branch))
    if "oneOf" in schema:
        branch = [validate(spec, sub, v, path) for sub in schema["oneOf"]]
        ok = sum(1 for b in branch if not b)
        if ok != 1:
            errs.append("%s: matches %d of oneOf (exactly 1 wanted): %s" % (path, ok, branch))
    return errs


# ------------------------------------------------------------ spec lookups

def spec_operations(spec):
    """{(METHOD, template): operation}"""
    ops = {}
    for tpl, item in spec["paths"].items():
        for m in METHODS:
            if m in item:
                ops[(m.upper(), tpl)] = item[m]
    return ops


def match_template(spec, path):
    for tpl in spec["paths"]:
        rx = "^" + re.sub(r"\\\{[^}]*\\\}", "[^/]+", re.escape(tpl)) + "$"
        if re.match(rx, path):
            return tpl
    return None


def documented_statuses(spec):
    out = set()
    for (m, tpl), op in spec_operations(spec).items():
        for st in op["responses"]:
            out.add((m, tpl, int(st)))
    for st in spec.get("x-any-path-responses", {}):
        out.add(("*", "*", int(st)))
    return out


def check_exchange(spec, ex):
    """Errors of one recorded exchange against spec: status documented, headers,
    content type, body; the request body against the request schema when the
    server accepted it."""
    errs = []
    method, path, status = ex["method"], ex["path"].split("?")[0], ex["status"]
    tpl = match_template(spec, path)
    op = spec["paths"][tpl].get(method.lower()) if tpl else None
    where = "%s %s -> %d" % (method, path, status)
    if op is None:
        key = "404" if tpl is None else "405"
        if str(status) != key:
            return ["%s: %s answered %d, the spec says %s" % (where, "unknown path" if tpl is None else "other method", status, key)]
        resp = spec.get("x-any-path-responses", {}).get(key)
        ex["key"] = ("*", "*", status)
    else:
        resp = op["responses"].get(str(status))
        ex["key"] = (method, tpl, status)
    if resp is None:
        return ["%s: status %d is not documented" % (where, status)]
    resp = deref(spec, resp)
    for name, h in resp.get("headers", {}).items():
        h = deref(spec, h)
        val = ex["headers"].get(name.lower())
        if val is None:
            if h.get("required"):
                errs.append("%s: header %s missing" % (where, name))
            continue
        schema = h.get("schema", {})
        if deref(spec, schema).get("type") == "integer":
            if not re.match(r"^-?[0-9]+$", val):
                errs.append("%s: header %s: %r is not an integer" % (where, name, val))
                continue
            val = int(val)
        errs += ["%s: header %s: %s" % (where, name, e) for e in validate(spec, schema, val)]
    content = resp.get("content")
    if not content:
        if ex["body"]:
            errs.append("%s: the spec says no body, got %d bytes" % (where, len(ex["body"])))
        return errs
    ctype = ex["headers"].get("content-type", "")
    norm = lambda t: [p.strip().lower() for p in t.split(";")]  # noqa: E731
    media = None
    for key in content:
        want = norm(key)
        got = norm(ctype)
        if want[0] == got[0] and (len(want) == 1 or want == got):
            media = content[key]
    if media is None:
        return errs + ["%s: content type %r is not one of %s" % (where, ctype, list(content))]
    schema = media.get("schema", {})
    if norm(ctype)[0] == "application/json":
        try:
            body = json.loads(ex["body"])
        except ValueError as e:
            return errs + ["%s: body is not JSON: %s" % (where, e)]
        errs += ["%s: %s" % (where, e) for e in validate(spec, schema, body)]
        codes = resp.get("x-error-codes")
        if codes is not None and isinstance(body, dict) and isinstance(body.get("error"), dict):
            if body["error"].get("code") not in codes:
                errs.append("%s: error code %r is not among this response's %s" % (where, body["error"].get("code"), codes))
    else:
        try:
            text = ex["body"].decode("utf-8")
        except UnicodeDecodeError:
            return errs + ["%s: body is not UTF-8" % where]
        errs += ["%s: %s" % (where, e) for e in validate(spec, schema, text)]
    if 200 <= status < 300 and op is not None and ex.get("request") is not None and "requestBody" in op:
        rb = deref(spec, op["requestBody"])
        rschema = rb["content"]["application/json"]["schema"]
        errs += ["%s: the server accepted a request the spec rejects: %s" % (where, e)
                 for e in validate(spec, rschema, ex["request"])]
    return errs


# ------------------------------------------------------------ static checks

def parse_route_table():
    src = open(ROUTES_C).read()
    table = re.search(r"api_routes\[\]\s*=\s*\{(.*?)\n\};", src, re.S)
    require(table, "api/routes.c: no api_routes[] table found")
    rows = re.findall(r'\{\s*"([A-Z]+)",\s*"([^"]+)",\s*(true|false),\s*(\w+),\s*(true|false),\s*(true|false),\s*"([^"]+)"\s*\}',
                      table.group(1))
    entries = table.group(1).count('{"')
    require(rows and len(rows) == entries, "api/routes.c: parsed %d of %d table rows" % (len(rows), entries))
    return [{"method": m, "path": p, "prefix": pre == "true", "body": b == "true", "public": pub == "true",
             "endpoint": ep} for m, p, pre, _h, b, pub, ep in rows]


def check_routes(spec):
    errs = []
    ops = spec_operations(spec)
    table = parse_route_table()
    in_c = {(r["method"], r["endpoint"]) for r in table}
    for key in sorted(in_c - set(ops)):
        errs.append("api/routes.c serves %s %s; api/openapi.yaml does not document it" % key)
    for key in sorted(set(ops) - in_c):
        errs.append("api/openapi.yaml documents %s %s; api/routes.c does not serve it" % key)
    for r in table:
        op = ops.get((r["method"], r["endpoint"]))
        if op is None:
            continue
        public = op.get("security", spec.get("security")) == []
        if public != r["public"]:
            errs.append("%s %s: public in api/routes.c is %s, the spec says %s" % (r["method"], r["endpoint"], r["public"], public))
        if ("requestBody" in op) != r["body"]:
            errs.append("%s %s: takes a body in api/routes.c: %s; requestBody in the spec: %s"
                        % (r["method"], r["endpoint"], r["body"], "requestBody" in op))
        want_path = re.sub(r"\{[^}]*\}$", "", r["endpoint"]) if r["prefix"] else r["endpoint"]
        if want_path != r["path"]:
            errs.append("%s: the endpoint label %r does not name the path %r" % (r["method"], r["endpoint"], r["path"]))
    return errs


def source_error_codes():
    """(status, code) pairs the C code can answer with."""
    found = set()
    call = re.compile(r'\b(?:api_fail|fail_here|fail_early)\s*\([^;]*?\b([45][0-9][0-9])\s*,\s*"([a-z0-9_]+)"', re.S)
    # update_request.c passes the code of a too long string field as the last argument (status 400)
    string_field = re.compile(r'\bparse_string_field\s*\([^;]*?,\s*"([a-z0-9_]+)"\s*\)', re.S)
    for path in sorted(glob.glob(os.path.join(SOURCE_ROOT, "api", "*.c")) + glob.glob(os.path.join(SOURCE_ROOT, "server", "*.c"))):
        src = open(path).read()
        for st, code in call.findall(src):
            found.add((int(st), code))
        for code in string_field.findall(src):
            found.add((400, code))
    require(len(found) >= 15, "found only %d error codes in api/ and server/: the regexes are stale" % len(found))
    return found


def check_error_codes(spec):
    errs = []
    enum = set(resolve(spec, "#/components/schemas/Error")["properties"]["error"]["properties"]["code"]["enum"])
    by_status = {}
    for (m, tpl, st) in documented_statuses(spec):
        if m == "*":
            resp = spec["x-any-path-responses"][str(st)]
        else:
            resp = spec["paths"][tpl][m.lower()]["responses"][str(st)]
        by_status.setdefault(st, set()).update(deref(spec, resp).get("x-error-codes", []))
    src = source_error_codes()
    for st, code in sorted(src):
        if code not in enum:
            errs.append("code %r (status %d) is answered by the server but not in the Error schema's enum" % (code, st))
        elif code not in by_status.get(st, set()):
            errs.append("code %r is answered with status %d but no documented %d response lists it" % (code, st, st))
    for code in sorted(enum - {c for _, c in src}):
        errs.append("code %r is documented but nothing in api/ or server/ answers it" % code)
    return errs


def check_spec_shape(spec):
    errs = []
    if spec.get("openapi", "").split(".")[:2] != ["3", "1"]:
        errs.append("openapi must be 3.1.x")

    def walk(node, where):
        if isinstance(node, dict):
            if "$ref" in node:
                try:
                    resolve(spec, node["$ref"])
                except Failure as e:
                    errs.append("%s: %s" % (where, e))
            for k, v in node.items():
                walk(v, "%s/%s" % (where, k))
        elif isinstance(node, list):
            for n, v in enumerate(node):
                walk(v, "%s[%d]" % (where, n))
    walk(spec, "#")
    if errs:
        return errs
    for name, s in spec["components"]["schemas"].items():
        try:
            check_schema_keywords(spec, s, "schemas/" + name)
        except Failure as e:
            errs.append(str(e))
    for (m, tpl), op in spec_operations(spec).items():
        for st, resp in op["responses"].items():
            resp = deref(spec, resp)
            if not resp.get("description"):
                errs.append("%s %s %s: no description" % (m, tpl, st))
            for media in resp.get("content", {}).values():
                try:
                    check_schema_keywords(spec, media.get("schema", {}), "%s %s %s" % (m, tpl, st))
                except Failure as e:
                    errs.append(str(e))
            errors = [m for m in resp.get("content", {}).values()
                      if m.get("schema", {}).get("$ref") == "#/components/schemas/Error"]
            if errors and "x-error-codes" not in resp:
                errs.append("%s %s %s: an error response without x-error-codes" % (m, tpl, st))
    schemes = spec["components"].get("securitySchemes", {})
    if schemes.get("bearerAuth", {}).get("scheme") != "bearer":
        errs.append("components.securitySchemes.bearerAuth must be http bearer")
    return errs


def static_errors(spec):
    return check_spec_shape(spec) + check_routes(spec) + check_error_codes(spec)


# ---------------------------------------------------------------- live run

class Driver:
    """Sends requests, records every exchange, fails at once on a spec error."""

    def __init__(self, spec):
        self.spec = spec
        self.exchanges = []

    def call(self, srv, method, path, body=None, expect=200, headers=None, conn=None):
        raw = body if isinstance(body, (str, bytes)) else (json.dumps(body) if body is not None else None)
        status, hdrs, data = srv.request(method, path, body=raw, headers=headers, conn=conn)
        ex = {"method": method, "path": path, "status": status, "headers": hdrs, "body": data,
              "request": body if isinstance(body, dict) else None}
        wanted = expect if isinstance(expect, (set, tuple)) else {expect}
        require(status in wanted, "%s %s: status %d, expected %s: %s" % (method, path, status, sorted(wanted), data[:300]))
        errs = check_exchange(self.spec, ex)
        require(not errs, "\n".join(errs))
        self.exchanges.append(ex)
        return json.loads(data) if data and hdrs.get("content-type", "").startswith("application/json") else data

    def covered(self):
        return {ex["key"] for ex in self.exchanges}


def vec(seed, n):
    x = (seed * 2654435761) % 1000003
    out = []
    for _ in range(n):
        x = (x * 1103515245 + 12345) % 2147483648
        out.append(round(x / 2147483648 * 2 - 1, 6))
    return out


def b64_bf16(v):
    import base64
    raw = b"".join(struct.pack("<f", x)[2:4] for x in v)
    return base64.b64encode(raw).decode()


def drive_main(drv, binary, tmp):
    model = os.path.join(tmp, "model.safetensors")
    shutil.copy(DEMO_MODEL, model)
    srv = Server(binary, "--model", model, "--max_responses", "4", "--max_batch", "2",
                 "--max_body_bytes", "65536", "--drain_timeout_ms", "5000")
    try:
        # keep-alive connection opened now, used while draining at the end
        keep = srv.conn()
        drv.call(srv, "GET", "/healthz", conn=keep)
        drv.call(srv, "GET", "/readyz")
        drv.call(srv, "GET", "/metrics")
        info = drv.call(srv, "GET", "/model")
        d, dc = info["d"], info["dc"]
        ctx, r = vec(1, dc), [vec(10 + i, d) for i in range(3)]

        # /score: arrays, base64, bfloat16, batch; unknown then known user
        ans = drv.call(srv, "POST", "/score", {"user": "ann", "context": ctx, "responses": r,
                                                "pairs": [[0, 1], [2, 0]], "include_heads": True})
        require(ans["user"] == {"id": "ann", "known": False} and len(ans["heads"]) == 3, ans)
        ev_ann = ans["event"]
        drv.call(srv, "POST", "/score", {"context": b64_f32(ctx), "responses": [b64_f32(x) for x in r]})
        drv.call(srv, "POST", "/score", {"context": b64_bf16(ctx), "responses": [b64_bf16(r[0])], "dtype": "bfloat16"})
        ans = drv.call(srv, "POST", "/score", {"batch": [{"context": ctx, "responses": r[:2]},
                                                          {"user": "bob", "context": b64_f32(ctx), "responses": [b64_f32(r[2])],
                                                           "event": "bob-ev-1"}]})
        require(len(ans["results"]) == 2 and ans["results"][1]["event"] == "bob-ev-1", ans)

        # /route/update: direct, event (user from the event), list, idempotent replay
        drv.call(srv, "POST", "/route/update", {"user": "ann", "context": ctx, "chosen": r[0], "rejected": r[1]})
        drv.call(srv, "POST", "/route/update", {"event": ev_ann, "chosen": 2, "rejected": 1, "id": "k-1"})
        again = drv.call(srv, "POST", "/route/update", {"event": ev_ann, "chosen": 2, "rejected": 1, "id": "k-1"})
        require(again["replayed"] is True, again)
        up = drv.call(srv, "POST", "/route/update", {"user": "ann", "dtype": "float32", "feedback": [
            {"event": ev_ann, "chosen": 0, "rejected": 2},
            {"context": b64_f32(ctx), "chosen": b64_f32(r[1]), "rejected": b64_f32(r[0])}]})
        require(isinstance(up["before"], list) and len(up["before"]) == 2 and up["updates"] == 4, up)
        drv.call(srv, "GET", "/route/ann")
        ans = drv.call(srv, "POST", "/score", {"user": "ann", "context": ctx, "responses": r})
        require(ans["user"]["known"] is True and ans["user"]["updates"] == 4, ans)
        drv.call(srv, "DELETE", "/route/ann", expect=204)
        drv.call(srv, "DELETE", "/route/ann", expect=204)
        drv.call(srv, "GET", "/route/ann", expect=404)

        # /score errors
        good = {"context": ctx, "responses": r[:2]}
        drv.call(srv, "POST", "/score", '{"context": [1,', expect=400)
        drv.call(srv, "POST", "/score", dict(good, context=ctx[:-1]), expect=400)
        drv.call(srv, "POST", "/score", dict(good, context="*" + b64_f32(ctx)[1:]), expect=400)
        drv.call(srv, "POST", "/score", dict(good, dtype="float64"), expect=400)
        drv.call(srv, "POST", "/score", {"responses": r}, expect=400)
        drv.call(srv, "POST", "/score", dict(good, responses=[]), expect=422)
        drv.call(srv, "POST", "/score", dict(good, responses=r + r), expect=422)
        drv.call(srv, "POST", "/score", dict(good, pairs=[[0, 5]]), expect=422)
        drv.call(srv, "POST", "/score", {"batch": [good] * 3}, expect=422)
        drv.call(srv, "POST", "/score", dict(good, user="cy", event="shared-ev"))
        drv.call(srv, "POST", "/score", dict(good, user="dee", event="shared-ev"), expect=409)
        drv.call(srv, "POST", "/score", json.dumps(good) + " " * 70000, expect=413)
        drv.call(srv, "POST", "/score", "x=1", headers={"Content-Type": "application/x-www-form-urlencoded"}, expect=415)

        # /route/update errors
        drv.call(srv, "POST", "/route/update", {"context": ctx, "chosen": r[0], "rejected": r[1]}, expect=400)
        drv.call(srv, "POST", "/route/update", {"user": "bad user", "context": ctx, "chosen": r[0], "rejected": r[1]}, expect=400)
        drv.call(srv, "POST", "/route/update", {"user": "u", "id": "x" * 200, "context": ctx, "chosen": r[0], "rejected": r[1]}, expect=400)
        drv.call(srv, "POST", "/route/update", {"event": "no-such-event", "chosen": 0, "rejected": 1}, expect=404)
        drv.call(srv, "POST", "/route/update", {"user": "eve", "event": "bob-ev-1", "chosen": 0, "rejected": 1}, expect=404)
        drv.call(srv, "POST", "/route/update", {"event": "bob-ev-1", "chosen": 0, "rejected": 0}, expect=422)
        drv.call(srv, "POST", "/route/update", {"event": "bob-ev-1", "chosen": 0, "rejected": 7}, expect=422)
        drv.call(srv, "POST", "/route/update", {"user": "u", "feedback": []}, expect=422)
        drv.call(srv, "POST", "/route/update", json.dumps({"user": "u", "context": ctx}) + " " * 70000, expect=413)
        drv.call(srv, "POST", "/route/update", "x", headers={"Content-Type": "text/plain"}, expect=415)

        # /route/{user} errors, unknown paths, other methods
        drv.call(srv, "GET", "/route/bad%20user", expect=400)
        drv.call(srv, "DELETE", "/route/" + "u" * 129, expect=400)
        drv.call(srv, "GET", "/route/nobody", expect=404)
        drv.call(srv, "GET", "/nope", expect=404)
        drv.call(srv, "GET", "/route/a/b", expect=404)
        drv.call(srv, "GET", "/score", expect=405)
        drv.call(srv, "PUT", "/route/x", expect=405)
        drv.call(srv, "POST", "/model", "{}", expect=405)
        drv.call(srv, "DELETE", "/healthz", expect=405)

        # an event scored by a model since replaced: 409
        ev = drv.call(srv, "POST", "/score", dict(good, user="fay"))["event"]
        other = os.path.join(tmp, "other.safetensors")
        subprocess.run([binary, "demo-model", "--out", other, "--seed", "5"], check=True, capture_output=True)
        os.replace(other, model)
        srv.signal(signal.SIGHUP)
        require(srv.wait_log(r"reloaded model"), "the reload did not happen:\n" + srv.log())
        drv.call(srv, "POST", "/route/update", {"event": ev, "chosen": 1, "rejected": 0}, expect=409)

        # draining: /readyz is 503 on a connection already open, while a request is in flight
        body = json.dumps(good).encode()
        slow = socket.create_connection(("127.0.0.1", srv.port))
        slow.sendall(b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body) + body[:50])
        wait_in_flight(srv, 1)
        srv.signal(signal.SIGTERM)
        require(srv.wait_log(r"draining"), "no drain:\n" + srv.log())
        ans = drv.call(srv, "GET", "/readyz", expect=503, conn=keep)
        require(ans == {"status": "draining"}, ans)
        keep.close()
        slow.sendall(body[50:])
        reply = b""
        while b"\r\n\r\n" not in reply:
            chunk = slow.recv(65536)
            if not chunk:
                break
            reply += chunk
        slow.close()
        require(reply.startswith(b"HTTP/1.1 200"), reply[:200])
        require(srv.wait(20) == 0, "exit status after drain")
    finally:
        srv.stop()


def drive_auth(drv, binary):
    srv = Server(binary, "--auth_token", "s3cret", "--adapt", "router")
    try:
        ctx, r = vec(2, 64), [vec(20 + i, 64) for i in range(2)]
        body = {"user": "gus", "context": ctx, "chosen": r[0], "rejected": r[1]}
        drv.call(srv, "POST", "/score", {"context": ctx, "responses": r}, expect=401)
        drv.call(srv, "POST", "/route/update", body, expect=401, headers={"Authorization": "Bearer wrong"})
        drv.call(srv, "GET", "/route/gus", expect=401)
        drv.call(srv, "DELETE", "/route/gus", expect=401)
        drv.call(srv, "GET", "/model", expect=401)
        for path in ("/healthz", "/readyz", "/metrics"):
            drv.call(srv, "GET", path)
        auth = {"Authorization": "Bearer s3cret"}
        drv.call(srv, "POST", "/route/update", body, headers=auth)
        state = drv.call(srv, "GET", "/route/gus", headers=auth)
        require(state["mode"] == "router", state)
    finally:
        require(srv.stop() == 0, "auth server exit status")


def wait_in_flight(srv, n, timeout=20):
    """Until the server counts n requests in flight besides the /metrics asking.
    One keep-alive connection asks, so no earlier /metrics request of ours can
    still be finishing on another polling thread and be counted as well; at
    least n are waited for, which is what the callers need."""
    deadline = time.time() + timeout
    seen = None
    conn = srv.conn()
    try:
        while time.time() < deadline:
            m = re.search(rb"(?m)^microrm_http_requests_in_flight (\d+)$",
                          srv.request("GET", "/metrics", conn=conn)[2])
            seen = int(m.group(1)) if m else None
            if seen is not None and seen >= n + 1:
                return
            time.sleep(0.02)
    finally:
        conn.close()
    raise Failure("the server never counted %d request(s) in flight (last seen: %s, with the /metrics asking)"
                  % (n, seen))


def drive_overload(drv, binary):
    """max_in_flight 1 and one request held open: every non-public operation
    sheds with 503 overloaded; probes and /metrics still answer."""
    srv = Server(binary, "--max_in_flight", "1")
    slow = None
    try:
        ctx, r = vec(4, 64), [vec(40 + i, 64) for i in range(2)]
        slow = socket.create_connection(("127.0.0.1", srv.port))
        slow.sendall(b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
        wait_in_flight(srv, 1)
        for path in ("/healthz", "/readyz"):
            drv.call(srv, "GET", path)
        drv.call(srv, "POST", "/score", {"context": ctx, "responses": r}, expect=503)
        drv.call(srv, "POST", "/route/update", {"user": "ida", "context": ctx, "chosen": r[0], "rejected": r[1]}, expect=503)
        drv.call(srv, "GET", "/route/ida", expect=503)
        drv.call(srv, "DELETE", "/route/ida", expect=503)
        drv.call(srv, "GET", "/model", expect=503)
    finally:
        if slow:
            slow.close()
        require(srv.stop() == 0, "overload server exit status")


def drive_store_down(drv, binary):
    """With a Redis store on a dead port: readiness and writes answer 503."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    try:
        srv = Server(binary, "--store", "redis://127.0.0.1:%d/0" % port)
    except RuntimeError as e:
        print("store-down case not run: the server does not start with an unreachable Redis store (%s)"
              % str(e).strip().splitlines()[-1][:160])
        return
    try:
        ctx, r = vec(3, 64), [vec(30 + i, 64) for i in range(2)]
        drv.call(srv, "GET", "/readyz", expect=503)
        drv.call(srv, "POST", "/route/update", {"user": "hal", "context": ctx, "chosen": r[0], "rejected": r[1]}, expect=503)
        drv.call(srv, "GET", "/route/hal", expect=(404, 503))
        drv.call(srv, "DELETE", "/route/hal", expect=503)
        drv.call(srv, "POST", "/score", {"context": ctx, "responses": r})
        drv.call(srv, "POST", "/score", {"user": "hal", "context": ctx, "responses": r}, expect=(200, 503))
    finally:
        srv.stop()


# ------------------------------------------------------------- mutations

def mutations(spec):
    """(name, broken spec, 'static' | 'live') — each must be caught."""
    def m(name, kind, fn):
        s = copy.deepcopy(spec)
        fn(s)
        return name, s, kind
    sch = lambda s, n: s["components"]["schemas"][n]  # noqa: E731
    return [
        m("score answer loses 'event'", "live", lambda s: sch(s, "ScoreAnswer")["properties"].pop("event")),
        m("update version typed string", "live", lambda s: sch(s, "UpdateAnswer")["properties"]["version"].update(type="string")),
        m("422 of /score undocumented", "live", lambda s: s["paths"]["/score"]["post"]["responses"].pop("422")),
        m("error field not allowed", "live", lambda s: sch(s, "Error")["properties"]["error"]["properties"].pop("field")),
        m("X-Compute-Time typed string with a letter", "live",
          lambda s: s["components"]["headers"]["X-Compute-Time"].update(schema={"type": "string", "pattern": "[a-z]"})),
        m("a required answer header that is never sent", "live",
          lambda s: s["components"]["headers"]["X-Compute-Time"].update(required=True) or
          s["components"]["responses"]["BadRequest"]["headers"].update(ETag={"required": True, "schema": {"type": "string"}})),
        m("metrics as JSON", "live", lambda s: s["paths"]["/metrics"]["get"]["responses"]["200"].update(
            content={"application/json": {"schema": {"type": "object"}}})),
        m("readiness enum without draining", "live", lambda s: sch(s, "Readiness")["properties"]["status"].update(enum=["ready", "starting"])),
        m("ScoreUser known-branch requires a field never sent", "live",
          lambda s: sch(s, "ScoreUser")["oneOf"][0]["required"].append("since")),
        m("request schema stricter than the server", "live", lambda s: sch(s, "ScoreRequest")["properties"]["context"].update(type="array")),
        m("bad_pair not a 422 code", "live", lambda s: s["components"]["responses"]["ScoreUnprocessable"].update(
            **{"x-error-codes": ["empty", "too_many"]})),
        m("delete answers a body", "live", lambda s: s["paths"]["/route/{user}"]["delete"]["responses"]["204"].update(
            content={"application/json": {"schema": {"type": "object"}}})),
        m("/readyz not documented", "static", lambda s: s["paths"].pop("/readyz")),
        m("an extra operation", "static", lambda s: s["paths"]["/model"].update(post=copy.deepcopy(s["paths"]["/model"]["get"]))),
        m("/metrics behind auth", "static", lambda s: s["paths"]["/metrics"]["get"].pop("security")),
        m("error code dropped from the enum", "static",
          lambda s: sch(s, "Error")["properties"]["error"]["properties"]["code"]["enum"].remove("event_conflict")),
        m("a documented code nothing answers", "static",
          lambda s: sch(s, "Error")["properties"]["error"]["properties"]["code"]["enum"].append("teapot")),
        m("an unimplemented schema keyword", "static", lambda s: sch(s, "Vector").update(uniqueItems=True)),
        m("a dangling $ref", "static", lambda s: sch(s, "ScoreBatchAnswer")["properties"]["results"]["items"].update(
            **{"$ref": "#/components/schemas/Nope"})),
    ]


def check_mutations(spec, exchanges):
    missed = []
    for name, broken, kind in mutations(spec):
        if kind == "static":
            try:
                caught = bool(static_errors(broken))
            except Failure:
                caught = True
        else:
            caught = False
            for ex in exchanges:
                try:
                    if check_exchange(broken, dict(ex)):
                        caught = True
                        break
                except Failure:
                    caught = True
                    break
        if not caught:
            missed.append(name)
    require(not missed, "broken specs the check did not catch: %s" % missed)
    return len(mutations(spec))


YAML_MUTATIONS = [
    ("a tab", "paths:\n\t/x: 1\n"),
    ("a block scalar", "a: |\n  text\n"),
    ("an anchor", "a: &x 1\n"),
    ("a plain scalar with ': '", "a: b: c\n"),
    ("a trailing comment", "a: b #c\n"),
    ("a YAML 1.1 boolean word", "a: yes\n"),
    ("a duplicate key", "a: 1\na: 2\n"),
    ("bad indentation", "a:\n    b: 1\n  c: 2\n"),
]


def main():
    binary = os.path.abspath(sys.argv[1])
    text = open(SPEC_PATH).read()
    spec = load_yaml(text)
    try:
        import yaml  # optional cross-check of the loader
    except ImportError:
        yaml = None
    if yaml is not None:
        require(yaml.safe_load(text) == spec, "the subset loader and PyYAML read api/openapi.yaml differently")
        print("ok  loader agrees with PyYAML")
    for name, bad in YAML_MUTATIONS:
        try:
            load_yaml(bad)
        except YamlError:
            continue
        raise Failure("the YAML loader accepted %s" % name)
    print("ok  loader refuses %d constructs outside the subset" % len(YAML_MUTATIONS))

    errs = static_errors(spec)
    require(not errs, "static checks:\n  " + "\n  ".join(errs))
    print("ok  spec shape, route table (%d routes), error codes (%d in the source)"
          % (len(parse_route_table()), len(source_error_codes())))

    drv = Driver(spec)
    tmp = tempfile.mkdtemp(prefix="microrm-openapi-")
    try:
        drive_main(drv, binary, tmp)
        drive_auth(drv, binary)
        drive_overload(drv, binary)
        drive_store_down(drv, binary)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("ok  %d live exchanges match the spec" % len(drv.exchanges))

    documented = documented_statuses(spec)
    covered = drv.covered()
    stale = set(NOT_DRIVEN) - documented
    require(not stale, "NOT_DRIVEN names undocumented statuses: %s" % sorted(stale))
    missing = documented - covered - set(NOT_DRIVEN)
    require(not missing, "documented but never provoked: %s" % sorted(missing))
    for key in sorted(set(NOT_DRIVEN) - covered):
        print("    not driven: %s %s %d (%s)" % (key + (NOT_DRIVEN[key],)))
    print("ok  %d of %d documented statuses provoked" % (len(documented & covered), len(documented)))

    n = check_mutations(spec, drv.exchanges)
    print("ok  all %d deliberately broken specs are caught" % n)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (Failure, YamlError) as e:
        print("FAIL: %s" % e, file=sys.stderr)
        sys.exit(1)
