// verdicts prints, for each object it reads, the Argo CD health (the health.lua found under
// -root for the object's group and kind, run as Argo CD runs it) and the kstatus status, one
// JSON line per object: {"name":..., "kind":..., "health":{...}, "kstatus":{...}}.
//
//	verdicts -root charts/perfrun-operator/resource_customizations FILE...
//	kubectl get perfruns -o json | verdicts -root ... -
//
// A file (or stdin, "-") holds one object, a kubectl List (items) or a YAML stream.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"perfrun.dev/tests/gitops/harness"
)

type line struct {
	Name    string           `json:"name"`
	Kind    string           `json:"kind"`
	Health  *harness.Health  `json:"health"`
	Kstatus *harness.Kstatus `json:"kstatus"`
}

func main() {
	root := flag.String("root", "", "resource_customizations directory (Argo CD layout)")
	flag.Parse()
	if *root == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: verdicts -root DIR FILE... (- for stdin)")
		os.Exit(64)
	}
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	for _, path := range flag.Args() {
		raw, err := read(path)
		if err != nil {
			fail(err)
		}
		objs, err := objects(raw)
		if err != nil {
			fail(fmt.Errorf("%s: %w", path, err))
		}
		for _, obj := range objs {
			l, err := judge(*root, obj)
			if err != nil {
				fail(fmt.Errorf("%s: %w", path, err))
			}
			b, _ := json.Marshal(l)
			fmt.Fprintln(out, string(b))
		}
	}
}

func judge(root string, obj map[string]any) (line, error) {
	meta, _ := obj["metadata"].(map[string]any)
	name, _ := meta["name"].(string)
	kind, _ := obj["kind"].(string)
	l := line{Name: name, Kind: kind}
	script, err := harness.HealthScript(root, obj)
	if err != nil {
		return l, err
	}
	if script != "" {
		h, err := harness.RunHealthLua(obj, script)
		if err != nil {
			return l, fmt.Errorf("health.lua on %s/%s: %w", kind, name, err)
		}
		l.Health = &h
	}
	k, err := harness.ComputeKstatus(obj)
	if err != nil {
		return l, fmt.Errorf("kstatus on %s/%s: %w", kind, name, err)
	}
	l.Kstatus = &k
	return l, nil
}

func read(path string) ([]byte, error) {
	if path == "-" {
		return io.ReadAll(os.Stdin)
	}
	return os.ReadFile(path)
}

// objects splits a YAML stream and unpacks Lists.
func objects(raw []byte) ([]map[string]any, error) {
	var out []map[string]any
	for _, doc := range bytes.Split(append([]byte("\n"), raw...), []byte("\n---")) {
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		obj, err := harness.ParseObject(doc)
		if err != nil {
			return nil, err
		}
		if len(obj) == 0 {
			continue
		}
		if items, ok := obj["items"].([]any); ok {
			for _, it := range items {
				if m, ok := it.(map[string]any); ok {
					out = append(out, m)
				}
			}
			continue
		}
		out = append(out, obj)
	}
	return out, nil
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "verdicts:", err)
	os.Exit(1)
}
