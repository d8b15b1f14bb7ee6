// Package harness judges Kubernetes objects the way Argo CD and Flux do: an Argo CD
// health.lua run through gopher-lua exactly as Argo CD's util/lua runs a check configured in
// argocd-cm (the object as the global `obj`, only the base, table, package and a safe os
// library open, a one-second budget, the returned table read as {status, message}), and
// kstatus (sigs.k8s.io/cli-utils, what Flux's health checks use) by status.Compute.
package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	lua "github.com/yuin/gopher-lua"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	kjson "k8s.io/apimachinery/pkg/util/json"
	luajson "layeh.com/gopher-json"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/yaml"
)

// Health is what a health.lua returns (Argo CD's health.HealthStatus).
type Health struct {
	Status  string `json:"status"`
	Message string `json:"message,omitempty"`
}

// Argo CD's valid health status codes; anything else it shows as Unknown.
var validHealth = map[string]bool{
	"Unknown": true, "Progressing": true, "Suspended": true,
	"Healthy": true, "Degraded": true, "Missing": true,
}

// RunHealthLua runs script on obj as Argo CD does for a check from argocd-cm (openLibs
// false, the default there).
func RunHealthLua(obj map[string]any, script string) (Health, error) {
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer l.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.OsLibName, openSafeOs},
	} {
		if err := l.CallByParam(lua.P{Fn: l.NewFunction(lib.open), NRet: 0, Protect: true}, lua.LString(lib.name)); err != nil {
			return Health{}, err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.SetContext(ctx)
	l.SetGlobal("obj", decodeValue(l, obj))
	if err := l.DoString(script); err != nil {
		return Health{}, err
	}
	ret := l.Get(-1)
	if ret.Type() != lua.LTTable {
		return Health{}, fmt.Errorf("expect table output from Lua script, not %s", ret.Type())
	}
	raw, err := luajson.Encode(ret)
	if err != nil {
		return Health{}, err
	}
	var h Health
	if err := json.Unmarshal(raw, &h); err != nil {
		return Health{}, err
	}
	if !validHealth[h.Status] {
		return Health{Status: "Unknown", Message: "Lua returned an invalid health status"}, nil
	}
	return h, nil
}

// openSafeOs is the part of os Argo CD lets checks use: time and date only.
func openSafeOs(l *lua.LState) int {
	mod := l.RegisterModule(lua.OsLibName, map[string]lua.LGFunction{
		"time": func(l *lua.LState) int { l.Push(lua.LNumber(time.Now().Unix())); return 1 },
	})
	l.Push(mod)
	return 1
}

// decodeValue turns a decoded JSON/YAML value into Lua values, as Argo CD's decodeValue.
func decodeValue(l *lua.LState, value any) lua.LValue {
	switch v := value.(type) {
	case bool:
		return lua.LBool(v)
	case float64:
		return lua.LNumber(v)
	case int:
		return lua.LNumber(v)
	case int32:
		return lua.LNumber(v)
	case int64:
		return lua.LNumber(v)
	case string:
		return lua.LString(v)
	case json.Number:
		return lua.LString(v)
	case []any:
		arr := l.CreateTable(len(v), 0)
		for _, item := range v {
			arr.Append(decodeValue(l, item))
		}
		return arr
	case map[string]any:
		tbl := l.CreateTable(0, len(v))
		for key, item := range v {
			tbl.RawSetH(lua.LString(key), decodeValue(l, item))
		}
		return tbl
	}
	return lua.LNil
}

// Kstatus is kstatus' verdict on obj.
type Kstatus struct {
	Status  string `json:"status"`
	Message string `json:"message,omitempty"`
}

// ComputeKstatus runs sigs.k8s.io/cli-utils kstatus status.Compute on obj.
func ComputeKstatus(obj map[string]any) (Kstatus, error) {
	res, err := status.Compute(&unstructured.Unstructured{Object: obj})
	if err != nil {
		return Kstatus{}, err
	}
	return Kstatus{Status: res.Status.String(), Message: res.Message}, nil
}

// ReadObject reads one YAML or JSON object.
func ReadObject(path string) (map[string]any, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseObject(raw)
}

// ParseObject parses one YAML or JSON object with numbers as the Kubernetes decoder gives
// them (whole numbers int64, others float64), as Argo CD and Flux see objects from the API.
func ParseObject(raw []byte) (map[string]any, error) {
	asJSON, err := yaml.YAMLToJSON(raw)
	if err != nil {
		return nil, err
	}
	obj := map[string]any{}
	if err := kjson.Unmarshal(asJSON, &obj); err != nil {
		return nil, err
	}
	return obj, nil
}

// HealthScript finds the health.lua for obj's group and kind under root, in Argo CD's
// resource_customizations layout (<group>/<kind>/health.lua); "" when there is none.
func HealthScript(root string, obj map[string]any) (string, error) {
	u := unstructured.Unstructured{Object: obj}
	gvk := u.GroupVersionKind()
	raw, err := os.ReadFile(filepath.Join(root, gvk.Group, gvk.Kind, "health.lua"))
	if os.IsNotExist(err) {
		return "", nil
	}
	return string(raw), err
}
