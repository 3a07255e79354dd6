package store

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkInstances reads 1,000 instances, each with three releases of
// which one is active: the store's part of `quai ls`.
func BenchmarkInstances(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "quai.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	ctx := context.Background()
	for i := range 1000 {
		name := fmt.Sprintf("org%02d/app%03d-dev", i%20, i)
		if err := s.PutInstance(ctx, Instance{Name: name, Identity: testID, Runtime: "process", Dir: "/src/shop"}); err != nil {
			b.Fatal(err)
		}
		for range 3 {
			r, err := s.CreateRelease(ctx, Release{Instance: name, Model: []byte(`{}`)})
			if err != nil {
				b.Fatal(err)
			}
			if err := s.SwitchRelease(ctx, Switch{Instance: name, Release: r.Number, At: time.Now()}); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ResetTimer()
	for b.Loop() {
		list, err := s.Instances(ctx)
		if err != nil || len(list) != 1000 || list[0].Active != 3 {
			b.Fatalf("instances: %d, %v", len(list), err)
		}
	}
}
