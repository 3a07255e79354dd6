package api_test

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/quai-dev/quai/internal/engine"
	"github.com/quai-dev/quai/internal/secrets"
	"github.com/quai-dev/quai/internal/stack"
	"github.com/quai-dev/quai/internal/wire"
)

// TestWireTwins keeps the wire types that mirror engine types in step: a
// value of the engine type with every field set goes through JSON into its
// wire twin and back, and nothing may be lost or added. A field added to
// one side only fails here.
func TestWireTwins(t *testing.T) {
	tests := []struct {
		name   string
		engine any
		wire   any
	}{
		{"release", &engine.Release{}, &wire.Release{}},
		{"instance status", &engine.InstanceStatus{}, &wire.InstanceStatus{}},
		{"prune report", &engine.PruneReport{}, &wire.PruneReport{}},
		{"secret key", &secrets.KeyInfo{}, &wire.SecretKey{}},
		{"key import", &secrets.ImportResult{}, &wire.SecretsImport{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fill(reflect.ValueOf(tt.engine).Elem())
			sent, err := json.Marshal(tt.engine)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(sent, tt.wire); err != nil {
				t.Fatal(err)
			}
			back, err := json.Marshal(tt.wire)
			if err != nil {
				t.Fatal(err)
			}
			var a, b any
			if err := json.Unmarshal(sent, &a); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(back, &b); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(a, b) {
				t.Errorf("the wire twin does not carry the engine type:\nengine %s\nwire   %s", sent, back)
			}
		})
	}
}

// fill sets every field of v to a value that is not zero. The stack model
// travels as raw JSON, so a small one stands for any.
func fill(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if v.Type() == reflect.TypeFor[*stack.Model]() {
			v.Set(reflect.ValueOf(&stack.Model{Identity: stack.Identity{Org: "acme", Project: "shop", Env: "dev"}}))
			return
		}
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem())
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)))
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i))
			}
		}
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 1, 1)
		fill(s.Index(0))
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(k)
		fill(e)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.String:
		v.SetString("x")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(7)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(7)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(1.5)
	}
}
