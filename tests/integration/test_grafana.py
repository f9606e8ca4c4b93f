"""conf/grafana/sluice.json, the Grafana dashboard: importable as-is (a
DS_PROMETHEUS datasource input, every panel on it, unique panel ids, the
templating variables), and every PromQL expression in it (panel targets and
variable queries) uses only metric names and labels that a real sluice
exports. The metric names are taken out of the expressions by a small PromQL
tokenizer, and compared with a scrape of a running sluice; the checker is run
on mutated copies of the dashboard too, to show that it catches a misspelt
metric, label, label value, function or datasource."""

import copy
import json
import os
import re
import subprocess
import tempfile

import pytest

from admin_helpers import admin_config, fetch_metrics, find_promtool, prom_parse

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DASHBOARD = os.path.join(ROOT, "conf", "grafana", "sluice.json")
DS_REF = "${DS_PROMETHEUS}"

# exported families the dashboard deliberately leaves out (none so far)
NOT_ON_DASHBOARD = set()

# labels Prometheus attaches to every series of a target when it scrapes it
TARGET_LABELS = {"job", "instance"}

AGGREGATIONS = {
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk",
    "quantile", "limitk", "limit_ratio",
}
FUNCTIONS = {
    "abs", "absent", "absent_over_time", "ceil", "changes", "clamp", "clamp_max", "clamp_min",
    "day_of_month", "day_of_week", "day_of_year", "days_in_month", "delta", "deriv", "exp", "floor",
    "histogram_avg", "histogram_count", "histogram_fraction", "histogram_quantile", "histogram_stddev",
    "histogram_stdvar", "histogram_sum", "holt_winters", "hour", "idelta", "increase", "irate", "label_join",
    "label_replace", "ln", "log2", "log10", "minute", "month", "predict_linear", "rate", "resets", "round",
    "scalar", "sgn", "sort", "sort_desc", "sort_by_label", "sort_by_label_desc", "sqrt", "time", "timestamp",
    "vector", "year", "avg_over_time", "min_over_time", "max_over_time", "sum_over_time", "count_over_time",
    "quantile_over_time", "stddev_over_time", "stdvar_over_time", "last_over_time", "present_over_time",
    "acos", "acosh", "asin", "asinh", "atan", "atanh", "cos", "cosh", "sin", "sinh", "tan", "tanh", "deg",
    "rad", "pi",
}
# followed by a parenthesised list of label names
GROUPING = {"by", "without", "on", "ignoring", "group_left", "group_right"}
# binary operators and modifiers spelt as words
KEYWORDS = {"and", "or", "unless", "bool", "offset", "atan2"}

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<var>\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*|\[\[[^\]]*\]\])
  | (?P<duration>(?:[0-9]+(?:ms|[smhdwy]))+)(?![A-Za-z0-9_])
  | (?P<number>(?:0x[0-9a-fA-F]+|[0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)(?![A-Za-z_:])|[+-]?Inf\b|NaN\b)
  | (?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
  | (?P<op>=~|!~|!=|==|<=|>=|[-+*/%^<>=(){}\[\],@:])
""", re.X)


def tokenize(expr):
    out = []
    pos = 0
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if not m:
            raise ValueError(f"cannot tokenize {expr[pos:pos + 20]!r} in {expr!r}")
        pos = m.end()
        if m.lastgroup != "ws":
            out.append((m.lastgroup, m.group()))
    return out


def _unquote(s):
    return s[1:-1].encode().decode("unicode_escape") if s[0] in "\"'" else s[1:-1]


def parse_promql(expr):
    """The names in a PromQL expression: {"metrics": [...], "selectors": [(metric or None,
    label, op, value)], "grouping": [labels in by/without/on/ignoring/group_x], "errors": [...]}.
    Ranges and subqueries ([5m], [$__rate_interval], [1h:5m]) are skipped."""
    toks = tokenize(expr)
    res = {"metrics": [], "selectors": [], "grouping": [], "errors": []}
    i = 0

    def nxt(k):
        return toks[k] if k < len(toks) else (None, None)

    def selector(k, metric):
        """toks[k] is '{'; read matchers up to '}' and return the index after it."""
        k += 1
        while nxt(k)[1] != "}":
            kind, name = nxt(k)
            if kind != "ident":
                res["errors"].append(f"{expr!r}: expected a label name in a selector, got {name!r}")
                return len(toks)
            op, (vkind, value) = nxt(k + 1)[1], nxt(k + 2)
            if op not in ("=", "!=", "=~", "!~") or vkind not in ("string", "var"):
                res["errors"].append(f"{expr!r}: bad matcher after label {name!r}")
                return len(toks)
            res["selectors"].append((metric, name, op, _unquote(value) if vkind == "string" else value))
            k += 3
            if nxt(k)[1] == ",":
                k += 1
        return k + 1

    while i < len(toks):
        kind, text = toks[i]
        if kind == "ident":
            if text in GROUPING:
                i += 1
                if nxt(i)[1] == "(":
                    i += 1
                    while nxt(i)[1] not in (")", None):
                        if nxt(i)[0] == "ident":
                            res["grouping"].append(nxt(i)[1])
                        elif nxt(i)[1] != ",":
                            res["errors"].append(f"{expr!r}: {nxt(i)[1]!r} in {text}(...)")
                        i += 1
                    i += 1
                continue
            if text in KEYWORDS:
                i += 1
                continue
            if nxt(i + 1)[1] == "(":
                if text not in AGGREGATIONS and text not in FUNCTIONS:
                    res["errors"].append(f"{expr!r}: unknown function {text!r}")
                i += 1
                continue
            if text in AGGREGATIONS and nxt(i + 1)[1] in ("by", "without"):
                i += 1  # sum by (...) (...)
                continue
            res["metrics"].append(text)
            i += 1
            if nxt(i)[1] == "{":
                i = selector(i, text)
            continue
        if text == "{":  # a selector without a name: {__name__="..."}
            before = len(res["selectors"])
            i = selector(i, None)
            for (_, name, op, value) in res["selectors"][before:]:
                if name == "__name__" and op == "=":
                    res["metrics"].append(value)
            continue
        if text == "[":
            while nxt(i)[1] not in ("]", None):
                i += 1
            i += 1
            continue
        i += 1
    return res


def parse_variable_query(query):
    """A Prometheus templating query -> (parse_promql result, label asked for or None)."""
    m = re.fullmatch(r"\s*label_values\((.*),\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*", query, re.S)
    if m:
        return parse_promql(m.group(1)), m.group(2)
    m = re.fullmatch(r"\s*query_result\((.*)\)\s*", query, re.S)
    if m:
        return parse_promql(m.group(1)), None
    return {"metrics": [], "selectors": [], "grouping": [],
            "errors": [f"unsupported variable query {query!r}"]}, None


# ------------------------------------------------------------ the dashboard


def walk_panels(panels):
    for p in panels:
        yield p
        yield from walk_panels(p.get("panels", []))


def expressions(dash):
    """(where, expr, is_variable) for every PromQL in the dashboard (panel targets, variable queries)."""
    for p in walk_panels(dash.get("panels", [])):
        for t in p.get("targets", []):
            yield f"panel {p.get('id')} {p.get('title')!r} target {t.get('refId')}", t.get("expr", ""), False
    for v in dash.get("templating", {}).get("list", []):
        if v.get("type") != "query":
            continue
        q = v.get("query")
        if isinstance(q, dict):
            q = q.get("query", "")
        yield f"variable {v.get('name')!r}", q, True


def scrape_catalogue(text):
    """/metrics text -> (family name -> type, sample name -> {label -> set of values})."""
    types = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind
    labels = {}
    for (name, lb), _ in prom_parse(text).items():
        d = labels.setdefault(name, {})
        for k, v in lb:
            d.setdefault(k, set()).add(v)
    return types, labels


def valid_series_names(types):
    names = set()
    for fam, kind in types.items():
        if kind == "histogram":
            names |= {fam + "_bucket", fam + "_sum", fam + "_count"}
        elif kind == "summary":
            names |= {fam, fam + "_sum", fam + "_count"}
        else:
            names.add(fam)
    return names


def check_dashboard(dash, types, labels):
    """Every problem found, as a list of strings (empty: the dashboard is fine)."""
    problems = []
    series = valid_series_names(types)
    for where, expr, is_var in expressions(dash):
        if not expr or not expr.strip():
            problems.append(f"{where}: empty expression")
            continue
        try:
            if is_var:
                res, asked = parse_variable_query(expr)
            else:
                res, asked = parse_promql(expr), None
        except ValueError as e:
            problems.append(f"{where}: {e}")
            continue
        problems += [f"{where}: {e}" for e in res["errors"]]
        if not res["metrics"]:
            problems.append(f"{where}: no metric in {expr!r}")
        carried = set(TARGET_LABELS)
        for m in res["metrics"]:
            if m not in series:
                problems.append(f"{where}: metric {m!r} is not exported by sluice")
                continue
            carried |= set(labels.get(m, {}))
        for metric, name, op, value in res["selectors"]:
            if metric is None or metric not in series or name == "__name__":
                continue
            have = labels.get(metric, {})
            if name not in have and name not in TARGET_LABELS:
                problems.append(f"{where}: {metric} has no label {name!r} (it has {sorted(have)})")
            elif name in have and not value.startswith("$"):
                seen = have[name]
                ok = value in seen if op == "=" else (
                    any(re.fullmatch(value, s) for s in seen) if op == "=~" else True)
                if not ok:
                    problems.append(f"{where}: {metric}{{{name}{op}{value!r}}} matches none of {sorted(seen)}")
        for name in res["grouping"] + ([asked] if asked else []):
            if name not in carried:
                problems.append(f"{where}: label {name!r} is carried by none of {sorted(set(res['metrics']))}")
    return problems


def check_structure(dash):
    problems = []
    inputs = dash.get("__inputs", [])
    if not any(i.get("name") == "DS_PROMETHEUS" and i.get("type") == "datasource"
               and i.get("pluginId") == "prometheus" for i in inputs):
        problems.append("no __inputs entry DS_PROMETHEUS (a prometheus datasource)")
    for key in ("uid", "title"):
        if not isinstance(dash.get(key), str) or not dash.get(key):
            problems.append(f"no {key}")
    if not isinstance(dash.get("schemaVersion"), int) or dash["schemaVersion"] < 36:
        problems.append(f"schemaVersion {dash.get('schemaVersion')!r}")
    seen_ids = {}
    for p in walk_panels(dash.get("panels", [])):
        where = f"panel {p.get('id')} {p.get('title')!r}"
        pid = p.get("id")
        if not isinstance(pid, int):
            problems.append(f"{where}: no integer id")
        elif pid in seen_ids:
            problems.append(f"{where}: id {pid} also used by {seen_ids[pid]!r}")
        else:
            seen_ids[pid] = p.get("title")
        if "gridPos" not in p:
            problems.append(f"{where}: no gridPos")
        if p.get("type") == "row":
            # a row only groups panels: no queries of its own, so no datasource
            if p.get("targets"):
                problems.append(f"{where}: a row with targets")
            continue
        if p.get("datasource", {}).get("uid") != DS_REF:
            problems.append(f"{where}: datasource {p.get('datasource')!r} is not {DS_REF}")
        if not p.get("targets"):
            problems.append(f"{where}: no targets")
        for t in p.get("targets", []):
            ds = t.get("datasource")
            if ds is not None and ds.get("uid") != DS_REF:
                problems.append(f"{where} target {t.get('refId')}: datasource {ds!r} is not {DS_REF}")
    variables = {v.get("name"): v for v in dash.get("templating", {}).get("list", [])}
    for name in ("job", "instance", "database", "user"):
        v = variables.get(name)
        if v is None:
            problems.append(f"no templating variable {name!r}")
        elif v.get("datasource", {}).get("uid") != DS_REF:
            problems.append(f"variable {name!r}: datasource {v.get('datasource')!r} is not {DS_REF}")
    for v in variables.values():
        q = v.get("query")
        if isinstance(q, dict) and v.get("definition") not in (None, q.get("query")):
            problems.append(f"variable {v.get('name')!r}: definition differs from the query")
    return problems


def load():
    with open(DASHBOARD) as f:
        return json.load(f)


# ------------------------------------------------------------ tests


def test_tokenizer_extracts_names():
    r = parse_promql('histogram_quantile(0.99, sum by (le, database) '
                     '(rate(x_bucket{a="b", c=~"$v"}[$__rate_interval] offset 5m)))')
    assert r["metrics"] == ["x_bucket"] and not r["errors"]
    assert r["selectors"] == [("x_bucket", "a", "=", "b"), ("x_bucket", "c", "=~", "$v")]
    assert r["grouping"] == ["le", "database"]
    r = parse_promql('sum(rate(a_total[5m])) without (side) / on (instance) group_left (job) max(b) > bool 1e3')
    assert r["metrics"] == ["a_total", "b"] and r["grouping"] == ["side", "instance", "job"]
    assert parse_promql('rat(a[1m])')["errors"]
    assert parse_promql('{__name__="a_total", x="1"}')["metrics"] == ["a_total"]
    assert parse_promql('max_over_time(a[1h:5m]) * -1')["metrics"] == ["a"]
    res, asked = parse_variable_query('label_values(sluice_pool_size{job=~"$job"}, database)')
    assert res["metrics"] == ["sluice_pool_size"] and asked == "database"


def test_dashboard_structure():
    dash = load()
    assert check_structure(dash) == []
    kinds = {p["type"] for p in walk_panels(dash["panels"])}
    assert {"row", "timeseries", "stat"} <= kinds
    # some rows are collapsed, with their panels nested: the walk must reach them
    assert any(p["type"] == "row" and p.get("panels") for p in dash["panels"])


def test_structure_checker_catches_mistakes():
    dash = load()
    bad = copy.deepcopy(dash)
    leaf = next(p for p in walk_panels(bad["panels"]) if p["type"] != "row")
    leaf["datasource"] = {"type": "prometheus", "uid": "prometheus"}
    nested = next(p for p in walk_panels(bad["panels"]) if p["type"] != "row" and p is not leaf
                  and any(p in r.get("panels", []) for r in bad["panels"]))
    nested["id"] = leaf["id"]
    bad["templating"]["list"] = [v for v in bad["templating"]["list"] if v["name"] != "user"]
    bad["__inputs"] = []
    problems = "\n".join(check_structure(bad))
    assert "is not ${DS_PROMETHEUS}" in problems
    assert f"id {leaf['id']} also used" in problems
    assert "no templating variable 'user'" in problems
    assert "no __inputs" in problems


def grafana_to_promql(expr):
    """Fill in Grafana's variables as Grafana would, so Prometheus' parser can read the expression."""
    expr = re.sub(r"\$__(rate_)?interval|\$\{__(rate_)?interval\}", "5m", expr)
    return re.sub(r"\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*|\[\[[^\]]*\]\]", ".*", expr)


def test_expressions_parse_in_promtool():
    """Prometheus' own parser reads every expression (variables filled in): the
    tokenizer above only takes names out, it does not check the syntax."""
    tool = find_promtool()
    if tool is None:
        pytest.skip("promtool not found (Debian package prometheus; scripts/test.sh installs it)")
    rules = []
    for n, (where, expr, is_var) in enumerate(expressions(load())):
        if is_var:
            m = re.fullmatch(r"\s*label_values\((.*),\s*[A-Za-z_][A-Za-z0-9_]*\s*\)\s*", expr, re.S)
            assert m, f"{where}: {expr!r}"
            expr = m.group(1)
        rules.append({"record": f"dashboard:expr_{n}", "expr": grafana_to_promql(expr)})
    assert len(rules) > 20
    with tempfile.NamedTemporaryFile("w", suffix=".yml") as f:
        json.dump({"groups": [{"name": "dashboard", "rules": rules}]}, f)  # JSON is YAML
        f.flush()
        p = subprocess.run([tool, "check", "rules", f.name], capture_output=True, timeout=60)
    out = (p.stdout + p.stderr).decode(errors="replace")
    assert p.returncode == 0, f"promtool check rules failed:\n{out}"
    assert f"SUCCESS: {len(rules)} rules found" in out, out


@pytest.mark.sluice_only
def test_dashboard_uses_only_exported_metrics_and_labels(sluice):
    s = sluice(config=admin_config(pool_mode="transaction", n_plus_one_threshold=3))
    with s.connect() as c:  # a pool, with its gauges, counters and histogram
        c.execute("SELECT 1")
        with c.transaction():  # a small N+1 loop, so that its family has a sample
            c.execute("SELECT 2")
            for i in range(3):
                c.execute("SELECT %s::int", (i,))
    types, labels = scrape_catalogue(fetch_metrics(s))
    assert "sluice_pool_size" in labels and "sluice_client_wait_seconds_bucket" in labels
    dash = load()
    assert check_dashboard(dash, types, labels) == []

    # every exported family is on the dashboard (a new metric: add a panel, or say why not here)
    shown = set()
    for _, expr, is_var in expressions(dash):
        for m in (parse_variable_query(expr)[0] if is_var else parse_promql(expr))["metrics"]:
            base = re.sub(r"_(bucket|sum|count)$", "", m)
            shown.add(base if types.get(base) == "histogram" else m)
    assert set(types) - shown - NOT_ON_DASHBOARD == set(), "exported families the dashboard does not show"

    # the checker must be able to fail: mutate copies and look for the report
    def mutated(old, new, count=1):
        text = json.dumps(dash)
        assert old in text, old
        return check_dashboard(json.loads(text.replace(old, new, count)), types, labels)

    def reported(problems, *needles):
        joined = "\n".join(problems)
        return all(n in joined for n in needles)

    assert reported(mutated("sluice_pool_saturation{", "sluice_pool_saturaton{"),
                    "metric 'sluice_pool_saturaton' is not exported")
    assert reported(mutated("sluice_client_wait_seconds_bucket{", "sluice_client_wait_seconds{"),
                    "metric 'sluice_client_wait_seconds' is not exported")
    assert reported(mutated("rate(sluice_bind_total{", "rate(sluice_bind_count{"), "sluice_bind_count")
    assert reported(mutated("sluice_up{job", "sluice_up{database=~\\\"$database\\\",job"),
                    "sluice_up has no label 'database'")
    assert reported(mutated("sum by (instance, side)", "sum by (instance, sid)"), "label 'sid' is carried by none")
    assert reported(mutated("rate(sluice_queries_total{", "rat(sluice_queries_total{"), "unknown function 'rat'")
    assert reported(mutated("label_values(sluice_pool_size", "label_values(sluice_pool_sizes", -1),
                    "variable", "sluice_pool_sizes")
    assert reported(mutated("}, user)", "}, usr)", -1), "variable 'user'", "label 'usr' is carried by none")
    assert reported(mutated("sluice_tls_connections{job", 'sluice_tls_connections{side=\\"clients\\",job'),
                    "side='clients'")
