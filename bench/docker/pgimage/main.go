// Command pgimage makes the PostgreSQL 15 image the Docker benchmark runs
// (from the host's Debian packages, as quai's tests do, since no registry
// can be reached) and tags it as the image the example's stack names,
// postgres:15. It prints the image's reference.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/moby/moby/client"

	"github.com/quai-dev/quai/internal/runtime/docker/dockertest"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "pgimage:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cli, err := client.New(client.FromEnv)
	if err != nil {
		return err
	}
	defer func() { _ = cli.Close() }()
	if _, err := cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		return fmt.Errorf("docker engine: %w", err)
	}
	work, err := os.MkdirTemp("", "pgimage-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(work) }()
	ref, err := dockertest.BuildPostgresImage(ctx, cli, work, log.Printf)
	if err != nil {
		return err
	}
	if _, err := cli.ImageTag(ctx, client.ImageTagOptions{Source: ref, Target: "postgres:15"}); err != nil {
		return fmt.Errorf("tag %s as postgres:15: %w", ref, err)
	}
	fmt.Println(ref)
	return nil
}
