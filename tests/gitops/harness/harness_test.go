package harness

import (
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"sigs.k8s.io/yaml"
)

// The chart's checks, in Argo CD's resource_customizations layout.
func customizations() string {
	if dir := os.Getenv("PERFRUN_ARGO_CUSTOMIZATIONS"); dir != "" {
		return dir
	}
	return filepath.Join("..", "..", "..", "charts", "perfrun-operator", "resource_customizations")
}

// health_test.yaml, as Argo CD's own resource_customizations tests read it.
type healthTests struct {
	Tests []struct {
		InputPath    string `json:"inputPath"`
		HealthStatus Health `json:"healthStatus"`
	} `json:"tests"`
}

// TestHealthLua runs every health.lua on every testdata object its health_test.yaml lists,
// exactly as Argo CD's TestLuaHealthScript does (status and message must both match), but
// with the libraries Argo CD opens for a check configured in argocd-cm.
func TestHealthLua(t *testing.T) {
	root := customizations()
	found := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "health.lua" {
			return err
		}
		found++
		dir := filepath.Dir(path)
		script, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		raw, err := os.ReadFile(filepath.Join(dir, "health_test.yaml"))
		if err != nil {
			return err
		}
		var cases healthTests
		if err := yaml.Unmarshal(raw, &cases); err != nil {
			return err
		}
		if len(cases.Tests) == 0 {
			t.Errorf("%s lists no tests", filepath.Join(dir, "health_test.yaml"))
		}
		for _, tc := range cases.Tests {
			rel, _ := filepath.Rel(root, filepath.Join(dir, tc.InputPath))
			t.Run(rel, func(t *testing.T) {
				obj, err := ReadObject(filepath.Join(dir, tc.InputPath))
				if err != nil {
					t.Fatal(err)
				}
				got, err := RunHealthLua(obj, string(script))
				if err != nil {
					t.Fatal(err)
				}
				if got != tc.HealthStatus {
					t.Errorf("health.lua on %s:\n got  %+v\n want %+v", tc.InputPath, got, tc.HealthStatus)
				}
			})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if found == 0 {
		t.Fatalf("no health.lua under %s", root)
	}
}

type kstatusCase struct {
	InputPath string `json:"inputPath"`
	Status    string `json:"status"`
}

// TestKstatus computes kstatus on the same captured objects: InProgress while running,
// Current when passed, Failed for every failed terminal state (testdata/kstatus.yaml).
func TestKstatus(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "kstatus.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cases struct {
		Tests []kstatusCase `json:"tests"`
	}
	if err := yaml.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases.Tests) == 0 {
		t.Fatal("testdata/kstatus.yaml lists no tests")
	}
	sort.Slice(cases.Tests, func(i, j int) bool { return cases.Tests[i].InputPath < cases.Tests[j].InputPath })
	for _, tc := range cases.Tests {
		t.Run(tc.InputPath, func(t *testing.T) {
			obj, err := ReadObject(filepath.Join(customizations(), tc.InputPath))
			if err != nil {
				t.Fatal(err)
			}
			got, err := ComputeKstatus(obj)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != tc.Status {
				t.Errorf("kstatus on %s: got %s (%s), want %s", tc.InputPath, got.Status, got.Message, tc.Status)
			}
		})
	}
}

// The harness must itself be able to fail: a script that returns garbage or a bad status.
func TestHarnessRefusesWhatArgoCDRefuses(t *testing.T) {
	obj := map[string]any{"kind": "PerfRun", "metadata": map[string]any{"name": "x"}}
	if _, err := RunHealthLua(obj, `return "Healthy"`); err == nil {
		t.Error("a non-table return was accepted")
	}
	got, err := RunHealthLua(obj, `return {status = "Fine"}`)
	if err != nil || got.Status != "Unknown" {
		t.Errorf("an invalid status: got %+v, %v; want Unknown", got, err)
	}
	// argocd-cm checks run without the string library unless useOpenLibs is set
	if _, err := RunHealthLua(obj, `return {status = string.upper("healthy")}`); err == nil {
		t.Error("the string library was open; Argo CD does not open it for argocd-cm checks")
	}
}
