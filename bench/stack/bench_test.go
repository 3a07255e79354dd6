package stackbench

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quai-dev/quai/internal/lint"
	"github.com/quai-dev/quai/internal/render"
	"github.com/quai-dev/quai/internal/stack"
)

const fixturesDir = "../../testdata/stacks"

// largest returns the load options of the biggest fixture instance: most
// services, then most files merged (overlays), then most stack bytes.
func largest(b *testing.B) stack.Options {
	b.Helper()
	entries, err := os.ReadDir(fixturesDir)
	if err != nil {
		b.Fatalf("read fixtures: %v", err)
	}
	var (
		best                         stack.Options
		bestSvc, bestFiles, bestSize = -1, -1, -1
	)
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(fixturesDir, e.Name())
		envs := []string{stack.DefaultEnv}
		if files, _ := filepath.Glob(filepath.Join(dir, "envs", "*.yaml")); len(files) > 0 {
			envs = envs[:0]
			for _, f := range files {
				envs = append(envs, strings.TrimSuffix(filepath.Base(f), ".yaml"))
			}
		}
		orgs := []string{""}
		if ds, _ := os.ReadDir(filepath.Join(dir, "orgs")); len(ds) > 0 {
			for _, d := range ds {
				if d.IsDir() {
					orgs = append(orgs, d.Name())
				}
			}
		}
		for _, org := range orgs {
			for _, env := range envs {
				opts := stack.Options{Dir: dir, Env: env, Org: org, Environ: map[string]string{}}
				m, err := stack.Load(context.Background(), opts)
				if err != nil {
					continue
				}
				size := 0
				for _, f := range m.Files {
					if fi, err := os.Stat(filepath.Join(m.Dir, f)); err == nil {
						size += int(fi.Size())
					}
				}
				svc, files := len(m.Services), len(m.Files)
				if svc > bestSvc || (svc == bestSvc && (files > bestFiles || (files == bestFiles && size > bestSize))) {
					best, bestSvc, bestFiles, bestSize = opts, svc, files, size
				}
			}
		}
	}
	if bestSvc < 0 {
		b.Fatal("no fixture loads")
	}
	b.Logf("largest fixture: %s env %s org %q (%d services, %d files, %d bytes)",
		filepath.Base(best.Dir), best.Env, best.Org, bestSvc, bestFiles, bestSize)
	return best
}

// BenchmarkLoadLintRender is the whole pipeline of `quai lint` plus
// `quai render` for both targets, on the largest fixture.
func BenchmarkLoadLintRender(b *testing.B) {
	opts := largest(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		m, err := stack.Load(ctx, opts)
		if err != nil {
			b.Fatal(err)
		}
		src, err := lint.ReadSources(m)
		if err != nil {
			b.Fatal(err)
		}
		_ = lint.Check(m, lint.Options{Sources: src})
		ms, err := render.Kubernetes(m, render.KubeOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := ms.YAML(); err != nil {
			b.Fatal(err)
		}
		if _, err := render.Compose(m); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStages times each step of the pipeline alone, to show where the
// time of BenchmarkLoadLintRender goes.
func BenchmarkStages(b *testing.B) {
	opts := largest(b)
	ctx := context.Background()
	m, err := stack.Load(ctx, opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("load", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := stack.Load(ctx, opts); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("lint", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			src, err := lint.ReadSources(m)
			if err != nil {
				b.Fatal(err)
			}
			_ = lint.Check(m, lint.Options{Sources: src})
		}
	})
	b.Run("kubernetes", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ms, err := render.Kubernetes(m, render.KubeOptions{})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := ms.YAML(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("compose", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := render.Compose(m); err != nil {
				b.Fatal(err)
			}
		}
	})
}
