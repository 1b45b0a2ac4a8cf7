// A minimal `helm template` for test/deploy/chart-render.test.ts: Go's own text/template (the engine Helm uses), the
// sprig/Helm functions this chart calls, Helm's missingkey=zero and "<no value>" removal, and a
// toYaml that writes what sigs.k8s.io/yaml would (sorted keys; quoting may differ, the YAML is the same).
// Input (stdin, JSON): {"chartDir", "values", "release": {"Name","Namespace"}, "isUpgrade"}.
// Output (stdout, JSON): {"files": {"templates/x.yaml": "..."}, "error": "..."}.
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/template"
)

type input struct {
	ChartDir string                 `json:"chartDir"`
	Values   map[string]interface{} `json:"values"`
	Release  map[string]interface{} `json:"release"`
	Chart    map[string]interface{} `json:"chart"`
}

func strval(v interface{}) string {
	switch s := v.(type) {
	case string:
		return s
	case []byte:
		return string(s)
	case error:
		return s.Error()
	case fmt.Stringer:
		return s.String()
	default:
		return fmt.Sprintf("%v", v)
	}
}

func empty(v interface{}) bool {
	if v == nil {
		return true
	}
	r := reflect.ValueOf(v)
	switch r.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return r.Len() == 0
	case reflect.Bool:
		return !r.Bool()
	case reflect.Int, reflect.Int64, reflect.Int32:
		return r.Int() == 0
	case reflect.Float64, reflect.Float32:
		return r.Float() == 0
	}
	return false
}

func toInt(v interface{}) int {
	switch x := v.(type) {
	case nil:
		return 0
	case int:
		return x
	case int64:
		return int(x)
	case float64:
		return int(x)
	case bool:
		if x {
			return 1
		}
		return 0
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(x), 0, 0)
		if err != nil {
			f, err2 := strconv.ParseFloat(x, 64)
			if err2 != nil {
				return 0
			}
			return int(f)
		}
		return int(n)
	}
	return 0
}

var plain = regexp.MustCompile(`^[A-Za-z_/][A-Za-z0-9_./-]*$`)
var reserved = regexp.MustCompile(`(?i)^(y|n|yes|no|on|off|true|false|null|~)$`)

func yamlScalarString(s string) string {
	if plain.MatchString(s) && !reserved.MatchString(s) {
		return s
	}
	b, _ := json.Marshal(s)
	return string(b)
}

func yamlScalar(v interface{}) (string, bool) {
	switch x := v.(type) {
	case nil:
		return "null", true
	case bool:
		return strconv.FormatBool(x), true
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1e21 {
			return strconv.FormatFloat(x, 'f', -1, 64), true
		}
		return strconv.FormatFloat(x, 'g', -1, 64), true
	case int:
		return strconv.Itoa(x), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case string:
		return yamlScalarString(x), true
	case map[string]interface{}:
		if len(x) == 0 {
			return "{}", true
		}
	case []interface{}:
		if len(x) == 0 {
			return "[]", true
		}
	}
	return "", false
}

func emit(b *strings.Builder, v interface{}, indent int) {
	pad := strings.Repeat(" ", indent)
	switch x := v.(type) {
	case map[string]interface{}:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			b.WriteString(pad + yamlScalarString(k) + ":")
			if s, ok := yamlScalar(x[k]); ok {
				b.WriteString(" " + s + "\n")
			} else if _, isList := x[k].([]interface{}); isList {
				b.WriteString("\n")
				emit(b, x[k], indent)
			} else {
				b.WriteString("\n")
				emit(b, x[k], indent+2)
			}
		}
	case []interface{}:
		for _, item := range x {
			if s, ok := yamlScalar(item); ok {
				b.WriteString(pad + "- " + s + "\n")
				continue
			}
			var inner strings.Builder
			emit(&inner, item, indent+2)
			text := inner.String()
			// "- " takes the place of the first line's indentation.
			b.WriteString(pad + "- " + strings.TrimPrefix(text, pad+"  "))
		}
	}
}

func toYaml(v interface{}) string {
	// Through JSON first, as sigs.k8s.io/yaml does.
	j, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	var norm interface{}
	if err := json.Unmarshal(j, &norm); err != nil {
		return ""
	}
	if s, ok := yamlScalar(norm); ok {
		return s
	}
	var b strings.Builder
	emit(&b, norm, 0)
	return strings.TrimSuffix(b.String(), "\n")
}

func indentStr(n int, s string) string {
	pad := strings.Repeat(" ", n)
	return pad + strings.ReplaceAll(s, "\n", "\n"+pad)
}

