package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/quai-dev/quai/internal/fsutil"
	"github.com/quai-dev/quai/internal/render"
	"github.com/quai-dev/quai/internal/stack"
)

// chartMarker is what a Chart.yaml quai wrote carries: a directory whose
// Chart.yaml lacks it is someone else's chart, which render leaves alone.
const chartMarker = "quai.dev/instance:"

// buildChart renders m as a Helm chart with the command line's options.
func buildChart(m *stack.Model, chart render.HelmOptions, kube render.KubeOptions) (*render.Chart, error) {
	chart.Kube = kube
	c, err := render.Helm(m, chart)
	if errors.Is(err, render.ErrInvalidOption) {
		return nil, usageErrorf("%w", err)
	}
	if err != nil {
		return nil, fmt.Errorf("render %s as a Helm chart: %w", m.Identity, err)
	}
	return c, nil
}

// renderChart is `quai render --target helm -o DIR [--package]`.
func renderChart(stdout, stderr io.Writer, m *stack.Model, opts renderOptions) error {
	c, err := buildChart(m, opts.Chart, opts.Kube)
	if err != nil {
		return err
	}
	var wrote []string
	if opts.Package {
		pkg, err := c.Package()
		if err != nil {
			return err
		}
		if err := os.MkdirAll(opts.OutDir, 0o755); err != nil {
			return fmt.Errorf("create output directory: %w", err)
		}
		p := filepath.Join(opts.OutDir, c.PackageName())
		if err := fsutil.WriteFile(p, pkg, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
		wrote = []string{p}
	} else if wrote, err = writeChartDir(opts.OutDir, c); err != nil {
		return err
	}
	if opts.JSON {
		return writeJSON(stdout, map[string]any{
			"chart": c.Name, "version": c.Version, "app_version": c.AppVersion, "namespace": c.Manifests.Namespace,
			"wrote": wrote, "secrets": c.Manifests.Secrets, "warnings": c.Manifests.Warnings,
		})
	}
	printKubeNotes(stderr, c.Manifests, m.Dir)
	return printWrote(stdout, wrote)
}

// writeChartDir writes the chart's files into dir and removes the templates
// an earlier rendering wrote that this one no longer has (helm would
// install them). A directory holding a chart quai did not write is refused.
func writeChartDir(dir string, c *render.Chart) ([]string, error) {
	chartFile := filepath.Join(dir, "Chart.yaml")
	if old, err := os.ReadFile(chartFile); err == nil && !bytes.Contains(old, []byte(chartMarker)) {
		return nil, usageErrorf("%s holds a chart quai did not write (its Chart.yaml has no %s annotation): choose another -o directory", dir, strings.TrimSuffix(chartMarker, ":"))
	}
	if err := os.MkdirAll(filepath.Join(dir, "templates"), 0o755); err != nil {
		return nil, fmt.Errorf("create chart directory: %w", err)
	}
	keep := map[string]bool{}
	var wrote []string
	for _, f := range c.Files {
		p := filepath.Join(dir, filepath.FromSlash(f.Path))
		if err := fsutil.WriteFile(p, f.Data, 0o644); err != nil {
			return nil, fmt.Errorf("write %s: %w", p, err)
		}
		keep[p] = true
		wrote = append(wrote, p)
	}
	entries, err := os.ReadDir(filepath.Join(dir, "templates"))
	if err != nil {
		return nil, fmt.Errorf("read chart templates: %w", err)
	}
	for _, e := range entries {
		p := filepath.Join(dir, "templates", e.Name())
		if e.Type().IsRegular() && !keep[p] {
			if err := os.Remove(p); err != nil {
				return nil, fmt.Errorf("remove stale template %s: %w", p, err)
			}
		}
	}
	return wrote, nil
}