func main() {
	var in input
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		fail(err)
	}
	chartName := strval(in.Chart["Name"])
	basePath := chartName + "/templates"
	root := template.New("gotpl")
	root.Option("missingkey=zero")
	funcs := template.FuncMap{
		"include": func(string, interface{}) (string, error) { return "", nil },
		"required": func(msg string, v interface{}) (interface{}, error) {
			if v == nil {
				return nil, errors.New(msg)
			}
			if s, ok := v.(string); ok && s == "" {
				return nil, errors.New(msg)
			}
			return v, nil
		},
		"fail":     func(msg string) (string, error) { return "", errors.New(msg) },
		"toYaml":   toYaml,
		"toString": strval,
		"quote": func(args ...interface{}) string {
			out := []string{}
			for _, a := range args {
				if a != nil {
					out = append(out, fmt.Sprintf("%q", strval(a)))
				}
			}
			return strings.Join(out, " ")
		},
		"default": func(d interface{}, given ...interface{}) interface{} {
			if len(given) == 0 || empty(given[0]) {
				return d
			}
			return given[0]
		},
		"dig": func(ps ...interface{}) (interface{}, error) {
			if len(ps) < 3 {
				return nil, errors.New("dig needs at least three arguments")
			}
			dict, ok := ps[len(ps)-1].(map[string]interface{})
			if !ok {
				return nil, fmt.Errorf("dig: last argument is %T, not a dict", ps[len(ps)-1])
			}
			def := ps[len(ps)-2]
			keys := ps[:len(ps)-2]
			var cur interface{} = dict
			for _, k := range keys {
				m, ok := cur.(map[string]interface{})
				if !ok {
					return def, nil
				}
				v, ok := m[strval(k)]
				if !ok {
					return def, nil
				}
				cur = v
			}
			return cur, nil
		},
		"ternary": func(vt, vf interface{}, c bool) interface{} {
			if c {
				return vt
			}
			return vf
		},
		"kindIs": func(kind string, v interface{}) bool {
			if v == nil {
				return kind == "invalid"
			}
			return reflect.ValueOf(v).Kind().String() == kind
		},
		"int":      toInt,
		"add": func(xs ...interface{}) int {
			n := 0
			for _, x := range xs {
				n += toInt(x)
			}
			return n
		},
		"div": func(a, b interface{}) int { return toInt(a) / toInt(b) },
		"contains": func(sub, s string) bool { return strings.Contains(s, sub) },
		"trunc": func(c int, s string) string {
			if c >= 0 && len(s) > c {
				return s[:c]
			}
			return s
		},
		"trimSuffix": func(a, b string) string { return strings.TrimSuffix(b, a) },
		"replace":    func(o, n, s string) string { return strings.ReplaceAll(s, o, n) },
		"sha256sum": func(s string) string {
			h := sha256.Sum256([]byte(s))
			return hex.EncodeToString(h[:])
		},
		"splitList": func(sep, s string) []string { return strings.Split(s, sep) },
		"last": func(l interface{}) interface{} {
			r := reflect.ValueOf(l)
			if r.Kind() != reflect.Slice || r.Len() == 0 {
				return nil
			}
			return r.Index(r.Len() - 1).Interface()
		},
		"nindent": func(n int, s string) string { return "\n" + indentStr(n, s) },
		"indent":  indentStr,
	}
	root.Funcs(funcs)
	dir := filepath.Join(in.ChartDir, "templates")
	entries, err := os.ReadDir(dir)
	if err != nil {
		fail(err)
	}
	names := []string{}
	for _, e := range entries {
		src, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			fail(err)
		}
		name := basePath + "/" + e.Name()
		if _, err := root.New(name).Parse(string(src)); err != nil {
			fail(err)
		}
		names = append(names, name)
	}
	root.Funcs(template.FuncMap{
		"include": func(name string, data interface{}) (string, error) {
			var buf bytes.Buffer
			if err := root.ExecuteTemplate(&buf, name, data); err != nil {
				return "", err
			}
			return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
		},
	})
	out := map[string]string{}
	for _, name := range names {
		if strings.HasPrefix(filepath.Base(name), "_") {
			continue
		}
		data := map[string]interface{}{
			"Values":       in.Values,
			"Release":      in.Release,
			"Chart":        in.Chart,
			"Capabilities": map[string]interface{}{},
			"Template":     map[string]interface{}{"Name": name, "BasePath": basePath},
		}
		var buf bytes.Buffer
		if err := root.ExecuteTemplate(&buf, name, data); err != nil {
			fail(err)
		}
		out[strings.TrimPrefix(name, chartName+"/")] = strings.ReplaceAll(buf.String(), "<no value>", "")
	}
	json.NewEncoder(os.Stdout).Encode(map[string]interface{}{"files": out})
}

func fail(err error) {
	json.NewEncoder(os.Stdout).Encode(map[string]interface{}{"error": err.Error()})
	os.Exit(0)
}
